// Names of a restore's temporary files, which say which process made them, and removal of those whose maker is gone (a restore killed with SIGKILL).
//
// A restore writes each file under a temporary name in the file's directory and renames it onto
// its real name when complete (restore.ts). A restore that dies without its cleanup (SIGKILL, a
// crash, power loss) leaves those names behind. The name records who made it:
//
//   .cassette-tmp-<boot id>-<pid namespace>-<time namespace>-<pid>-<start time>-<counter>
//
// boot id: /proc/sys/kernel/random/boot_id without dashes (32 hex digits), new at every boot of a
// kernel; namespaces: the inode numbers of /proc/self/ns/pid and /proc/self/ns/time (0 for a
// kernel without time namespaces); pid and start time: field 22 of /proc/self/stat, in clock ticks
// since boot; counter: base 36, one per temporary file of the process. Together they name one
// process of one boot: a pid is reused only by a later process, which has a later start time.
//
// removeStaleTemps removes a name from a directory only when all of these hold:
//  1. the name matches the pattern exactly (32 lower-case hex digits, decimal numbers without
//     leading zeros, nothing before or after), so a user's file named `.cassette-tmp-xyz`, the old
//     `.cassette-tmp-<8 hex>-<n>` names of earlier versions and the local store's
//     `.cassette-tmp-<12 hex>` are never taken for one;
//  2. it was made under this boot of this kernel and in this process's pid and time namespaces
//     (/proc shows pids of its reader's pid namespace, and start times shifted by its reader's time
//     namespace), so /proc here shows its maker under that pid with that start time if it still
//     runs; another boot, another machine sharing the file system, another container: left alone;
//  3. its maker is gone: /proc/<pid> is absent, shows another start time (the pid was reused) or
//     a zombie — and never when it is this process;
//  4. lstat (never following a link) shows a regular file, owned by this user unless this process
//     is root (with /proc mounted `hidepid`, other users' processes look absent). A symlink, a
//     directory or anything else with such a name is left alone.
// The last check and the unlink are not atomic: if a file replaced in between by a symlink is
// unlinked, the link itself goes, never what it points to. Only directories that the restore is
// about to write into are cleaned, once per run each, before its first file lands there.
//
// So a user's file is never taken: only a restore of this boot, in these namespaces, makes names
// with this boot id, and it removes or renames each before it ends; another file would have to
// copy such a name exactly. Left for a person to remove (`find -name '.cassette-tmp-*'`): names of
// another boot (a restore cut by a power failure), and symlinks (a symlink's temporary name lives
// for one rename).

import fsSync from 'node:fs';
import { randomBytes } from 'node:crypto';
import { joinPath } from './safe-path.js';

/** The process that makes temporary names: what a name records of it. */
export interface Restorer {
  /** Boot id, 32 lower-case hex digits. */
  boot: string;
  /** Inode number of the pid namespace, decimal. */
  pidNamespace: string;
  /** Inode number of the time namespace, decimal; `0` without time namespaces. */
  timeNamespace: string;
  pid: number;
  /** Start time in clock ticks since boot, decimal (as /proc/<pid>/stat shows it). */
  start: string;
}

/** What /proc/<pid>/stat says about a process, as far as judging a temporary name needs. */
export type ProcessState = { state: string; start: string } | 'gone' | 'unknown';

const PREFIX = '.cassette-tmp-';
const DECIMAL = '(0|[1-9][0-9]{0,19})';
const NAME = new RegExp(`^\\.cassette-tmp-([0-9a-f]{32})-${DECIMAL}-${DECIMAL}-([1-9][0-9]{0,9})-${DECIMAL}-(0|[1-9a-z][0-9a-z]{0,12})$`);

/** The temporary name made by `restorer` with this counter. Pure. */
export function restoreTempName(restorer: Restorer, counter: number): string {
  return `${PREFIX}${restorer.boot}-${restorer.pidNamespace}-${restorer.timeNamespace}-${restorer.pid}-${restorer.start}-${counter.toString(36)}`;
}

/** Who made a temporary name, or undefined when `name` is not exactly one. Pure. */
export function parseRestoreTempName(name: string): Restorer | undefined {
  const m = NAME.exec(name);
  if (!m) return undefined;
  return { boot: m[1]!, pidNamespace: m[2]!, timeNamespace: m[3]!, pid: Number(m[4]), start: m[5]! };
}

/** State (field 3) and start time (field 22) from the text of /proc/<pid>/stat; the command name may hold spaces and parentheses. Pure. */
export function parseProcStat(text: string): { state: string; start: string } | undefined {
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const start = fields[19];
  if (!state || !start || !/^[0-9]+$/.test(start)) return undefined;
  return { state, start };
}

