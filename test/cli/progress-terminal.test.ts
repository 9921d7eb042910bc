// What a terminal shows: the real CLI under a pseudo-terminal, against S3 behind a proxy that limits the bandwidth, so the status line has time to move.
// Assertions are on the frames' content and order, never on how long anything took.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { cassetteOnTerminal, screenLines, statusFrames } from '../helpers/pty.js';
import { createBucket, s3Env, s3Servers } from '../helpers/s3.js';

const MiB = 1024 * 1024;
/** Random (incompressible) bytes backed up: at the limits below, several seconds of transfer. */
const DATA_BYTES = 24 * MiB;
const LIMIT = 3 * MiB;

const server = s3Servers()[0]!;
let work: string;
let tree: string;
let proxy: FaultProxy;
let bucket: string;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-terminal-'));
  tree = path.join(work, 'tree');
  await fs.mkdir(path.join(tree, 'docs'), { recursive: true });
  for (let i = 0; i < 3; i++) await fs.writeFile(path.join(tree, `blob-${i}.bin`), randomBytes(DATA_BYTES / 3));
  for (let i = 0; i < 20; i++) await fs.writeFile(path.join(tree, 'docs', `note-${i}.txt`), `note ${i}\n`);
  bucket = await createBucket(server.endpoint, 'terminal');
  proxy = await startFaultProxy(server.endpoint);
});

afterAll(async () => {
  await proxy.close();
  await fs.rm(work, { recursive: true, force: true });
});

function env(): Record<string, string> {
  return s3Env(proxy.endpoint);
}

/** The numbers of `<done> / <total> <unit>` in a frame, in bytes (MiB/KiB/B as printed). */
function stage(frame: string, unit: string): { done: number; total: number } | undefined {
  const match = new RegExp(`([\\d.]+) (B|KiB|MiB|GiB) / ([\\d.]+) (B|KiB|MiB|GiB) ${unit}`).exec(frame);
  if (!match) return undefined;
  const scale = { B: 1, KiB: 1024, MiB: MiB, GiB: 1024 * MiB } as const;
  return { done: Number(match[1]) * scale[match[2] as keyof typeof scale], total: Number(match[3]) * scale[match[4] as keyof typeof scale] };
}

function isNonDecreasing(values: number[]): boolean {
  return values.every((v, i) => i === 0 || v >= values[i - 1]!);
}

