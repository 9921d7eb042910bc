// Runs the built cassette CLI under a pseudo-terminal (Python's pty module), as a user at a terminal sees it: stdout and stderr are the terminal, and what it received is returned byte for byte.

import { execa } from 'execa';
import { CLI, PROJECT_ROOT } from './cli.js';

/**
 * The child gets a pty of `PTY_COLUMNS` columns (set before it starts, so it sees them at once);
 * everything it writes is copied to our stdout. With `PTY_INTERRUPT_ON`, the child gets one SIGINT
 * as soon as its output holds that text. Exits with the child's status (128 + n for signal n).
 */
const DRIVER = String.raw`
import fcntl, os, pty, signal, struct, sys, termios
columns = int(os.environ.get('PTY_COLUMNS', '160'))
trigger = os.environ.get('PTY_INTERRUPT_ON', '').encode()
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', 40, columns, 0, 0))
    os.execvp(sys.argv[1], sys.argv[1:])
seen = b''
sent = False
while True:
    try:
        data = os.read(fd, 65536)
    except OSError:
        break
    if not data:
        break
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    if trigger and not sent:
        seen = (seen + data)[-65536:]
        if trigger in seen:
            os.kill(pid, signal.SIGINT)
            sent = True
_, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
sys.exit(128 - code if code < 0 else code)
`;

export interface PtyOptions {
  env?: Record<string, string>;
  /** Terminal width (default 160). */
  columns?: number;
  /** Send SIGINT once the terminal shows this text. */
  interruptOn?: string;
  cwd?: string;
}

export interface PtyResult {
  exitCode: number;
  /** Everything the terminal received (stdout and stderr together, with the terminal's \r\n). */
  output: string;
}

export async function cassetteOnTerminal(args: string[], options: PtyOptions = {}): Promise<PtyResult> {
  const result = await execa('python3', ['-c', DRIVER, process.execPath, CLI, ...args], {
    env: {
      ...options.env,
      CASSETTE_REPO: options.env?.CASSETTE_REPO ?? '',
      PTY_COLUMNS: String(options.columns ?? 160),
      PTY_INTERRUPT_ON: options.interruptOn ?? '',
      TERM: 'xterm',
    },
    reject: false,
    cwd: options.cwd ?? PROJECT_ROOT,
    timeout: 110_000,
  });
  return { exitCode: result.exitCode ?? -1, output: result.stdout };
}

/**
 * The frames of the status line, in order: each `\r…\x1b[K` redraw, with its text. A clear
 * (`\r\x1b[K` with no text) ends a frame and is not one.
 */
export function statusFrames(output: string): string[] {
  const frames: string[] = [];
  for (const match of output.matchAll(/\r([^\r\n]*?)\x1b\[K/g)) {
    if (match[1] !== '') frames.push(match[1]!);
  }
  return frames;
}

/** The terminal's lines once every redraw and clear is applied (what stays on screen, roughly): text after the last \r of each line. */
export function screenLines(output: string): string[] {
  return output
    .split('\n')
    .map((line) => line.replace(/\r$/, ''))
    .map((line) => line.slice(line.lastIndexOf('\r') + 1).replace(/\x1b\[K/g, ''));
}
