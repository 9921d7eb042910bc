// Verifies a snapshot: its objects and the objects of earlier snapshots it references are present with the recorded sizes, seek tables and the recipe match the index; with readData, every object's SHA-256 (each once), every frame the snapshot uses and every file hash.

import { createHash, type Hash } from 'node:crypto';
import { isCassetteError, messageOf } from './errors.js';
import { parseSeekTable, parseSeekTableFooter, SEEK_TABLE_FOOTER_SIZE } from './format/seek-table.js';
import { objectsOf, type ArtifactRecord, type CommitRecord, type FrameRecord, type IndexEntry } from './format/types.js';
import { openIndex } from './repository.js';
import { contentSizeOf, type ObjectStore } from './store/object-store.js';
import { FramePool } from './zstd/pool.js';

export interface VerifyProblem {
  artifact: string;
  /** Object key, when the problem is about one object. */
  object?: string;
  /** Entry path, when the problem is about one file. */
  path?: string;
  problem: string;
}

export interface VerifyOptions {
  store: ObjectStore;
  record: CommitRecord;
  /**
   * Download everything: the SHA-256 of every index, volume, referenced object and recipe, every
   * frame the snapshot uses decompressed (and, version 2, its content SHA-256 checked), every file
   * hash.
   */
  readData?: boolean;
  pool?: FramePool;
  signal?: AbortSignal;
  onProblem?: (problem: VerifyProblem) => void;
}

export interface VerifyReport {
  snapshot: string;
  problems: VerifyProblem[];
  /** Objects checked, per artifact: its index, volumes, referenced objects and recipe. */
  objects: number;
  frames: number;
  files: number;
  bytesRead: number;
}

/** What every artifact's check shares. */
interface Run {
  options: VerifyOptions;
  report: VerifyReport;
  problem: (p: VerifyProblem) => void;
  pool: FramePool | undefined;
  /** Objects whose SHA-256 this run has checked: each is read whole once, however many artifacts and frames use it. */
  hashed: Set<string>;
}

export async function verifySnapshot(options: VerifyOptions): Promise<VerifyReport> {
  const report: VerifyReport = { snapshot: options.record.id, problems: [], objects: 0, frames: 0, files: 0, bytesRead: 0 };
  const problem = (p: VerifyProblem): void => {
    report.problems.push(p);
    options.onProblem?.(p);
  };
  const pool = options.pool ?? (options.readData ? new FramePool() : undefined);
  const run: Run = { options, report, problem, pool, hashed: new Set() };
  try {
    for (const artifact of options.record.artifacts) {
      await verifyArtifact(artifact, run);
    }
  } finally {
    if (!options.pool) await pool?.close();
  }
  return report;
}

/** A stored object an artifact's frames are read from: one of its volumes, or (version 2) an object of an earlier snapshot. */
interface FrameObject {
  key: string;
  size: number;
  sha256: string;
}

