// The restore writer thread: writes slices of decoded frames into open files with positional writes and hashes each file.
// slice-writer.ts starts it (through worker-thread.ts); the messages are in slice-writer-protocol.ts. It
// imports nothing of ours at runtime, only types (worker-thread.ts relies on that).

import { createHash, type Hash } from 'node:crypto';
import { writeSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import type { WriteMessage, WriteReply } from './slice-writer-protocol.js';

if (!parentPort) throw new Error('slice-writer-worker runs only as the worker thread of a SliceWriter');
const port = parentPort;

/** The SHA-256 of each file written so far, until its last slice. */
const hashes = new Map<number, Hash>();
/** Files whose write failed: nothing more is written to them. */
const failed = new Set<number>();

function send(reply: WriteReply): void {
  port.postMessage(reply);
}

port.on('message', ({ seq, memory, slices }: WriteMessage) => {
  const digests: Array<[number, string]> = [];
  for (const s of slices) {
    if (failed.has(s.file)) continue;
    const data = Buffer.from(memory, s.start, s.length);
    try {
      let done = 0;
      while (done < data.length) done += writeSync(s.fd, data, done, data.length - done, s.position + done);
    } catch (error) {
      const { message, code } = error as NodeJS.ErrnoException;
      failed.add(s.file);
      hashes.delete(s.file);
      send({ seq, error: { file: s.file, message, code } });
      return;
    }
    let hash = hashes.get(s.file);
    if (!hash) hashes.set(s.file, (hash = createHash('sha256')));
    hash.update(data);
    if (s.last) {
      digests.push([s.file, hash.digest('hex')]);
      hashes.delete(s.file);
    }
  }
  send({ seq, digests });
});
