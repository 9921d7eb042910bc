// Writes an artifact's frames: new ones into volume objects (each ending with a zstd seek table, rolling over before 10,000 parts), reused ones as references to earlier snapshots' objects; and its recipe.

import { createHash, type Hash } from 'node:crypto';
import { CassetteError } from '../errors.js';
import { encodeSeekTable, type SeekEntry } from '../format/seek-table.js';
import type { FrameRecord, ReferenceRecord, VolumeRecord } from '../format/types.js';
import type { ObjectStore, ObjectWriter } from '../store/object-store.js';
import { nextVolumePartSize, planPartSize, uploadQueueSize, volumeCapacity, type PartPlanOptions } from './part-size.js';

export interface ArchiveWriterOptions {
  store: Pick<ObjectStore, 'openWriter'>;
  /** Object key of volume n (from 0). */
  keyFor: (volume: number) => string;
  /**
   * Estimated uncompressed size of the artifact, for the part size (compressed data is smaller, so
   * this errs on the safe side). May be a promise: it is awaited when the first frame arrives, so
   * that asking (a psql query for a database) does not hold up the start of the source.
   */
  sizeHint?: number | Promise<number | undefined>;
  partPlan?: PartPlanOptions;
  /** Parts in flight per upload; default from the memory budget (part-size.ts). Memory ≈ (queueSize + 1) × partSize. */
  queueSize?: number;
  /** Uploads running at once in this backup (they share the memory budget); default 1. */
  concurrentUploads?: number;
  signal?: AbortSignal;
  /** Called with the number of compressed bytes just handed to the store. */
  onStored?: (bytes: number) => void;
  /** Called with the number of bytes the store just acknowledged (a part uploaded, or the object's single PUT). */
  onUploaded?: (bytes: number) => void;
}

/** Size of a seek table for n frames without checksums. */
function seekTableSize(frames: number): number {
  return 8 + 8 * frames + 9;
}

interface OpenVolume {
  number: number;
  key: string;
  partSize: number;
  capacity: number;
  writer: ObjectWriter;
  hash: Hash;
  bytes: number;
  seek: SeekEntry[];
}

/** A frame an earlier snapshot stored, and the object it lies in. */
export interface StoredFrameRef {
  record: Pick<FrameRecord, 'offset' | 'size' | 'tarSize' | 'sha256'>;
  object: { key: string; size: number; sha256: string };
}

export class ArchiveWriter {
  private readonly options: ArchiveWriterOptions;
  private volume: OpenVolume | undefined;
  private nextPartSize: number | undefined;
  private readonly sizeHint: Promise<number | undefined> | undefined;
  /** The frame table; a reused frame's `volume` is −1 − its reference's number until finish() numbers it after the volumes. */
  readonly frames: FrameRecord[] = [];
  readonly volumes: VolumeRecord[] = [];
  readonly references: ReferenceRecord[] = [];
  private readonly referenceOf = new Map<string, number>();
  private tarOffset = 0;
  private finished = false;

  constructor(options: ArchiveWriterOptions) {
    this.options = options;
    if (options.sizeHint instanceof Promise) {
      // A failed estimate only means the smallest part size (the planner rolls over when needed).
      this.sizeHint = options.sizeHint.catch(() => undefined);
    } else {
      this.nextPartSize = planPartSize(options.sizeHint, options.partPlan);
    }
  }

  /** Total uncompressed bytes written so far. */
  get tarBytes(): number {
    return this.tarOffset;
  }

  private async open(): Promise<OpenVolume> {
    const number = this.volumes.length;
    const key = this.options.keyFor(number);
    const partSize = (this.nextPartSize ??= planPartSize(await this.sizeHint, this.options.partPlan));
    // The store reports a running count per object; the callback takes what each report adds.
    let uploaded = 0;
    const onUploaded = this.options.onUploaded;
    const writer = this.options.store.openWriter(key, {
      partSize,
      queueSize: this.options.queueSize ?? uploadQueueSize(partSize, this.options.concurrentUploads),
      signal: this.options.signal,
      onProgress: onUploaded
        ? (total) => {
            if (total > uploaded) onUploaded(total - uploaded);
            uploaded = Math.max(uploaded, total);
          }
        : undefined,
    });
    return { number, key, partSize, capacity: volumeCapacity(partSize, this.options.partPlan), writer, hash: createHash('sha256'), bytes: 0, seek: [] };
  }

