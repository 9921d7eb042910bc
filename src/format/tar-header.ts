// A pure POSIX pax/ustar header encoder: Cassette writes tar members itself to know every member's exact offset.
//
// It encodes headers only: content, padding and the end-of-archive blocks are the caller's. Fields
// that do not fit ustar go into a pax extended header ('x') placed just before the ustar header,
// and the ustar field gets a safe stand-in (see encodeTarHeader). No I/O.

import { ACL_RECORDS, aclText } from './acl.js';
import type { EntryType, IndexEntry } from './types.js';

/** What encodeTarHeader needs to know about one member: the index entry's own fields (see IndexEntry), with names and attributes as bytes. */
export type TarMember = Pick<IndexEntry, 'path' | 'type' | 'size' | 'mode' | 'uid' | 'gid' | 'uname' | 'gname' | 'mtime' | 'link' | 'devmajor' | 'devminor'> & {
  /** The path's exact bytes when they are not valid UTF-8 (`path` then only names it for people). */
  pathBytes?: Buffer;
  /** The link target's exact bytes when they are not valid UTF-8. */
  linkBytes?: Buffer;
  /** Extended attributes, name and value, in the order to store them. */
  xattrs?: ReadonlyArray<readonly [string, Buffer]>;
};

/** Tar block size: headers and content are padded to a multiple of it. */
export const BLOCK = 512;
/** The end-of-archive marker: two zero blocks. */
export const TAR_END_SIZE = 1024;

const TYPEFLAG: Record<EntryType, string> = { file: '0', hardlink: '1', symlink: '2', chardev: '3', blockdev: '4', dir: '5', fifo: '6' };
/** Largest value of a 7-digit octal field (mode, uid, gid, devmajor, devminor). */
const MAX_OCTAL_7 = 0o7777777;
/** Largest value of an 11-digit octal field (size, mtime): 8^11 − 1, so 8 GiB − 1 bytes. */
const MAX_OCTAL_11 = 8 ** 11 - 1;
const NAME_SIZE = 100;
const PREFIX_SIZE = 155;
/** uname and gname fields are 32 bytes: 31 and a NUL. */
const OWNER_NAME_SIZE = 31;
/** Name of the pax header block, like GNU tar's `--pax-option=exthdr.name=PaxHeaders.0/%f`. */
const PAX_NAME_PREFIX = 'PaxHeaders.0/';
const DECIMAL_SECONDS = /^-?\d+(\.\d+)?$/;

/** Zero bytes needed after `size` content bytes to reach a 512-byte boundary. */
export function tarPadding(size: number): number {
  const rest = size % BLOCK;
  return rest === 0 ? 0 : BLOCK - rest;
}

/** Exact decimal seconds from nanoseconds, no trailing zeros: 1764170000123456789n → '1764170000.123456789', -1500000000n → '-1.5'. */
export function mtimeFromNs(ns: bigint): string {
  const negative = ns < 0n;
  const abs = negative ? -ns : ns;
  const whole = abs / 1_000_000_000n;
  const frac = abs % 1_000_000_000n;
  let out = `${negative ? '-' : ''}${whole}`;
  if (frac !== 0n) out += '.' + frac.toString().padStart(9, '0').replace(/0+$/, '');
  return out;
}

/** Seconds as a number for fs.utimes (about microsecond precision), from decimal seconds such as `'-1.5'`. */
export function mtimeToSeconds(mtime: string): number {
  if (!DECIMAL_SECONDS.test(mtime)) throw new RangeError(`Expected \`mtime\` to be decimal seconds such as '1764170000.5', got ${JSON.stringify(mtime)}`);
  return Number(mtime);
}

/**
 * The decimal string to give fs.utimes for `mtime`. Node turns it into a double (≈ 0.24 µs apart
 * at today's dates) and libuv truncates that to whole microseconds, so an mtime just past a
 * microsecond could come back a microsecond early, and one just past a millisecond a millisecond
 * early. Aiming at the middle of the intended microsecond lands on it. Negative times pass as
 * they are (as strings: Node replaces negative numbers with now).
 */
export function utimesArg(mtime: string): string {
  if (mtime.startsWith('-')) return mtime;
  const [whole, fraction = ''] = mtime.split('.');
  return `${whole}.${fraction.slice(0, 6).padEnd(6, '0')}5`;
}

