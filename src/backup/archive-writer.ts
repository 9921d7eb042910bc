// Writes compressed frames into one or more volume objects, each ending with a zstd seek table, rolling over before 10,000 parts.

import { createHash, type Hash } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { CassetteError } from '../errors.js';
import { encodeSeekTable, type SeekEntry } from '../format/seek-table.js';
import type { FrameRecord, VolumeRecord } from '../format/types.js';
import type { ObjectStore } from '../store/object-store.js';
import { nextVolumePartSize, planPartSize, uploadQueueSize, volumeCapacity, type PartPlanOptions } from './part-size.js';

export interface ArchiveWriterOptions {
  store: Pick<ObjectStore, 'put'>;
  /** Object key of volume n (from 0). */
  keyFor: (volume: number) => string;
  /** Estimated uncompressed size of the artifact, for the part size (compressed data is smaller, so this errs on the safe side). */
  sizeHint?: number;
  partPlan?: PartPlanOptions;
  /** Parts in flight per upload; default from the memory budget (part-size.ts). Memory ≈ (queueSize + 1) × partSize. */
  queueSize?: number;
  signal?: AbortSignal;
  /** Called with the number of compressed bytes just handed to the store. */
  onStored?: (bytes: number) => void;
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
  body: PassThrough;
  put: Promise<{ size: number }>;
  failed: Promise<never>;
  error?: unknown;
  hash: Hash;
  bytes: number;
  seek: SeekEntry[];
}

export class ArchiveWriter {
  private readonly options: ArchiveWriterOptions;
  private volume: OpenVolume | undefined;
  private nextPartSize: number;
  readonly frames: FrameRecord[] = [];
  readonly volumes: VolumeRecord[] = [];
  private tarOffset = 0;

  constructor(options: ArchiveWriterOptions) {
    this.options = options;
    this.nextPartSize = planPartSize(options.sizeHint, options.partPlan);
  }

  /** Total uncompressed bytes written so far. */
  get tarBytes(): number {
    return this.tarOffset;
  }

  private open(): OpenVolume {
    const number = this.volumes.length;
    const key = this.options.keyFor(number);
    const partSize = this.nextPartSize;
    const body = new PassThrough({ highWaterMark: 1 << 20 });
    // abort() destroys the body with the failure; the store may not be listening yet.
    body.on('error', () => undefined);
    const put = this.options.store.put(key, body, {
      partSize,
      queueSize: this.options.queueSize ?? uploadQueueSize(partSize),
      signal: this.options.signal,
    });
    const volume: OpenVolume = {
      number, key, partSize, capacity: volumeCapacity(partSize, this.options.partPlan),
      body, put, failed: undefined as unknown as Promise<never>, hash: createHash('sha256'), bytes: 0, seek: [],
    };
    volume.failed = put.then(
      () => new Promise<never>(() => undefined),
      (error: unknown) => {
        volume.error = error;
        throw error;
      },
    );
    volume.failed.catch(() => undefined);
    return volume;
  }

  private async write(volume: OpenVolume, bytes: Buffer): Promise<void> {
    if (volume.error) throw volume.error;
    volume.hash.update(bytes);
    volume.bytes += bytes.length;
    if (!volume.body.write(bytes)) {
      await Promise.race([once(volume.body, 'drain'), volume.failed]);
    }
    this.options.onStored?.(bytes.length);
  }

  /** Append one compressed frame holding `tarSize` uncompressed bytes. */
  async writeFrame(compressed: Buffer, tarSize: number): Promise<void> {
    if (tarSize > 0xffffffff || compressed.length > 0xffffffff) {
      throw new CassetteError('E_FORMAT', `frame of ${tarSize} bytes exceeds the seek table's 4 GiB limit`);
    }
    let volume = this.volume ??= this.open();
    if (volume.seek.length > 0 && volume.bytes + compressed.length + seekTableSize(volume.seek.length + 1) > volume.capacity) {
      await this.close(volume);
      this.nextPartSize = nextVolumePartSize(volume.partSize, this.options.partPlan);
      volume = this.volume = this.open();
    }
    this.frames.push({
      frame: this.frames.length,
      volume: volume.number,
      offset: volume.bytes,
      size: compressed.length,
      tarOffset: this.tarOffset,
      tarSize,
    });
    volume.seek.push({ compressedSize: compressed.length, decompressedSize: tarSize });
    this.tarOffset += tarSize;
    await this.write(volume, compressed);
  }

  private async close(volume: OpenVolume): Promise<void> {
    await this.write(volume, encodeSeekTable(volume.seek));
    volume.body.end();
    await Promise.race([volume.put, volume.failed]);
    this.volumes.push({ key: volume.key, size: volume.bytes, sha256: volume.hash.digest('hex'), frames: volume.seek.length });
    this.volume = undefined;
  }

  /** Finish the last volume (seek table, complete the upload). */
  async finish(): Promise<VolumeRecord[]> {
    if (this.volume) await this.close(this.volume);
    return this.volumes;
  }

  /** Fail the open upload: its store aborts the multipart upload and no object appears. */
  async abort(reason: unknown): Promise<void> {
    const volume = this.volume;
    this.volume = undefined;
    if (!volume) return;
    volume.body.destroy(reason instanceof Error ? reason : new Error(String(reason)));
    await volume.put.catch(() => undefined);
  }
}
