// A pure POSIX pax/ustar header encoder: Cassette writes tar members itself to know every member's exact offset.

import type { EntryType } from './types.js';

export interface TarMember {
  /** Relative path, `/`-separated, no leading `./` or `/`, no trailing `/` (added for directories). */
  path: string;
  type: EntryType;
  /** Content bytes; 0 for everything but files. May exceed 8 GiB. */
  size: number;
  mode: number;
  uid: number;
  gid: number;
  uname?: string;
  gname?: string;
  /** Decimal seconds, e.g. `1764170000`, `1764170000.123456789`, `-86400`. */
  mtime: string;
  link?: string;
  devmajor?: number;
  devminor?: number;
}

export const BLOCK = 512;
/** The end-of-archive marker: two zero blocks. */
export const TAR_END_SIZE = 1024;

const TYPEFLAG: Record<EntryType, string> = { file: '0', hardlink: '1', symlink: '2', chardev: '3', blockdev: '4', dir: '5', fifo: '6' };
const MAX_OCTAL_7 = 0o7777777;
const MAX_OCTAL_11 = 8 ** 11 - 1;

/** Zero bytes needed after `size` content bytes to reach a 512-byte boundary. */
export function tarPadding(size: number): number {
  const rest = size % BLOCK;
  return rest === 0 ? 0 : BLOCK - rest;
}

/** Exact decimal seconds from nanoseconds: 1764170000123456789n → '1764170000.123456789', -1500000000n → '-1.5'. */
export function mtimeFromNs(ns: bigint): string {
  const negative = ns < 0n;
  const abs = negative ? -ns : ns;
  const whole = abs / 1_000_000_000n;
  const frac = abs % 1_000_000_000n;
  let out = `${negative ? '-' : ''}${whole}`;
  if (frac !== 0n) out += '.' + frac.toString().padStart(9, '0').replace(/0+$/, '');
  return out === '-0' ? '0' : out;
}

/** Seconds as a number for fs.utimes (about microsecond precision). */
export function mtimeToSeconds(mtime: string): number {
  const value = Number(mtime);
  if (!Number.isFinite(value)) throw new RangeError(`not a decimal mtime: ${mtime}`);
  return value;
}

const isAscii = (s: string): boolean => /^[\x01-\x7f]*$/.test(s);

/** One pax record, `"<len> key=value\n"`, where len counts the whole record including its own digits. */
export function paxRecord(key: string, value: string): Buffer {
  const base = Buffer.byteLength(` ${key}=${value}\n`);
  let length = base + String(base).length;
  if (String(length).length !== length - base) length = base + String(length).length;
  return Buffer.from(`${length} ${key}=${value}\n`);
}

function writeOctal(buf: Buffer, offset: number, width: number, value: number): void {
  // width − 1 digits and a NUL.
  buf.write(Math.max(0, Math.floor(value)).toString(8).padStart(width - 1, '0'), offset, width - 1, 'ascii');
  buf[offset + width - 1] = 0;
}

/** GNU base-256 for numbers that do not fit in octal: high bit set, big-endian value. */
function writeBase256(buf: Buffer, offset: number, width: number, value: number): void {
  let v = BigInt(value);
  for (let i = width - 1; i > 0; i--) {
    buf[offset + i] = Number(v & 0xffn);
    v >>= 8n;
  }
  buf[offset] = 0x80;
}

/** Split an ASCII path into ustar prefix and name, or undefined when it cannot fit. */
function splitUstarPath(name: string): { prefix: string; name: string } | undefined {
  if (name.length <= 100) return { prefix: '', name };
  for (let i = name.indexOf('/'); i !== -1; i = name.indexOf('/', i + 1)) {
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (prefix.length <= 155 && rest.length <= 100 && rest.length > 0) return { prefix, name: rest };
    if (prefix.length > 155) break;
  }
  return undefined;
}

/** An ASCII name of at most `max` bytes standing in for one that needs a pax record. */
function fallbackName(name: string, max: number): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, '_');
  return ascii.length <= max ? ascii : ascii.slice(ascii.length - max);
}

