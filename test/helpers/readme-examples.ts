// The README's examples as scripts a test can run: code blocks parsed, and each command line moved into a sandbox by stated rules (pure; test/e2e/readme-examples.test.ts runs them).

/** A fenced code block of the README. */
export interface CodeBlock {
  /** 1-based line of the opening fence. */
  line: number;
  /** The fence's info string: '' for the shell examples, 'yaml', 'ini'… */
  lang: string;
  lines: string[];
}

export function codeBlocks(markdown: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  let current: CodeBlock | undefined;
  for (const [i, text] of markdown.split('\n').entries()) {
    const fence = /^```(\S*)\s*$/.exec(text);
    if (fence && !current) current = { line: i + 1, lang: fence[1]!, lines: [] };
    else if (fence && current) {
      blocks.push(current);
      current = undefined;
    } else current?.lines.push(text);
  }
  return blocks;
}

/** A crontab: variable assignments and lines of five time fields, a user and a command. */
const CRON_LINE = /^([\d*/,-]+\s+){5}\S+\s+(.*)$/;
const ASSIGNMENT = /^[A-Z_][A-Z0-9_]*=\S*$/;

export function isCrontab(block: CodeBlock): boolean {
  const lines = block.lines.filter((l) => l.trim() !== '');
  return lines.some((l) => CRON_LINE.test(l)) && lines.every((l) => CRON_LINE.test(l) || ASSIGNMENT.test(l));
}

/** A crontab's lines as the shell script cron would run: its variables exported, then each command. */
export function crontabScript(block: CodeBlock): string[] {
  return block.lines.filter((l) => l.trim() !== '').map((l) => (ASSIGNMENT.test(l) ? `export ${l}` : CRON_LINE.exec(l)![2]!));
}

/** Shell lines with `\`-continued lines joined, comments and blank lines kept out. */
export function shellLines(lines: readonly string[]): string[] {
  const out: string[] = [];
  let pending = '';
  for (const line of lines) {
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1);
      continue;
    }
    const joined = (pending + line).trim();
    pending = '';
    if (joined !== '' && !joined.startsWith('#')) out.push(joined);
  }
  return out;
}

/** Where the examples run instead of the places they name. */
export interface Sandbox {
  /** Absolute paths of the examples are taken under this directory. */
  root: string;
  /** Every S3 endpoint an example names (MinIO's, RGW's…) is this test server. */
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The test server's KMS key, for `--sse-kms-key-id`. */
  kmsKeyId: string;
  /** A README bucket name → the test bucket that stands for it. */
  bucket: (name: string) => string;
  /** A README database name (collage, appdb…) → the test database that stands for it. */
  database: (name: string) => string;
}

/** Options whose value is a file the example names (re-rooted also on backup lines, whose source paths --root re-roots). */
const FILE_OPTIONS = new Set([
  '--plan',
  '--target',
  '--dump-to',
  '--identity',
  '--passphrase-file',
  '--encrypt-to-file',
  '--sse-c-key-file',
  '--exclude-file',
  '--files-from',
  '-o',
  '--path',
]);

/** The cassette subcommand a line runs (after `npx cassette` or a path ending in /cassette), if any. */
export function subcommandOf(line: string): string | undefined {
  return SUBCOMMAND.exec(line)?.[1];
}

const SUBCOMMAND = /(?:npx\s+cassette|\S*\/cassette)\s+([a-z]+)/;

/**
 * One example line moved into the sandbox. The rules, and only these:
 * - absolute paths are taken under the sandbox root; on `backup` lines the source paths stay as
 *   written and `--root SANDBOX` is added (so artifacts keep the names the README shows), except
 *   when the paths come from a pipe, which names the sandbox's own; a `--runbook` restore gets
 *   `--root` too;
 * - endpoints, credentials, buckets, the KMS key, databases and `postgres://` servers are the test ones;
 * - placeholders are filled: `<id>` and snapshot ids → `latest`, `age1…` → the public key in the
 *   key file generated earlier in the block;
 * - a `--runbook` backup backs up a stand-in database for `collage` (`--pg-name`), and `bench`
 *   measures 4 MiB transfers instead of 64 MiB.
 */
export function sandboxLine(line: string, sandbox: Sandbox, state: { keyFile?: string } = {}): string {
  const sub = subcommandOf(line);
  const runbook = /\s--runbook\s/.test(line);
  // A backup whose paths come from a pipe (`find /srv … | cassette backup --files-from-raw -`) gets them as the sandbox names them: no --root then.
  const piped = /--files-from(?:-raw|-verbatim)?\s+-(?:\s|$)/.test(line);
  const rootsSources = sub === 'backup' && !piped;
  // Where the backup's own arguments start: source paths (and --exclude patterns) after it are --root's to re-root.
  const argumentsAt = rootsSources ? SUBCOMMAND.exec(line)!.index + SUBCOMMAND.exec(line)![0].length : Infinity;
  let out = line.replace(/(^|[\s=>])(\/[^\s'"]*)/g, (match, before: string, file: string, offset: number) => {
    const previous =
      line
        .slice(0, offset + before.length)
        .trimEnd()
        .split(/\s+/)
        .at(-1) ?? '';
    if (offset >= argumentsAt && !FILE_OPTIONS.has(previous) && !/^\d?>>?$|^<$/.test(previous) && before !== '>') return match;
    return `${before}${sandbox.root}${file}`;
  });
  out = out
    .replace(/file:\/\/(\/[^\s'"]*)/g, (_m, file: string) => `file://${sandbox.root}${file}`)
    .replace(/(--(?:to-)?endpoint\s+|AWS_ENDPOINT_URL(?:_S3)?=)https?:\/\/[^\s'"]+/g, (_m, before: string) => `${before}${sandbox.endpoint}`)
    .replace(/AWS_ACCESS_KEY_ID=\S+/g, `AWS_ACCESS_KEY_ID=${sandbox.accessKeyId}`)
    .replace(/AWS_SECRET_ACCESS_KEY=\S+/g, `AWS_SECRET_ACCESS_KEY=${sandbox.secretAccessKey}`)
    .replace(/s3:\/\/([^/\s'"]+)/g, (_m, name: string) => `s3://${sandbox.bucket(name)}`)
    .replace(/(--sse-kms-key-id\s+)\S+/g, (_m, before: string) => `${before}${sandbox.kmsKeyId}`)
    .replace(/postgres:\/\/[^\s'"]*\/(\w+)/g, (_m, name: string) => `postgres://postgres@127.0.0.1:5432/${sandbox.database(name)}`)
    .replace(/(--pg(?:-target)?\s+)(\w+)(?=\s|$)/g, (_m, before: string, name: string) => `${before}${sandbox.database(name)}`)
    .replace(/(--pg-name\s+\w+=)(\w+)/g, (_m, before: string, name: string) => `${before}${sandbox.database(name)}`)
    .replace(/<(?:[a-z]+-)?id>|\b\d{8}T\d{4,6}Z?(?:-[0-9a-f]{1,6})?\b/g, 'latest');
  const keyFile = /\skey\s+generate\s+-o\s+(\S+)/.exec(line)?.[1];
  if (keyFile) state.keyFile = keyFile;
  if (out.includes('age1…')) {
    if (!state.keyFile) throw new Error(`"${line}" uses age1… but no key was generated before it in its block`);
    out = out.replace(/age1…/g, `"$(sed -n 's/^# public key: //p' ${state.keyFile})"`);
  }
  const extra: string[] = [];
  if (((sub === 'backup' && !piped) || (sub === 'restore' && runbook)) && !/\s--root\s/.test(line)) extra.push('--root', sandbox.root);
  if (sub === 'backup' && runbook && !/\s--pg-name\s/.test(line)) extra.push('--pg-name', `collage=${sandbox.database('collage')}`);
  if (sub === 'bench') extra.push('--transfer', '4MiB', '--read-limit', '8MiB');
  // `plan show|check` looks at the plan's paths on this machine: the sandbox's.
  if (sub === 'plan' && !/\s--root\s/.test(line)) extra.push('--root', sandbox.root);
  // Right after the subcommand (and plan's own subcommand), so they stay with it whatever follows (redirections, pipes).
  if (extra.length) out = out.replace(new RegExp(`((?:npx\\s+cassette|\\S*/cassette)\\s+${sub!}(?:\\s+(?:show|check))?)`), `$1 ${extra.join(' ')}`);
  return out;
}

/** A plan file of the README (a YAML block) moved into the sandbox: its buckets and databases are the test ones; its paths stay (`backup --root` re-roots them). */
export function sandboxPlan(yaml: string, sandbox: Sandbox): string {
  return yaml
    .replace(/s3:\/\/([^/\s'"]+)/g, (_m, name: string) => `s3://${sandbox.bucket(name)}`)
    .replace(
      /^(databases:\s*\[)([^\]]*)\]/m,
      (_m, before: string, list: string) =>
        `${before}${list
          .split(',')
          .map((d) => sandbox.database(d.trim()))
          .join(', ')}]`,
    );
}
