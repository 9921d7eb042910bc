import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ArchiveWriter } from '../../src/backup/archive-writer.js';
import { planPartSize } from '../../src/backup/part-size.js';
import { LocalStore } from '../../src/store/local-store.js';
import type { ObjectWriter, PutOptions } from '../../src/store/object-store.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

describe('ArchiveWriter part size from a size hint', () => {
  let dir: string;
  let store: LocalStore;
  let opened: Array<{ key: string; options: PutOptions | undefined }>;
  let recording: { openWriter: (key: string, options?: PutOptions) => ObjectWriter };

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-archive-writer-'));
    store = new LocalStore(dir);
    opened = [];
    recording = {
      openWriter: (key, options) => {
        opened.push({ key, options });
        return store.openWriter(key, options);
      },
    };
  });

  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  async function writeOneFrame(sizeHint: ConstructorParameters<typeof ArchiveWriter>[0]['sizeHint']): Promise<void> {
    const writer = new ArchiveWriter({ store: recording, keyFor: (n) => `vol-${n}`, sizeHint });
    await writer.writeFrame(Buffer.from('frame'), 5);
    const volumes = await writer.finish();
    expect(volumes).toHaveLength(1);
    expect(volumes[0]!.frames).toBe(1);
  }

  it('plans from a number given at once', async () => {
    await writeOneFrame(200 * GiB);
    expect(opened).toHaveLength(1);
    expect(opened[0]!.options?.partSize).toBe(planPartSize(200 * GiB));
    expect(opened[0]!.options?.partSize).toBeGreaterThan(8 * MiB);
  });

  it('waits for a pending hint before the first part is planned (the source is not held up by it)', async () => {
    let answer!: (size: number) => void;
    const hint = new Promise<number | undefined>((resolve) => {
      answer = resolve;
    });
    const writer = new ArchiveWriter({ store: recording, keyFor: (n) => `vol-${n}`, sizeHint: hint });
    const writing = writer.writeFrame(Buffer.from('frame'), 5);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(opened).toHaveLength(0);
    answer(200 * GiB);
    await writing;
    await writer.finish();
    expect(opened.map((o) => o.options?.partSize)).toEqual([planPartSize(200 * GiB)]);
  });

  it('takes the smallest part size when the hint fails, and still stores the volume', async () => {
    await writeOneFrame(Promise.reject(new Error('psql: connection refused')));
    expect(opened.map((o) => o.options?.partSize)).toEqual([planPartSize(undefined)]);
    const stored = await fs.readFile(path.join(dir, 'vol-0'));
    expect(stored.subarray(0, 5).toString()).toBe('frame');
  });
});