/**
 * Is the temporary file named by `maker` left by a process that is gone? `self` is the judging
 * process, `maker`'s pid as /proc shows it now is `now`. True only when the answer is certain
 * (rules 2 and 3 of the header). Pure.
 */
export function isStaleTemp(maker: Restorer, self: Restorer, now: ProcessState): boolean {
  if (maker.boot !== self.boot || maker.pidNamespace !== self.pidNamespace || maker.timeNamespace !== self.timeNamespace) return false;
  // This pid is ours now: the maker is this process, or an earlier one that had it.
  if (maker.pid === self.pid) return maker.start !== self.start;
  if (now === 'unknown') return false;
  if (now === 'gone' || now.start !== maker.start) return true;
  return now.state === 'Z' || now.state === 'X';
}

/** This process as /proc shows it, or undefined where it cannot (no procfs): then names are random and nothing is ever judged stale. */
function readSelf(): Restorer | undefined {
  try {
    const boot = fsSync.readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim().replace(/-/g, '');
    const namespace = (kind: string): string => /\[([0-9]+)\]/.exec(fsSync.readlinkSync(`/proc/self/ns/${kind}`))?.[1] ?? '';
    const pidNamespace = namespace('pid');
    let timeNamespace = '0';
    try {
      timeNamespace = namespace('time');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const stat = parseProcStat(fsSync.readFileSync('/proc/self/stat', 'latin1'));
    const self: Restorer = { boot, pidNamespace, timeNamespace, pid: process.pid, start: stat?.start ?? '' };
    // Only a self that round-trips through its own name can recognise names.
    return parseRestoreTempName(restoreTempName(self, 0)) ? self : undefined;
  } catch {
    return undefined;
  }
}

let self: Restorer | undefined | null = null;
/** This process, as its temporary names record it; undefined without procfs. */
export function currentRestorer(): Restorer | undefined {
  if (self === null) self = readSelf();
  return self;
}

/** Without procfs: random per process, as before; such names never match the pattern. */
const FALLBACK_PREFIX = `${PREFIX}${randomBytes(4).toString('hex')}-`;
let counter = 0;

/** A fresh temporary name (a file name, no directory) for this process. */
export function nextRestoreTempName(): string {
  const restorer = currentRestorer();
  return restorer ? restoreTempName(restorer, counter++) : `${FALLBACK_PREFIX}${(counter++).toString(36)}`;
}

/** Whether `name` (as bytes from readdir, or a string) is one of this pattern's names: for tests and listings. */
export function isRestoreTempName(name: string | Buffer): boolean {
  return parseRestoreTempName(typeof name === 'string' ? name : name.toString('latin1')) !== undefined;
}

function processState(pid: number): ProcessState {
  let text: string;
  try {
    text = fsSync.readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ESRCH' ? 'gone' : 'unknown';
  }
  return parseProcStat(text) ?? 'unknown';
}

/** Makers found gone (their names without the counter): they stay gone, a pid comes back only with another start time. */
const goneMakers = new Set<string>();

const PREFIX_BYTES = Buffer.from(PREFIX);

/**
 * Removes from `dir` the temporary files of restores that are gone (rules 1-4 of the header);
 * returns how many. Best effort: a directory that cannot be listed, or a name that cannot be
 * removed, is left as it is. Cost: one readdir of `dir`, plus an lstat and a read of
 * /proc/<pid>/stat only for names that match the pattern.
 */
export function removeStaleTemps(dir: string | Buffer): number {
  const restorer = currentRestorer();
  if (!restorer) return 0;
  let names: Buffer[];
  try {
    names = fsSync.readdirSync(dir, { encoding: 'buffer' });
  } catch {
    return 0;
  }
  const uid = process.getuid?.();
  let removed = 0;
  for (const name of names) {
    if (name.length < PREFIX_BYTES.length || PREFIX_BYTES.compare(name, 0, PREFIX_BYTES.length) !== 0) continue;
    const text = name.toString('latin1');
    const maker = parseRestoreTempName(text);
    if (!maker) continue;
    const key = text.slice(0, text.lastIndexOf('-'));
    if (!goneMakers.has(key)) {
      if (!isStaleTemp(maker, restorer, processState(maker.pid))) continue;
      goneMakers.add(key);
    }
    const file = joinPath(dir, name);
    const stats = fsSync.lstatSync(file, { throwIfNoEntry: false });
    if (!stats?.isFile() || (uid !== 0 && uid !== undefined && stats.uid !== uid)) continue;
    try {
      fsSync.unlinkSync(file);
      removed++;
    } catch {
      // Gone already, or not ours to remove: leave it.
    }
  }
  return removed;
}