async function verifyArtifact(artifact: ArtifactRecord, run: Run): Promise<void> {
  const { options, report, problem } = run;
  const { store } = options;
  const name = artifact.name;
  const indexInfo = await store.head(artifact.index.key);
  report.objects++;
  if (!indexInfo) return problem({ artifact: name, object: artifact.index.key, problem: 'index object is missing' });
  if (indexInfo.size !== artifact.index.size)
    problem({ artifact: name, object: artifact.index.key, problem: `index size is ${indexInfo.size}, commit record says ${artifact.index.size}` });
  else if (options.readData && artifact.index.sha256) await checkIndexObject(artifact, run);
  let index;
  try {
    index = await openIndex(store, artifact);
  } catch (error) {
    return problem({ artifact: name, object: artifact.index.key, problem: `index cannot be read: ${messageOf(error)}` });
  }
  if (index.frames.length !== artifact.frameCount)
    problem({ artifact: name, object: artifact.index.key, problem: `index has ${index.frames.length} frames, commit record says ${artifact.frameCount}` });

  // Version 2: frame `volume` v is objectsOf(artifact)[v], the volumes followed by the references; version 1 has volumes only.
  const objects: FrameObject[] = objectsOf(artifact);
  let objectsOk = true;
  const astray = index.frames.find((f) => !Number.isInteger(f.volume) || f.volume < 0 || f.volume >= objects.length);
  if (astray) {
    problem({
      artifact: name,
      object: artifact.index.key,
      problem: `frame ${astray.frame} is in object ${astray.volume}, but the commit record names ${objects.length} object(s) for this artifact`,
    });
    objectsOk = false;
  }

  // This snapshot's own volumes: each ends with the seek table of its frames (FORMAT.md §2).
  for (const [v, volume] of artifact.volumes.entries()) {
    report.objects++;
    const info = await store.head(volume.key);
    if (!info) {
      problem({ artifact: name, object: volume.key, problem: 'archive object is missing' });
      objectsOk = false;
      continue;
    }
    if (info.size !== volume.size) {
      problem({ artifact: name, object: volume.key, problem: `archive size is ${info.size}, commit record says ${volume.size} (truncated or replaced)` });
      objectsOk = false;
      continue;
    }
    const frames = index.frames.filter((f) => f.volume === v);
    try {
      // Offsets are of the archive's bytes, which an encrypted object stores in more (docs/FORMAT.md §8).
      const end = await contentSizeOf(store, volume.key, volume.size);
      const footer = parseSeekTableFooter(await store.getBuffer(volume.key, { range: { start: end - SEEK_TABLE_FOOTER_SIZE, end: end - 1 } }));
      const table = parseSeekTable(await store.getBuffer(volume.key, { range: { start: end - footer.tableSize, end: end - 1 } }));
      const mismatch = table.length !== frames.length || table.some((t, i) => t.compressedSize !== frames[i]!.size || t.decompressedSize !== frames[i]!.tarSize);
      if (mismatch) problem({ artifact: name, object: volume.key, problem: `seek table (${table.length} frames) does not match the index (${frames.length} frames)` });
      const last = frames.at(-1);
      if (last && last.offset + last.size + footer.tableSize !== end)
        problem({ artifact: name, object: volume.key, problem: 'frames and seek table do not add up to the object size' });
    } catch (error) {
      problem({ artifact: name, object: volume.key, problem: `seek table unreadable: ${messageOf(error)}` });
      objectsOk = false;
    }
  }

  // Version 2: objects of earlier snapshots. Their seek tables cover their own snapshot's frames, not this one's: only the size and the frames' byte ranges are checked here.
  for (const [r, reference] of (artifact.references ?? []).entries()) {
    report.objects++;
    const info = await store.head(reference.key);
    if (!info) {
      problem({ artifact: name, object: reference.key, problem: 'referenced object is missing' });
      objectsOk = false;
      continue;
    }
    if (info.size !== reference.size) {
      problem({ artifact: name, object: reference.key, problem: `referenced object size is ${info.size}, commit record says ${reference.size} (truncated or replaced)` });
      objectsOk = false;
      continue;
    }
    const frames = index.frames.filter((f) => f.volume === artifact.volumes.length + r);
    const end = frames.length > 0 ? await contentSizeOf(store, reference.key, reference.size) : reference.size;
    const beyond = frames.find((f) => f.offset < 0 || f.offset + f.size > end);
    if (beyond) {
      problem({
        artifact: name,
        object: reference.key,
        problem: `frame ${beyond.frame} (bytes ${beyond.offset}-${beyond.offset + beyond.size - 1}) lies beyond the end of the object (${end} bytes)`,
      });
      objectsOk = false;
    }
    const bytes = frames.reduce((sum, f) => sum + f.size, 0);
    if (frames.length !== reference.frames || bytes !== reference.bytes) {
      problem({
        artifact: name,
        object: reference.key,
        problem: `the index reads ${frames.length} frames (${bytes} bytes) from it, commit record says ${reference.frames} (${reference.bytes} bytes)`,
      });
    }
  }
  checkFrameCounts(artifact, index.frames, run);
  await checkRecipe(artifact, index.frames, objects, run);

  if (!options.readData || !objectsOk) {
    index.close();
    if (options.readData && !objectsOk) problem({ artifact: name, problem: 'data not read: an archive object is missing or damaged' });
    return;
  }
  await readAllData(artifact, index.frames, index.entries, objects, run);
}

