// What the benches need to run the cassette CLI and read its answers: where it is, the summary line of a --json run, and the commit it was built from.

import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sh } from './exec.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The checkout the bench runs from (dist/bench/… → ../..). */
export const repoRoot = path.resolve(here, '../..');
export const CLI = path.join(repoRoot, 'dist/src/cli/main.js');

/** The last `{"type":"summary"}` line of a cassette --json run (an empty object without one). */
export function summaryOf(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split('\n').reverse();
  for (const line of lines) {
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (parsed.type === 'summary') return parsed;
    } catch {
      // progress or other output
    }
  }
  return {};
}

/** The commit the engine was built from, `+dirty` with uncommitted changes (read-only git). */
export async function engineVersion(): Promise<string> {
  try {
    const sha = (await sh(['git', '-C', repoRoot, 'rev-parse', '--short', 'HEAD'])).trim();
    const dirty = (await sh(['git', '-C', repoRoot, 'status', '--porcelain', '--untracked-files=no', '--', 'src'])).trim() !== '';
    return `${sha}${dirty ? '+dirty (uncommitted changes in src/)' : ''}`;
  } catch {
    return 'unknown';
  }
}

/** `--render FILE.json`: rewrite the markdown of an earlier run from its measurements, and print it. */
export async function rerender(json: string, render: (report: never) => string, log: (line: string) => void): Promise<void> {
  // The JSON a run wrote is the report its renderer takes.
  const report = JSON.parse(await fs.readFile(json, 'utf8')) as never;
  const markdown = render(report);
  const target = json.replace(/\.json$/, '') + '.md';
  await fs.writeFile(target, markdown);
  process.stdout.write(markdown);
  log(`wrote ${target}`);
}
