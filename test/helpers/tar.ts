// Tar archives built from encodeTarHeader and read back with tar-stream and GNU tar, for the format tests.

import { execa } from 'execa';
import tar, { type Header as TarHeader } from 'tar-stream';
import { expect } from 'vitest';
import { encodeTarHeader, tarPadding, type TarMember } from '../../src/format/tar-header.js';

/** Environment for GNU tar runs: UTC times and a UTF-8 locale, whatever the machine's. */
export const ENV = { TZ: 'UTC', LC_ALL: 'C.UTF-8' };

export interface Spec {
  member: TarMember;
  content?: Buffer;
}

export function member(partial: Partial<TarMember> & Pick<TarMember, 'path' | 'type'>): TarMember {
  return { size: 0, mode: 0o644, uid: 0, gid: 0, mtime: '1700000000', ...partial };
}

/** A whole archive: for each member its header blocks, content and padding, then two zero blocks. */
export function archive(specs: Spec[]): Buffer {
  const parts: Buffer[] = [];
  for (const { member: m, content } of specs) {
    const data = content ?? Buffer.alloc(0);
    expect(data.length).toBe(m.size);
    const header = encodeTarHeader(m);
    expect(header.length % 512).toBe(0);
    parts.push(header, data, Buffer.alloc(tarPadding(data.length)));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** tar-stream's header; its types leave `pax` as unknown: it holds the pax records as strings. */
export type DecodedHeader = Omit<TarHeader, 'pax'> & { pax?: Record<string, string> | null };

export interface Decoded {
  header: DecodedHeader;
  data: Buffer;
}

export async function decodeWithTarStream(stream: Buffer): Promise<Decoded[]> {
  const extract = tar.extract();
  const out: Decoded[] = [];
  const reading = (async () => {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      out.push({ header: entry.header as DecodedHeader, data: Buffer.concat(chunks) });
    }
  })();
  extract.end(stream);
  await reading;
  return out;
}

/** The size field of a ustar header block: octal, or GNU base-256 when the high bit is set. */
export function sizeField(block: Buffer): number {
  if ((block[124]! & 0x80) !== 0) {
    let value = 0n;
    for (let i = 125; i < 136; i++) value = (value << 8n) | BigInt(block[i]!);
    return Number(value);
  }
  return parseInt(block.toString('latin1', 124, 136).replace(/\0.*$/, '') || '0', 8);
}

/** Header blocks of each member of a tar stream (pax 'x' header, its records, then the ustar header), content skipped. */
export function headerGroups(stream: Buffer): Buffer[] {
  const groups: Buffer[] = [];
  let start = 0;
  let at = 0;
  while (at + 512 <= stream.length) {
    const block = stream.subarray(at, at + 512);
    if (block.every((b) => b === 0)) break;
    const size = sizeField(block);
    const headerEnd = at + 512;
    at = headerEnd + size + tarPadding(size);
    if (String.fromCharCode(block[156]!) === 'x') continue; // its records belong to the next header
    groups.push(stream.subarray(start, headerEnd));
    start = at;
  }
  return groups;
}

export async function setMtime(file: string, mtime: string): Promise<void> {
  // touch -h sets exact nanoseconds (fs.lutimes takes a float and loses them) and does not follow symlinks.
  await execa('touch', ['-h', '-d', `@${mtime}`, file]);
}

/** GNU tar's pax options for headers comparable with ours: no atime/ctime records, and our pax header name. */
export const GNU_PAX = ['--format=pax', '--pax-option=delete=atime,delete=ctime,exthdr.name=PaxHeaders.0/%f'];

export async function gnuCreate(cwd: string, args: string[], names: string[]): Promise<Buffer> {
  const { stdout } = await execa('tar', [...args, '--no-recursion', '-cf', '-', '--', ...names], { cwd, encoding: 'buffer', env: ENV });
  return Buffer.from(stdout);
}

/** The pax records of one member's header group (see headerGroups) as [keyword, raw value] in their order; none when it has no pax header. */
export function paxRecordsOf(group: Buffer): Array<[string, Buffer]> {
  if (String.fromCharCode(group[156]!) !== 'x') return [];
  const body = group.subarray(512, 512 + sizeField(group));
  const records: Array<[string, Buffer]> = [];
  for (let at = 0; at < body.length;) {
    const space = body.indexOf(0x20, at);
    const length = Number(body.toString('latin1', at, space));
    const record = body.subarray(space + 1, at + length - 1); // without the length and the final newline
    expect(body[at + length - 1]).toBe(0x0a);
    const equals = record.indexOf(0x3d);
    records.push([record.subarray(0, equals).toString('utf8'), record.subarray(equals + 1)]);
    at += length;
  }
  return records;
}