/** One pax record, `"<len> key=value\n"`, where len counts the whole record in bytes, its own digits included; a Buffer value is stored as its bytes. */
export function paxRecord(key: string, value: string | Buffer): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value) : value;
  const rest = Buffer.byteLength(key) + bytes.length + 3;
  let length = rest + String(rest).length;
  // Adding the digits can push the length over a power of ten (rest 9: "10 …" is 11 bytes, not 10).
  if (String(length).length + rest !== length) length = rest + String(length).length;
  return Buffer.concat([Buffer.from(`${length} ${key}=`), bytes, NEWLINE]);
}

const NEWLINE = Buffer.from('\n');
const SLASH = Buffer.from('/');

/** The pax keyword GNU tar uses for an extended attribute: `SCHILY.xattr.<name>`, with `%` and `=` escaped as `%25` and `%3D`. */
export function xattrKeyword(name: string): string {
  return `SCHILY.xattr.${name.replace(/%/g, '%25').replace(/=/g, '%3D')}`;
}

/**
 * Records for a member's extended attributes, in GNU tar's order and form (what
 * `tar --xattrs --xattrs-include='*' --acls --selinux` writes and reads back): `SCHILY.acl.access`
 * and `SCHILY.acl.default` (text form of the POSIX ACLs), `RHT.security.selinux` (the label
 * without its trailing NUL), then `SCHILY.xattr.<name>` for every attribute, ACLs and label included.
 */
function xattrRecords(xattrs: ReadonlyArray<readonly [string, Buffer]>): Buffer[] {
  const records: Buffer[] = [];
  for (const [attribute, keyword] of ACL_RECORDS) {
    const value = xattrs.find(([name]) => name === attribute)?.[1];
    const text = value && aclText(value);
    if (text) records.push(paxRecord(keyword, text));
  }
  const label = xattrs.find(([name]) => name === 'security.selinux')?.[1];
  if (label) records.push(paxRecord('RHT.security.selinux', label.at(-1) === 0 ? label.subarray(0, -1) : label));
  for (const [name, value] of xattrs) records.push(paxRecord(xattrKeyword(name), value));
  return records;
}

/**
 * Header blocks of one member: a pax extended header (typeflag `x`, its records, zero padding)
 * when some field does not fit ustar, then the ustar header. The length is a multiple of 512.
 *
 * Pax records, and what the ustar field holds instead:
 * - `hdrcharset=BINARY` first when the path or link target is not valid UTF-8 (pathBytes,
 *   linkBytes): their records then hold the raw bytes, as GNU tar reads them;
 * - `path` when the ASCII path does not fit name (100) + prefix (155), or is not ASCII: its
 *   first 100 bytes as GNU tar writes them, non-ASCII replaced by `_` (a head never starts
 *   with `/` or `../`, which a cut tail could);
 * - `linkpath` when the target is over 100 bytes or not ASCII: same stand-in;
 * - `size` from 8 GiB: the ustar field is GNU base-256, so GNU tar reads it even without pax;
 * - `uid`, `gid` above 2097151: 0, as GNU tar writes;
 * - `mtime` when fractional, negative or from 8^11 s: floor(mtime) clamped to [0, 8^11 − 1];
 * - `uname`, `gname` over 31 bytes or not ASCII: empty, so readers fall back to the ids;
 * - extended attributes last, as GNU tar writes them (see xattrRecords).
 *
 * Throws a RangeError when the member breaks the TarMember contract (see assertMember).
 */