/** Version 2: newFrames, reusedFrames and reusedBytes of the commit record agree with the index (each only when recorded). */
function checkFrameCounts(artifact: ArtifactRecord, frames: readonly FrameRecord[], run: Run): void {
  const own = artifact.volumes.length;
  const reused = frames.filter((f) => f.volume >= own);
  const counts: Array<[string, number | undefined, number]> = [
    ['new frames', artifact.newFrames, frames.length - reused.length],
    ['reused frames', artifact.reusedFrames, reused.length],
    ['reused bytes', artifact.reusedBytes, reused.reduce((sum, f) => sum + f.size, 0)],
  ];
  for (const [what, recorded, actual] of counts) {
    if (recorded !== undefined && recorded !== actual)
      run.problem({ artifact: artifact.name, object: artifact.index.key, problem: `commit record says ${recorded} ${what}, the index has ${actual}` });
  }
}

/**
 * Downloads the whole index object and compares its size and SHA-256 with the commit record: a
 * replaced index of the same size passes every other check. Records written before 2026-11-30
 * have no index SHA-256; for them the size check (head) is all there is.
 */
async function checkIndexObject(artifact: ArtifactRecord, run: Run): Promise<void> {
  const { options, report, problem } = run;
  const { key, size, sha256 } = artifact.index;
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    for await (const chunk of await options.store.get(key, { signal: options.signal })) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
  } catch (error) {
    if (isCassetteError(error, 'E_ABORTED')) throw error;
    return problem({ artifact: artifact.name, object: key, problem: `index cannot be read: ${messageOf(error)}` });
  }
  report.bytesRead += bytes;
  const digest = hash.digest('hex');
  const plain = await contentSizeOf(options.store, key, size);
  if (bytes !== plain) problem({ artifact: artifact.name, object: key, problem: `index object has ${bytes} bytes, commit record says ${plain}` });
  else if (digest !== sha256) problem({ artifact: artifact.name, object: key, problem: `index SHA-256 is ${digest}, commit record says ${String(sha256)}` });
}

/** One line of a recipe: an inclusive byte range of an object (FORMAT.md §7). */
export interface RecipeSegment {
  key: string;
  first: number;
  last: number;
}

/** A run of frames that lie back to back in one object, in tar order. */
export interface FrameRun extends RecipeSegment {
  /** Index of the object in objectsOf(artifact). */
  object: number;
  frames: FrameRecord[];
}

/**
 * The artifact's frames as runs: in frame order, each frame's compressed bytes in its object,
 * consecutive frames merged when they lie back to back in the same object. This is the recipe the
 * frame table implies (FORMAT.md §7), and the order a reader fetches frames in. Pure.
 */
export function frameRuns(frames: readonly FrameRecord[], objects: ReadonlyArray<{ key: string }>): FrameRun[] {
  const runs: FrameRun[] = [];
  for (const frame of frames) {
    const previous = runs.at(-1);
    if (previous && previous.object === frame.volume && previous.last + 1 === frame.offset) {
      previous.last = frame.offset + frame.size - 1;
      previous.frames.push(frame);
    } else {
      runs.push({ key: objects[frame.volume]!.key, object: frame.volume, first: frame.offset, last: frame.offset + frame.size - 1, frames: [frame] });
    }
  }
  return runs;
}

