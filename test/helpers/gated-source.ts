// A backup stream source that stops half-way until the test lets it go on: a long backup, without the wait.

import { createCipheriv, createHash } from 'node:crypto';
import type { StreamSource } from '../../src/backup/backup.js';
import { FrameFiller } from '../../src/backup/frame-filler.js';

export interface GatedSource {
  source: StreamSource;
  /** Resolves when the source has produced its first part and is waiting. */
  paused: Promise<void>;
  /** Let it produce the rest and end. */
  resume: () => void;
}

/**
 * An artifact `name` of `before` + `after` incompressible bytes (AES-CTR of zeros, so the archive
 * is as large as the content and its upload a real multipart upload) with one index entry holding
 * its SHA-256, as a database dump's: `verify --read-data` checks every byte. The source waits
 * after `before` bytes until `resume()`.
 */
export function gatedSource(name: string, before: number, after: number): GatedSource {
  let reached!: () => void;
  const paused = new Promise<void>((resolve) => {
    reached = resolve;
  });
  let go!: () => void;
  const gate = new Promise<void>((resolve) => {
    go = resolve;
  });
  const source: StreamSource = {
    kind: 'stream',
    name,
    artifactKind: 'database',
    source: `gated ${name}`,
    sizeHint: async () => before + after,
    async *produce(context) {
      const cipher = createCipheriv('aes-256-ctr', Buffer.alloc(32, 9), Buffer.alloc(16));
      const hash = createHash('sha256');
      const frames = new FrameFiller(context.frameSize, context.allocate);
      const chunk = 1024 * 1024;
      for (let done = 0; done < before + after;) {
        if (done === before) {
          reached();
          await gate;
        }
        const n = Math.min(chunk, (done < before ? before : before + after) - done);
        const piece = cipher.update(Buffer.alloc(n));
        hash.update(piece);
        context.onBytesRead(n);
        yield* frames.add(piece);
        done += n;
      }
      context.spool.add({ path: `${name}.bin`, type: 'file', size: before + after, mode: 0o600, uid: 0, gid: 0, mtime: '0', sha256: hash.digest('hex'), offset: 0, dataOffset: 0 });
      const last = frames.rest();
      if (last) yield last;
    },
  };
  return { source, paused, resume: () => go() };
}