export function encodeTarHeader(member: TarMember): Buffer {
  assertMember(member);
  const records: Buffer[] = [];

  if (member.pathBytes || member.linkBytes) records.push(paxRecord('hdrcharset', 'BINARY'));
  const fullPath = member.type === 'dir' ? `${member.path}/` : member.path;
  let split = isAscii(fullPath) && !member.pathBytes ? splitUstarPath(fullPath) : undefined;
  if (!split) {
    records.push(paxRecord('path', member.pathBytes ? (member.type === 'dir' ? Buffer.concat([member.pathBytes, SLASH]) : member.pathBytes) : fullPath));
    split = { prefix: '', name: asciiStandIn(fullPath, NAME_SIZE) };
  }

  let linkname = member.link ?? '';
  if (!isAscii(linkname) || linkname.length > NAME_SIZE || member.linkBytes) {
    records.push(paxRecord('linkpath', member.linkBytes ?? linkname));
    linkname = asciiStandIn(linkname, NAME_SIZE);
  }

  // Record order as GNU tar writes them: uid, gid, size, mtime, uname, gname.
  if (member.uid > MAX_OCTAL_7) records.push(paxRecord('uid', String(member.uid)));
  if (member.gid > MAX_OCTAL_7) records.push(paxRecord('gid', String(member.gid)));
  const size = member.size;
  if (size > MAX_OCTAL_11) records.push(paxRecord('size', String(size)));

  const seconds = Number(member.mtime);
  if (!/^\d+$/.test(member.mtime) || seconds > MAX_OCTAL_11) records.push(paxRecord('mtime', member.mtime));
  const ustarMtime = Math.min(MAX_OCTAL_11, Math.max(0, Math.floor(seconds)));

  let uname = member.uname ?? '';
  if (!isAscii(uname) || uname.length > OWNER_NAME_SIZE) {
    records.push(paxRecord('uname', uname));
    uname = '';
  }
  let gname = member.gname ?? '';
  if (!isAscii(gname) || gname.length > OWNER_NAME_SIZE) {
    records.push(paxRecord('gname', gname));
    gname = '';
  }
  if (member.xattrs && member.xattrs.length > 0) records.push(...xattrRecords(member.xattrs));

  const header = ustarBlock({
    name: split.name,
    prefix: split.prefix,
    mode: member.mode & 0o7777,
    uid: member.uid > MAX_OCTAL_7 ? 0 : member.uid,
    gid: member.gid > MAX_OCTAL_7 ? 0 : member.gid,
    size,
    mtime: ustarMtime,
    typeflag: TYPEFLAG[member.type],
    linkname,
    uname,
    gname,
    devmajor: member.devmajor ?? 0,
    devminor: member.devminor ?? 0,
  });
  if (records.length === 0) return header;

  const body = Buffer.concat(records);
  const paxHeader = ustarBlock({
    name: paxHeaderName(member.path),
    prefix: '',
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: body.length,
    mtime: ustarMtime,
    typeflag: 'x',
    linkname: '',
    uname: '',
    gname: '',
  });
  return Buffer.concat([paxHeader, body, Buffer.alloc(tarPadding(body.length)), header]);
}

/** Checks the TarMember contract at the boundary, so a bad member fails here and not as a corrupt archive. */
function assertMember(member: TarMember): void {
  const { path, type, size, mode, uid, gid, mtime, link, devmajor, devminor } = member;
  if (!Object.hasOwn(TYPEFLAG, type)) throw new RangeError(`Expected \`type\` to be one of ${Object.keys(TYPEFLAG).join(', ')}, got ${JSON.stringify(type)}`);
  if (path === '' || path.startsWith('/') || path.endsWith('/') || path.includes('\0')) {
    throw new RangeError(`Expected \`path\` to be a non-empty relative path without leading or trailing '/' or NUL, got ${JSON.stringify(path)}`);
  }
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`${path}: expected \`size\` to be an integer from 0 to Number.MAX_SAFE_INTEGER, got ${size}`);
  if (type !== 'file' && size !== 0) throw new RangeError(`${path}: a ${type} member has no content, expected \`size\` 0, got ${size}`);
  for (const [field, value] of [
    ['mode', mode],
    ['uid', uid],
    ['gid', gid],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${path}: expected \`${field}\` to be a non-negative integer, got ${value}`);
  }
  for (const [field, value] of [
    ['devmajor', devmajor],
    ['devminor', devminor],
  ] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value < 0 || value > MAX_OCTAL_7)) {
      throw new RangeError(`${path}: expected \`${field}\` to be an integer from 0 to ${MAX_OCTAL_7}, got ${value}`);
    }
  }
  if (!DECIMAL_SECONDS.test(mtime)) throw new RangeError(`${path}: expected \`mtime\` to be decimal seconds such as '1764170000.5', got ${JSON.stringify(mtime)}`);
  if ((type === 'symlink' || type === 'hardlink') && !link) throw new RangeError(`${path}: a ${type} member needs a \`link\` target`);
  if (link?.includes('\0')) throw new RangeError(`${path}: \`link\` contains NUL`);
  const { pathBytes, linkBytes, xattrs } = member;
  if (pathBytes && (pathBytes.length === 0 || pathBytes.includes(0) || pathBytes[0] === 0x2f || pathBytes.at(-1) === 0x2f)) {
    throw new RangeError(`${path}: expected \`pathBytes\` to be a non-empty relative path without leading or trailing '/' or NUL`);
  }
  if (linkBytes && (linkBytes.length === 0 || linkBytes.includes(0))) throw new RangeError(`${path}: expected \`linkBytes\` to be non-empty, without NUL`);
  for (const [name] of xattrs ?? []) {
    if (name === '' || name.includes('\0') || name.includes('\n'))
      throw new RangeError(`${path}: extended attribute name ${JSON.stringify(name)} is empty or holds NUL or a newline`);
  }
}