/** A recipe's segments; throws with the line at fault when one is not `<key> <first> <last>` (decimal, first ≤ last) ended by `\n`. Pure. */
export function parseRecipe(text: string): RecipeSegment[] {
  if (text !== '' && !text.endsWith('\n')) throw new Error('its last line has no newline');
  const lines = text === '' ? [] : text.slice(0, -1).split('\n');
  return lines.map((line, i) => {
    const match = /^([\x21-\x7e]+) (0|[1-9][0-9]*) (0|[1-9][0-9]*)$/.exec(line);
    const first = Number(match?.[2]);
    const last = Number(match?.[3]);
    if (!match || !Number.isSafeInteger(first) || !Number.isSafeInteger(last) || first > last) {
      throw new Error(`line ${i + 1} is not "<key> <first byte> <last byte>": ${JSON.stringify(line.slice(0, 200))}`);
    }
    return { key: match[1]!, first, last };
  });
}

const segmentText = (s: RecipeSegment): string => `${s.key} ${s.first}-${s.last}`;

/**
 * Why a stored recipe does not give the bytes the frame table does, or undefined when it does.
 * Segments of one object that continue each other are merged first (a writer may end a segment
 * anywhere between two frames); then both must list the same objects and byte ranges in the same
 * order. Pure.
 */
export function recipeDifference(text: string, expected: readonly RecipeSegment[]): string | undefined {
  let segments: RecipeSegment[];
  try {
    segments = parseRecipe(text);
  } catch (error) {
    return (error as Error).message;
  }
  const merged: RecipeSegment[] = [];
  for (const segment of segments) {
    const previous = merged.at(-1);
    if (previous && previous.key === segment.key && previous.last + 1 === segment.first) previous.last = segment.last;
    else merged.push({ ...segment });
  }
  for (let i = 0; i < Math.min(merged.length, expected.length); i++) {
    const [got, want] = [merged[i]!, expected[i]!];
    if (got.key !== want.key || got.first !== want.first || got.last !== want.last) return `run ${i + 1} is ${segmentText(got)}, the frame table gives ${segmentText(want)}`;
  }
  if (merged.length !== expected.length) return `it has ${merged.length} runs of bytes, the frame table gives ${expected.length}`;
  return undefined;
}

/**
 * Version 2: the recipe object is present with the recorded size and SHA-256, and gives the
 * artifact's frames in frame order (frameRuns). It is small (a line per run of frames), so it is
 * read whole even without readData. An artifact that reads frames of other snapshots must name
 * one: without it, stock tools cannot put its tar stream together (FORMAT.md §7). One whose frames
 * are all in its own volumes reads like version 1, volumes in order, and needs none.
 */
async function checkRecipe(artifact: ArtifactRecord, frames: readonly FrameRecord[], objects: readonly FrameObject[], run: Run): Promise<void> {
  const { options, report, problem } = run;
  const recipe = artifact.recipe;
  if (!recipe) {
    if ((artifact.references ?? []).length > 0)
      problem({ artifact: artifact.name, problem: 'the commit record names no recipe, and the artifact reads frames of other snapshots' });
    return;
  }
  report.objects++;
  let bytes: Buffer;
  try {
    bytes = await options.store.getBuffer(recipe.key, { signal: options.signal });
  } catch (error) {
    if (isCassetteError(error, 'E_ABORTED')) throw error;
    if (isCassetteError(error, 'E_NOT_FOUND')) return problem({ artifact: artifact.name, object: recipe.key, problem: 'recipe object is missing' });
    return problem({ artifact: artifact.name, object: recipe.key, problem: `recipe cannot be read: ${messageOf(error)}` });
  }
  report.bytesRead += bytes.length;
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (bytes.length !== (await contentSizeOf(options.store, recipe.key, recipe.size)))
    return problem({ artifact: artifact.name, object: recipe.key, problem: `recipe size is ${bytes.length}, commit record says ${recipe.size}` });
  if (digest !== recipe.sha256) return problem({ artifact: artifact.name, object: recipe.key, problem: `recipe SHA-256 is ${digest}, commit record says ${recipe.sha256}` });
  // Frames that name no object were reported already; without them there is no run to compare.
  if (frames.some((f) => f.volume < 0 || f.volume >= objects.length)) return;
  const difference = recipeDifference(bytes.toString('latin1'), frameRuns(frames, objects));
  if (difference) problem({ artifact: artifact.name, object: recipe.key, problem: `recipe does not match the frame table: ${difference}` });
}

