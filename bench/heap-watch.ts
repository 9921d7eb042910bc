// Loaded into a measured cassette process with `node --import`: records the largest size its V8 heap spaces reached, written as JSON at exit.
//
// The scale bench uses it to say how much of a run's peak RSS is V8's own sizing: with default
// flags V8 grows the young generation (semi-spaces of 1 up to 16 MiB) as objects keep surviving
// collections, so a longer run of the same work ends with a larger heap although no more is live.

import fs from 'node:fs';
import v8 from 'node:v8';
import { isMainThread } from 'node:worker_threads';

/** Largest committed sizes seen, in bytes. */
export interface HeapWatch {
  /** New space (the two semi-spaces) plus new large-object space. */
  young: number;
  /** Old, code and large-object spaces. */
  old: number;
}

const OUTPUT = process.env.CASSETTE_HEAP_WATCH;
/** How often sizes are sampled: often enough to catch the young generation at its largest. */
const SAMPLE_MS = 50;

if (isMainThread && OUTPUT) {
  const seen: HeapWatch = { young: 0, old: 0 };
  const sample = (): void => {
    let young = 0;
    let old = 0;
    for (const space of v8.getHeapSpaceStatistics()) {
      if (space.space_name.startsWith('new_')) young += space.physical_space_size;
      else if (space.space_name !== 'read_only_space') old += space.physical_space_size;
    }
    seen.young = Math.max(seen.young, young);
    seen.old = Math.max(seen.old, old);
  };
  setInterval(sample, SAMPLE_MS).unref();
  process.on('exit', () => {
    sample();
    fs.writeFileSync(OUTPUT, JSON.stringify(seen) + '\n');
  });
}