/** True when every character is 7-bit ASCII (so its byte length is its string length). */
const isAscii = (s: string): boolean => /^[\x00-\x7f]*$/.test(s);

/** Split an ASCII path into ustar prefix and name (shortest prefix that lets the name fit, as GNU tar does), or undefined when it cannot fit. */
function splitUstarPath(path: string): { prefix: string; name: string } | undefined {
  if (path.length <= NAME_SIZE) return { prefix: '', name: path };
  for (let i = path.indexOf('/', path.length - NAME_SIZE - 1); i !== -1; i = path.indexOf('/', i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (prefix.length > PREFIX_SIZE) return undefined;
    if (prefix.length > 0 && name.length > 0 && name.length <= NAME_SIZE) return { prefix, name };
  }
  return undefined;
}

/**
 * A printable-ASCII stand-in of at most `max` bytes for a name that has a pax record, for readers
 * without pax: its head, as GNU tar cuts it, non-ASCII replaced by `_`, and a last component cut
 * down to `.` or `..` made `_`.
 */
function asciiStandIn(name: string, max: number): string {
  const ascii = name.replace(/[^\x20-\x7e]/gu, '_');
  return ascii.length <= max ? ascii : ascii.slice(0, max).replace(/(^|\/)\.{1,2}$/, '$1_');
}

/** `PaxHeaders.0/<basename>`, the basename made ASCII and cut so the whole fits the name field. */
function paxHeaderName(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  const ascii = base.replace(/[^\x20-\x7e]/gu, '_');
  return PAX_NAME_PREFIX + ascii.slice(0, NAME_SIZE - PAX_NAME_PREFIX.length);
}

interface UstarFields {
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
  /** Absent in pax headers: GNU tar leaves both fields NUL there. */
  devmajor?: number;
  devminor?: number;
}

/** One 512-byte ustar header. Strings are ASCII and fit their fields; numbers fit theirs (size may use base-256). */
function ustarBlock(fields: UstarFields): Buffer {
  const buf = Buffer.alloc(BLOCK);
  buf.write(fields.name, 0, NAME_SIZE, 'ascii');
  writeOctal(buf, 100, 8, fields.mode);
  writeOctal(buf, 108, 8, fields.uid);
  writeOctal(buf, 116, 8, fields.gid);
  if (fields.size <= MAX_OCTAL_11) writeOctal(buf, 124, 12, fields.size);
  else writeBase256(buf, 124, 12, fields.size);
  writeOctal(buf, 136, 12, fields.mtime);
  buf.write(fields.typeflag, 156, 1, 'ascii');
  buf.write(fields.linkname, 157, NAME_SIZE, 'ascii');
  buf.write('ustar\0', 257, 6, 'ascii');
  buf.write('00', 263, 2, 'ascii');
  buf.write(fields.uname, 265, OWNER_NAME_SIZE, 'ascii');
  buf.write(fields.gname, 297, OWNER_NAME_SIZE, 'ascii');
  if (fields.devmajor !== undefined) writeOctal(buf, 329, 8, fields.devmajor);
  if (fields.devminor !== undefined) writeOctal(buf, 337, 8, fields.devminor);
  buf.write(fields.prefix, 345, PREFIX_SIZE, 'ascii');
  // Checksum: sum of all bytes with the checksum field read as spaces; 6 octal digits, NUL, space.
  buf.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += buf[i]!;
  buf.write(sum.toString(8).padStart(6, '0'), 148, 6, 'ascii');
  buf[154] = 0;
  buf[155] = 0x20;
  return buf;
}

/** `width − 1` zero-padded octal digits and a NUL. */
function writeOctal(buf: Buffer, offset: number, width: number, value: number): void {
  const digits = value.toString(8).padStart(width - 1, '0');
  if (digits.length > width - 1) throw new RangeError(`${value} does not fit a ${width}-byte octal tar field`);
  buf.write(digits, offset, width - 1, 'ascii');
  buf[offset + width - 1] = 0;
}

/** GNU base-256 for numbers too large for octal: first byte 0x80, then the value big-endian. */
function writeBase256(buf: Buffer, offset: number, width: number, value: number): void {
  let v = BigInt(value);
  for (let i = width - 1; i > 0; i--) {
    buf[offset + i] = Number(v & 0xffn);
    v >>= 8n;
  }
  buf[offset] = 0x80;
}