/** Streams an object whole and compares its SHA-256 with the record's. */
async function hashObject(artifact: ArtifactRecord, object: FrameObject, run: Run): Promise<void> {
  const { options, report, problem } = run;
  run.hashed.add(object.key);
  const hash = createHash('sha256');
  try {
    for await (const chunk of await options.store.get(object.key, { signal: options.signal })) {
      hash.update(chunk as Buffer);
      report.bytesRead += (chunk as Buffer).length;
    }
  } catch (error) {
    if (isCassetteError(error, 'E_ABORTED')) throw error;
    return problem({ artifact: artifact.name, object: object.key, problem: `cannot be read: ${messageOf(error)}` });
  }
  const digest = hash.digest('hex');
  if (digest !== object.sha256) problem({ artifact: artifact.name, object: object.key, problem: `object SHA-256 is ${digest}, commit record says ${object.sha256}` });
}

/**
 * Checks every object's SHA-256 once per run, decompresses every frame in frame order (checking its
 * content SHA-256 when the index has one), and every file's hash in tar order.
 *
 * Frames are read run by run (frameRuns) in tar order. An object whose frames form one run from
 * its first byte (every version-1 volume; the volumes of a version-2 snapshot that reuses nothing)
 * is read whole once, for its hash and its frames at the same time. Any other object (one an
 * incremental snapshot reads parts of, in several runs or not from byte 0) is read whole for its
 * hash, unless this run has already, and its runs are then fetched with ranged reads: such bytes
 * are read twice.
 */