function ustarBlock(fields: {
  name: string;
  prefix: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
}): Buffer {
  const buf = Buffer.alloc(BLOCK);
  buf.write(fields.name, 0, 100, 'utf8');
  writeOctal(buf, 100, 8, fields.mode & 0o7777);
  writeOctal(buf, 108, 8, fields.uid <= MAX_OCTAL_7 ? fields.uid : 0);
  writeOctal(buf, 116, 8, fields.gid <= MAX_OCTAL_7 ? fields.gid : 0);
  if (fields.size <= MAX_OCTAL_11) writeOctal(buf, 124, 12, fields.size);
  else writeBase256(buf, 124, 12, fields.size);
  writeOctal(buf, 136, 12, fields.mtime);
  buf.write(fields.typeflag, 156, 1, 'ascii');
  buf.write(fields.linkname, 157, 100, 'utf8');
  buf.write('ustar\0', 257, 6, 'ascii');
  buf.write('00', 263, 2, 'ascii');
  buf.write(fields.uname, 265, 31, 'utf8');
  buf.write(fields.gname, 297, 31, 'utf8');
  writeOctal(buf, 329, 8, fields.devmajor);
  writeOctal(buf, 337, 8, fields.devminor);
  buf.write(fields.prefix, 345, 155, 'utf8');
  buf.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += buf[i]!;
  buf.write(sum.toString(8).padStart(6, '0'), 148, 6, 'ascii');
  buf[154] = 0;
  buf[155] = 0x20;
  return buf;
}

/**
 * Header blocks of one member: a pax extended header (typeflag `x` and its records, padded)
 * when some field does not fit ustar, then the ustar header. Length is a multiple of 512.
 */
export function encodeTarHeader(member: TarMember): Buffer {
  const records: Buffer[] = [];
  const fullName = member.type === 'dir' ? `${member.path}/` : member.path;
  let split = isAscii(fullName) ? splitUstarPath(fullName) : undefined;
  if (!split) {
    records.push(paxRecord('path', fullName));
    split = { prefix: '', name: fallbackName(fullName, 100) };
  }
  let linkname = member.link ?? '';
  if (linkname && (!isAscii(linkname) || linkname.length > 100)) {
    records.push(paxRecord('linkpath', linkname));
    linkname = fallbackName(linkname, 100);
  }
  if (member.size > MAX_OCTAL_11) records.push(paxRecord('size', String(member.size)));
  if (member.uid > MAX_OCTAL_7) records.push(paxRecord('uid', String(member.uid)));
  if (member.gid > MAX_OCTAL_7) records.push(paxRecord('gid', String(member.gid)));
  const seconds = Number(member.mtime);
  if (!/^\d+$/.test(member.mtime) || seconds > MAX_OCTAL_11) records.push(paxRecord('mtime', member.mtime));
  let uname = member.uname ?? '';
  if (uname && (!isAscii(uname) || uname.length > 31)) {
    records.push(paxRecord('uname', uname));
    uname = '';
  }
  let gname = member.gname ?? '';
  if (gname && (!isAscii(gname) || gname.length > 31)) {
    records.push(paxRecord('gname', gname));
    gname = '';
  }
  const clampedMtime = Math.min(MAX_OCTAL_11, Math.max(0, Math.floor(seconds)));
  const header = ustarBlock({
    name: split.name,
    prefix: split.prefix,
    mode: member.mode,
    uid: member.uid,
    gid: member.gid,
    size: member.type === 'file' ? member.size : 0,
    mtime: clampedMtime,
    typeflag: TYPEFLAG[member.type],
    linkname,
    uname,
    gname,
    devmajor: member.devmajor ?? 0,
    devminor: member.devminor ?? 0,
  });
  if (records.length === 0) return header;
  const body = Buffer.concat(records);
  const base = member.path.slice(member.path.lastIndexOf('/') + 1) || member.path;
  const paxHeader = ustarBlock({
    name: fallbackName(`PaxHeaders.0/${base}`, 100),
    prefix: '',
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: body.length,
    mtime: clampedMtime,
    typeflag: 'x',
    linkname: '',
    uname: '',
    gname: '',
    devmajor: 0,
    devminor: 0,
  });
  return Buffer.concat([paxHeader, body, Buffer.alloc(tarPadding(body.length)), header]);
}