  /** The store copies `bytes` before this resolves: the caller may reuse the buffer afterwards. */
  private async write(volume: OpenVolume, bytes: Buffer): Promise<void> {
    volume.hash.update(bytes);
    volume.bytes += bytes.length;
    await volume.writer.write(bytes);
    this.options.onStored?.(bytes.length);
  }

  /** Compressed bytes of the reused frames. */
  get reusedBytes(): number {
    return this.references.reduce((sum, r) => sum + r.bytes, 0);
  }

  /** Append a frame that an earlier snapshot stored: nothing is uploaded, the frame table names its object. */
  reuseFrame(frame: StoredFrameRef): void {
    let number = this.referenceOf.get(frame.object.key);
    if (number === undefined) {
      number = this.references.length;
      this.referenceOf.set(frame.object.key, number);
      this.references.push({ key: frame.object.key, size: frame.object.size, sha256: frame.object.sha256, frames: 0, bytes: 0 });
    }
    const reference = this.references[number]!;
    reference.frames++;
    reference.bytes += frame.record.size;
    const record: FrameRecord = {
      frame: this.frames.length,
      volume: -1 - number,
      offset: frame.record.offset,
      size: frame.record.size,
      tarOffset: this.tarOffset,
      tarSize: frame.record.tarSize,
    };
    if (frame.record.sha256) record.sha256 = frame.record.sha256;
    this.frames.push(record);
    this.tarOffset += frame.record.tarSize;
  }

  /** Append one compressed frame holding `tarSize` uncompressed bytes whose SHA-256 is `sha256`; `compressed` is copied before this resolves. */
  async writeFrame(compressed: Buffer, tarSize: number, sha256?: string): Promise<void> {
    if (tarSize > 0xffffffff || compressed.length > 0xffffffff) {
      throw new CassetteError('E_FORMAT', `frame of ${tarSize} bytes exceeds the seek table's 4 GiB limit`);
    }
    let volume = (this.volume ??= await this.open());
    if (volume.seek.length > 0 && volume.bytes + compressed.length + seekTableSize(volume.seek.length + 1) > volume.capacity) {
      await this.close(volume);
      this.nextPartSize = nextVolumePartSize(volume.partSize, this.options.partPlan);
      volume = this.volume = await this.open();
    }
    const record: FrameRecord = { frame: this.frames.length, volume: volume.number, offset: volume.bytes, size: compressed.length, tarOffset: this.tarOffset, tarSize };
    if (sha256) record.sha256 = sha256;
    this.frames.push(record);
    volume.seek.push({ compressedSize: compressed.length, decompressedSize: tarSize });
    this.tarOffset += tarSize;
    await this.write(volume, compressed);
  }

  private async close(volume: OpenVolume): Promise<void> {
    await this.write(volume, encodeSeekTable(volume.seek));
    // The stored size: an encrypted store stores more than the archive's bytes (its sha256 is of the archive's bytes).
    const { size } = await volume.writer.finish();
    this.volumes.push({ key: volume.key, size, sha256: volume.hash.digest('hex'), frames: volume.seek.length });
    this.volume = undefined;
  }

  /** Finish the last volume (seek table, complete the upload), and number the reused frames' objects after the volumes. */
  async finish(): Promise<VolumeRecord[]> {
    if (this.volume) await this.close(this.volume);
    if (!this.finished) {
      this.finished = true;
      for (const frame of this.frames) if (frame.volume < 0) frame.volume = this.volumes.length - 1 - frame.volume;
    }
    return this.volumes;
  }

  /**
   * The recipe (docs/FORMAT.md §7): one `<key> <first byte> <last byte>` line per run of frames
   * that lie back to back in one object, in frame order. Call after finish().
   */
  recipe(): string {
    const keys = [...this.volumes.map((v) => v.key), ...this.references.map((r) => r.key)];
    let text = '';
    let run: { key: string; start: number; end: number } | undefined;
    for (const frame of this.frames) {
      if (frame.size === 0) continue;
      const key = keys[frame.volume]!;
      if (run && run.key === key && run.end + 1 === frame.offset) {
        run.end = frame.offset + frame.size - 1;
        continue;
      }
      if (run) text += `${run.key} ${run.start} ${run.end}\n`;
      run = { key, start: frame.offset, end: frame.offset + frame.size - 1 };
    }
    if (run) text += `${run.key} ${run.start} ${run.end}\n`;
    return text;
  }

  /** Fail the open upload: its store aborts the multipart upload and no object appears. */
  async abort(reason: unknown): Promise<void> {
    const volume = this.volume;
    this.volume = undefined;
    if (!volume) return;
    await volume.writer.abort(reason);
  }
}