async function readAllData(artifact: ArtifactRecord, frames: FrameRecord[], entries: AsyncIterable<IndexEntry>, objects: readonly FrameObject[], run: Run): Promise<void> {
  const { options, report, problem } = run;
  const pool = run.pool!;
  const name = artifact.name;
  const runs = frameRuns(frames, objects);
  const runsOf = new Map<number, FrameRun[]>();
  for (const r of runs) runsOf.set(r.object, [...(runsOf.get(r.object) ?? []), r]);
  const readWhole = new Set([...runsOf].filter(([o, list]) => list.length === 1 && list[0]!.first === 0 && !run.hashed.has(objects[o]!.key)).map(([o]) => o));
  for (const [o, object] of objects.entries()) {
    if (!readWhole.has(o) && !run.hashed.has(object.key)) await hashObject(artifact, object, run);
  }

  const entryIterator = entries[Symbol.asyncIterator]();
  let current: { entry: IndexEntry; hash: Hash; done: number; objects: Set<string> } | undefined;
  let pendingEntry: IndexEntry | undefined;
  let entriesDone = false;
  const nextEntry = async (): Promise<IndexEntry | undefined> => {
    for (;;) {
      const step = await entryIterator.next();
      if (step.done) {
        entriesDone = true;
        return undefined;
      }
      if (step.value.type === 'file' && step.value.size > 0) return step.value;
      if (step.value.type === 'file') report.files++;
    }
  };
  const consume = async (frame: FrameRecord, data: Buffer, key: string): Promise<void> => {
    const frameEnd = frame.tarOffset + frame.tarSize;
    for (;;) {
      if (!current) {
        if (!pendingEntry && !entriesDone) pendingEntry = await nextEntry();
        if (!pendingEntry || pendingEntry.dataOffset >= frameEnd) return;
        current = { entry: pendingEntry, hash: createHash('sha256'), done: 0, objects: new Set() };
        pendingEntry = undefined;
      }
      const { entry } = current;
      const from = Math.max(entry.dataOffset + current.done, frame.tarOffset);
      const to = Math.min(entry.dataOffset + entry.size, frameEnd);
      if (to > from) {
        current.hash.update(data.subarray(from - frame.tarOffset, to - frame.tarOffset));
        current.done += to - from;
        current.objects.add(key);
      }
      if (current.done < entry.size) return;
      report.files++;
      const digest = current.hash.digest('hex');
      if (entry.sha256 && digest !== entry.sha256)
        problem({ artifact: name, path: entry.path, object: [...current.objects].join(', '), problem: `file hash mismatch (expected ${entry.sha256}, got ${digest})` });
      current = undefined;
    }
  };

  for (const frameRun of runs) {
    const object = objects[frameRun.object]!;
    const whole = readWhole.has(frameRun.object);
    const runFrames = frameRun.frames;
    const hash = whole ? createHash('sha256') : undefined;
    let chunks: Buffer[] = [];
    let buffered = 0;
    /** Offset in the object of the first buffered byte. */
    let position = whole ? 0 : frameRun.first;
    let next = 0;
    const decoded: Array<Promise<{ frame: FrameRecord; data?: Buffer; error?: string }>> = [];
    const drain = async (limit: number): Promise<void> => {
      while (decoded.length > limit) {
        const result = await decoded.shift()!;
        report.frames++;
        const { frame } = result;
        const where = `frame ${frame.frame} (bytes ${frame.offset}-${frame.offset + frame.size - 1})`;
        if (result.error) {
          problem({ artifact: name, object: object.key, problem: `${where} is corrupt: ${result.error}` });
          continue;
        }
        if (frame.sha256 !== undefined) {
          const digest = createHash('sha256').update(result.data!).digest('hex');
          if (digest !== frame.sha256)
            problem({ artifact: name, object: object.key, problem: `${where} holds content whose SHA-256 is ${digest}, the index says ${frame.sha256}` });
        }
        await consume(frame, result.data!, object.key);
      }
    };
    try {
      const body = await options.store.get(object.key, { signal: options.signal, ...(whole ? {} : { range: { start: frameRun.first, end: frameRun.last } }) });
      for await (const chunk of body) {
        const bytes = chunk as Buffer;
        hash?.update(bytes);
        report.bytesRead += bytes.length;
        chunks.push(bytes);
        buffered += bytes.length;
        while (next < runFrames.length && position + buffered >= runFrames[next]!.offset + runFrames[next]!.size) {
          const frame = runFrames[next++]!;
          const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
          const start = frame.offset - position;
          const slice = Buffer.from(all.subarray(start, start + frame.size));
          decoded.push(
            pool.decompress(slice, frame.tarSize).then(
              (data) => ({ frame, data }),
              (error: unknown) => ({ frame, error: messageOf(error) }),
            ),
          );
          const rest = all.subarray(start + frame.size);
          chunks = rest.length > 0 ? [rest] : [];
          buffered = rest.length;
          position = frame.offset + frame.size;
          await drain(4);
        }
      }
      await drain(0);
    } catch (error) {
      if (isCassetteError(error, 'E_ABORTED')) throw error;
      problem({ artifact: name, object: object.key, problem: `cannot be read: ${messageOf(error)}` });
      return;
    }
    if (next < runFrames.length) {
      const frame = runFrames[next]!;
      problem({
        artifact: name,
        object: object.key,
        problem: `ends at byte ${position + buffered}, before the end of frame ${frame.frame} (bytes ${frame.offset}-${frame.offset + frame.size - 1})`,
      });
      return;
    }
    if (hash) {
      run.hashed.add(object.key);
      const digest = hash.digest('hex');
      if (digest !== object.sha256) problem({ artifact: name, object: object.key, problem: `object SHA-256 is ${digest}, commit record says ${object.sha256}` });
    }
  }
  if (current) problem({ artifact: name, path: current.entry.path, problem: 'the archive ended inside this file' });
  if (!entriesDone) {
    try {
      while (await nextEntry()) report.files++;
    } catch (error) {
      problem({ artifact: name, object: artifact.index.key, problem: messageOf(error) });
    }
  }
}
