// `node dist/bench/xattr-cost.js [--files 20000] [--dir /dev/shm]`: what reading extended attributes costs per entry, next to an lstat.
//
// Makes `--files` empty files in a temp directory three times over: with no attribute, with one
// (an SELinux label, as every file of an enforcing RHEL node has), and with three (a label, a
// capability-sized binary value and a user attribute); then times passes of readXattrs (one
// llistxattr, plus one getxattr per attribute, through the native addon) and, for scale, of
// lstatSync over the same paths. Prints microseconds per entry, the median of 7 passes each.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readXattrs } from '../src/fs/xattrs.js';
import { median } from './report.js';

function parseArgs(argv: string[]): { files: number; dir: string } {
  const args = { files: 20_000, dir: fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir() };
  for (let i = 0; i < argv.length; i += 2) {
    if (argv[i] === '--files') args.files = Number(argv[i + 1]);
    else if (argv[i] === '--dir') args.dir = argv[i + 1]!;
    else throw new Error(`unknown argument ${argv[i]}; usage: node dist/bench/xattr-cost.js [--files 20000] [--dir /dev/shm]`);
  }
  return args;
}

const LABEL = Buffer.from('system_u:object_r:etc_t:s0\0');
const CAPABILITY = Buffer.from('0100000200200000000000000000000000000000', 'hex');

function microsPerEntry(paths: string[], pass: (p: string) => unknown): number {
  const times: number[] = [];
  for (let run = 0; run < 7; run++) {
    const started = process.hrtime.bigint();
    for (const p of paths) pass(p);
    times.push(Number(process.hrtime.bigint() - started) / 1000 / paths.length);
  }
  return median(times);
}

async function main(): Promise<void> {
  const { files, dir } = parseArgs(process.argv.slice(2));
  const work = fs.mkdtempSync(path.join(dir, 'cassette-xattr-cost-'));
  const { setXattr } = await import('../src/fs/native.js');
  try {
    const kinds: Array<[string, Array<[string, Buffer]>]> = [
      ['no attribute', []],
      ['1 attribute (security.selinux)', [['security.selinux', LABEL]]],
      [
        '3 attributes',
        [
          ['security.selinux', LABEL],
          ['security.capability', CAPABILITY],
          ['user.origin', Buffer.from('control-node-1')],
        ],
      ],
    ];
    process.stdout.write(
      `${files} files per kind in ${dir} (${os.cpus()[0]?.model ?? ''}); µs per entry, median of 7 passes\n\n| entries with | readXattrs | lstatSync |\n|---|---:|---:|\n`,
    );
    for (const [kind, attributes] of kinds) {
      const sub = path.join(work, kind.replace(/\W+/g, '_'));
      fs.mkdirSync(sub);
      const paths: string[] = [];
      for (let i = 0; i < files; i++) {
        const p = path.join(sub, `f${i}`);
        fs.writeFileSync(p, '');
        for (const [name, value] of attributes) setXattr(p, name, value);
        paths.push(p);
      }
      const read = microsPerEntry(paths, (p) => readXattrs(p));
      const stat = microsPerEntry(paths, (p) => fs.lstatSync(p, { bigint: true }));
      process.stdout.write(`| ${kind} | ${read.toFixed(2)} | ${stat.toFixed(2)} |\n`);
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`xattr-cost: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