describe(`the status line on a terminal (${server.name} behind a ${LIMIT / MiB} MiB/s proxy)`, () => {
  it('backup with the upload throttled: the uploaded bytes advance, with a rate and an ETA, and the line is cleared before the summary', async () => {
    proxy.setBandwidth({ upload: LIMIT });
    const result = await cassetteOnTerminal(['backup', tree, '--repo', `s3://${bucket}/one`, '--part-size', '5MiB', '--upload-queue', '1'], { env: env() });
    proxy.setBandwidth({});
    expect(result.exitCode, result.output).toBe(0);
    const frames = statusFrames(result.output);
    const uploaded = frames.map((f) => stage(f, 'uploaded')).filter((s) => s !== undefined);
    const done = uploaded.map((s) => s.done);
    // The upload moves while it is the bottleneck: several distinct values, never backwards.
    expect(new Set(done).size, frames.join('\n')).toBeGreaterThanOrEqual(3);
    expect(isNonDecreasing(done)).toBe(true);
    // Once everything is read, the line says so and shows the upload as its bar.
    const uploading = frames.filter((f) => f.startsWith('uploading'));
    expect(uploading.length, frames.join('\n')).toBeGreaterThan(0);
    expect(uploading.some((f) => /\d+%\s+\[[#-]+\]/.test(f) && /MiB\/s/.test(f) && /ETA \d+ (s|min)/.test(f))).toBe(true);
    expect(frames.every((f) => !/written|downloaded/.test(f))).toBe(true);
    // The summary comes after the last frame, on a line of its own, after the line was cleared.
    const summaryAt = result.output.indexOf('snapshot ');
    expect(result.output.slice(0, summaryAt)).toMatch(/\r\x1b\[K {2}\S+\s+\d+ entries/);
    expect(statusFrames(result.output.slice(summaryAt))).toEqual([]);
    expect(screenLines(result.output).some((line) => /^snapshot \S+ committed to s3:\/\//.test(line))).toBe(true);
  });

  it('restore with the download throttled: restore labels (never the backup ones), written and downloaded against the planned totals, a rate and an ETA', async () => {
    proxy.setBandwidth({ download: LIMIT });
    const target = path.join(work, 'restored');
    const result = await cassetteOnTerminal(['restore', 'latest', '--repo', `s3://${bucket}/one`, '--target', target], { env: env() });
    proxy.setBandwidth({});
    expect(result.exitCode, result.output).toBe(0);
    const frames = statusFrames(result.output);
    expect(
      frames.every((f) => !/\bread\b|stored|uploaded|backing up/.test(f)),
      frames.join('\n'),
    ).toBe(true);
    expect(frames.some((f) => f.startsWith('downloading'))).toBe(true);
    const downloaded = frames.map((f) => stage(f, 'downloaded')).filter((s) => s !== undefined);
    // The totals are the selection's from the first frame on (the planning pass), and never the bytes done so far.
    const totals = new Set(downloaded.map((s) => s.total));
    expect(totals.size, frames.join('\n')).toBe(1);
    expect(Math.abs([...totals][0]! - DATA_BYTES)).toBeLessThan(0.5 * MiB);
    expect(new Set(frames.map((f) => stage(f, 'written')?.total).filter((t) => t !== undefined))).toEqual(new Set([24 * MiB]));
    // Bytes arrive and show as they do: several distinct values, never backwards, starting low.
    const done = downloaded.map((s) => s.done);
    expect(new Set(done).size, frames.join('\n')).toBeGreaterThanOrEqual(3);
    expect(isNonDecreasing(done)).toBe(true);
    expect(done[0]).toBeLessThan(DATA_BYTES / 2);
    const percents = frames.map((f) => /^\w[\w ]*?\s+(\d+)%/.exec(f)?.[1]).filter((p) => p !== undefined);
    expect(isNonDecreasing(percents.map(Number))).toBe(true);
    expect(isNonDecreasing(frames.map((f) => stage(f, 'written')?.done).filter((d) => d !== undefined))).toBe(true);
    expect(
      frames.some((f) => /^downloading .*written, [\d.]+ (KiB|MiB) \/ [\d.]+ MiB downloaded, [\d.]+ (KiB|MiB)\/s, ETA \d+ s/.test(f)),
      frames.join('\n'),
    ).toBe(true);
    const summaryAt = result.output.indexOf('restored ');
    expect(result.output.slice(summaryAt - 4, summaryAt)).toBe('\r\x1b[K');
    expect(statusFrames(result.output.slice(summaryAt))).toEqual([]);
  });

  it('Ctrl-C during a backup: the message is on a line of its own, and the line is not drawn again', async () => {
    proxy.setBandwidth({ upload: LIMIT / 4 });
    const result = await cassetteOnTerminal(['backup', tree, '--repo', `s3://${bucket}/two`, '--part-size', '5MiB'], { env: env(), interruptOn: 'uploaded' });
    proxy.setBandwidth({});
    expect(result.exitCode, result.output).toBe(130);
    const at = result.output.indexOf('SIGINT: stopping, cleaning up');
    expect(at, result.output).toBeGreaterThan(0);
    // The status line was erased (\r, clear to the end of the line) just before the message.
    expect(result.output.slice(at - 4, at)).toBe('\r\x1b[K');
    expect(screenLines(result.output)).toContain('SIGINT: stopping, cleaning up (press again to quit at once)');
    expect(statusFrames(result.output.slice(at))).toEqual([]);
    expect(result.output.slice(at)).toMatch(/cassette: .*interrupted/);
  });
});
