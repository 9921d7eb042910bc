// Starts worker threads from our own modules: compiled ones next to their parent, or under dist/ when the parent runs from its TypeScript source (vitest).

import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** This module runs from its TypeScript source: vitest runs src/ through its own module runner. */
const FROM_SOURCE = import.meta.url.endsWith('.ts');

/** The project root, when running from the sources: this file is src/zstd/worker-thread.ts. */
const SOURCE_ROOT = new URL('../../', import.meta.url);

/**
 * The module to start a worker thread from, given `module`, the URL of the worker's compiled
 * file next to its parent: `workerUrl(new URL('./pool-worker.js', import.meta.url))`.
 *
 * Compiled code (dist/, as the CLI runs): `module` itself, tsc's output next to the parent's.
 *
 * From the TypeScript sources (vitest): `module` would be src/…/x.js, which does not exist, and
 * the source src/…/x.ts cannot run in a worker thread: Node 20 has no type stripping, and vitest's
 * transform runs only inside its own module runner, which a worker thread does not inherit. So
 * it is the file tsc compiles from that source, dist/src/…/x.js (tsconfig.json: rootDir `.`,
 * outDir `dist`). That file exists whenever the tests can run at all: `npm test` runs tsc before
 * vitest, `npm ci` and `npm install` run it (`prepare`), and the CLI tests run dist/ too. A
 * compiled worker older than its source would run stale code without a word, so that throws,
 * naming the command that fixes it. A worker module imports nothing of ours at runtime (types
 * only), so its own compiled file is all that can be stale.
 *
 * `root` is the project root the sources are in (a parameter for tests).
 */
export function workerUrl(module: URL, root: URL = SOURCE_ROOT): URL {
  if (!FROM_SOURCE) return module;
  if (!module.href.startsWith(root.href) || !module.href.endsWith('.js')) {
    throw new Error(`Expected a worker module's .js URL under ${root.href}, got ${module.href}`);
  }
  const relative = module.href.slice(root.href.length);
  const compiled = new URL(`dist/${relative}`, root);
  const source = new URL(relative.replace(/\.js$/, '.ts'), root);
  const sourceTime = statSync(source).mtimeMs;
  const compiledTime = statSync(compiled, { throwIfNoEntry: false })?.mtimeMs;
  const rebuild = 'the worker threads run compiled JavaScript under vitest: run `npx tsc -p tsconfig.json` (npm test does) first';
  if (compiledTime === undefined) throw new Error(`${fileURLToPath(compiled)} does not exist; ${rebuild}`);
  if (compiledTime < sourceTime) throw new Error(`${fileURLToPath(compiled)} is older than ${fileURLToPath(source)}; ${rebuild}`);
  return compiled;
}

/**
 * The process was started with `--input-type` (`node --input-type=module -e …`). A worker thread
 * inherits the parent's execArgv, and Node refuses to start one from a file with that flag
 * (ERR_INPUT_TYPE_NOT_ALLOWED). Overriding the worker's execArgv is no way out: Node also refuses
 * process-wide flags there (`--max-old-space-size`), which the inherited ones may carry.
 */
const INPUT_TYPE = process.execArgv.some((arg) => arg === '--input-type' || arg.startsWith('--input-type='));

/**
 * `new Worker(module, options)`, with `module` from workerUrl(). In a process started with
 * `--input-type` the thread starts from a line of code instead, which that flag allows, and which
 * imports `module` (import() works whether the flag makes that line a module or a script); a
 * failure to load it crashes the thread with its error, as it would from the file.
 */
export function startWorker(module: URL, options: WorkerOptions): Worker {
  if (!INPUT_TYPE) return new Worker(module, options);
  const bootstrap = `import(${JSON.stringify(module.href)}).catch((error) => process.nextTick(() => { throw error; }));`;
  return new Worker(bootstrap, { ...options, eval: true });
}
