// Worker threads start from their compiled modules: under vitest those under dist/ (refused when older than
// their source), and also in a process started with --input-type, whose flag the threads inherit.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workerUrl } from '../../src/zstd/worker-thread.js';

let root: URL;
let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-worker-url-'));
  root = pathToFileURL(`${dir}/`);
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function write(rel: string, secondsAgo: number): Promise<void> {
  const file = path.join(dir, rel);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, '');
  const time = new Date(Date.now() - secondsAgo * 1000);
  await fs.utimes(file, time, time);
}

describe('workerUrl from the TypeScript sources', () => {
  it('finds the pool and restore writer workers where tsc compiled them', async () => {
    const project = new URL('../../', import.meta.url);
    for (const rel of ['src/zstd/pool-worker.js', 'src/restore/slice-writer-worker.js']) {
      const url = workerUrl(new URL(rel, project));
      expect(url.href).toBe(new URL(`dist/${rel}`, project).href);
      await expect(fs.access(url)).resolves.toBeUndefined();
    }
  });

  it('maps src/…/x.js to dist/src/…/x.js when that is newer than src/…/x.ts', async () => {
    await write('src/a/fresh.ts', 60);
    await write('dist/src/a/fresh.js', 0);
    expect(workerUrl(new URL('src/a/fresh.js', root), root).href).toBe(new URL('dist/src/a/fresh.js', root).href);
  });

  it('refuses a compiled file older than its source, naming both and the command that fixes it', async () => {
    await write('dist/src/a/stale.js', 60);
    await write('src/a/stale.ts', 0);
    expect(() => workerUrl(new URL('src/a/stale.js', root), root)).toThrow(/dist\/src\/a\/stale\.js is older than .*src\/a\/stale\.ts; .*npx tsc -p tsconfig\.json/);
  });

  it('refuses a source that was never compiled', async () => {
    await write('src/a/new.ts', 0);
    expect(() => workerUrl(new URL('src/a/new.js', root), root)).toThrow(/dist\/src\/a\/new\.js does not exist; .*npx tsc/);
  });

  it('refuses a module outside the project, or not named .js', () => {
    expect(() => workerUrl(new URL('file:///elsewhere/worker.js'), root)).toThrow(/Expected a worker module's \.js URL/);
    expect(() => workerUrl(new URL('src/a/fresh.ts', root), root)).toThrow(/Expected a worker module's \.js URL/);
  });
});

describe('startWorker', () => {
  // worker-thread.ts, transpiled into a temp dir (compiled code: workerUrl returns its argument), and two worker modules.
  let compiled: string;
  beforeAll(async () => {
    compiled = path.join(dir, 'compiled');
    await fs.mkdir(compiled);
    await fs.writeFile(path.join(compiled, 'package.json'), '{"type":"module"}');
    const source = await fs.readFile(path.join(import.meta.dirname, '../../src/zstd/worker-thread.ts'), 'utf8');
    const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
    await fs.writeFile(path.join(compiled, 'worker-thread.js'), outputText);
    await fs.writeFile(
      path.join(compiled, 'echo.js'),
      `import { parentPort, threadId, workerData } from 'node:worker_threads';\nparentPort.postMessage({ workerData, threadId });\n`,
    );
    await fs.writeFile(path.join(compiled, 'fails.js'), `throw new Error('cannot load the native binding');\n`);
  });

  /** Starts echo.js and fails.js from a `node <flags> -e` process; prints what each sent or the error it died of. */
  const run = (flags: string[]) =>
    execa(
      'node',
      [
        ...flags,
        '-e',
        `
      import(${JSON.stringify(pathToFileURL(path.join(compiled, 'worker-thread.js')).href)}).then(({ startWorker, workerUrl }) => {
        for (const name of ['echo.js', 'fails.js']) {
          const worker = startWorker(workerUrl(new URL(name, ${JSON.stringify(pathToFileURL(`${compiled}/`).href)})), { name: 'test-thread', workerData: { answer: 42 } });
          worker.on('message', (message) => {
            console.log(name, 'sent', JSON.stringify(message.workerData), message.threadId > 0);
            void worker.terminate();
          });
          worker.on('error', (error) => console.log(name, 'died:', error.message));
        }
      });`,
      ],
      { timeout: 20_000 },
    );

  it.each([[[]], [['--input-type=module']], [['--input-type', 'module']], [['--input-type=commonjs']]])(
    'starts a worker from its module, with its workerData, in a process started with %j',
    async (flags) => {
      const { stdout } = await run(flags);
      expect(stdout.split('\n').sort()).toEqual(['echo.js sent {"answer":42} true', 'fails.js died: cannot load the native binding']);
    },
  );
});
