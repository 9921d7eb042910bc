// age v1 objects: interoperability with the age command in both directions, random access by chunk, and damage detection.

import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHUNK_SIZE, newObject, Opener, openObject, PayloadSealer, plainSize, SEALED_CHUNK_SIZE, sealedRange, sealObject, TAG_SIZE } from '../../src/crypto/age.js';
import { EncryptedStore } from '../../src/crypto/encrypted-store.js';
import { generateKey } from '../../src/crypto/keys.js';
import { isCassetteError } from '../../src/errors.js';
import { LocalStore } from '../../src/store/local-store.js';

let work: string;
let key: Awaited<ReturnType<typeof generateKey>>;
let other: Awaited<ReturnType<typeof generateKey>>;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-age-'));
  key = await generateKey();
  other = await generateKey();
  await fs.writeFile(path.join(work, 'key.txt'), key.text, { mode: 0o600 });
});

afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

/** Sizes around the chunk boundaries, where the last-chunk rule bites. */
const SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE, 3 * CHUNK_SIZE + 17];

describe('age v1 objects', () => {
  it.each(SIZES)('%i bytes: the age command decrypts what Cassette encrypts, and the other way round', async (size) => {
    const plain = randomBytes(size);
    const sealed = await sealObject([key.recipient], plain);
    const { payloadStart } = await new Opener([key.identity]).open(sealed, 'x');
    expect(sealed.length - payloadStart).toBe(size + TAG_SIZE * Math.max(1, Math.ceil(size / CHUNK_SIZE)));
    const decrypted = await execa('age', ['-d', '-i', path.join(work, 'key.txt')], { input: sealed, encoding: 'buffer', stripFinalNewline: false });
    expect(Buffer.from(decrypted.stdout).equals(plain)).toBe(true);
    const byAge = await execa('age', ['-r', key.recipient], { input: plain, encoding: 'buffer', stripFinalNewline: false });
    expect((await openObject(new Opener([key.identity]), Buffer.from(byAge.stdout), 'x')).equals(plain)).toBe(true);
  });

  it('plainSize inverts the stored size, for every size around a chunk boundary', async () => {
    for (const size of SIZES) {
      const object = await newObject([key.recipient]);
      const sealer = new PayloadSealer(object.key);
      const stored = object.head.length + sealer.push(randomBytes(size)).length + sealer.end().length;
      expect(plainSize(stored, object.payloadStart)).toBe(size);
    }
  });

  it('sealedRange covers exactly the chunks holding a plaintext range', () => {
    expect(sealedRange(0, 0, 200)).toEqual({ start: 200, end: 200 + SEALED_CHUNK_SIZE - 1, firstChunk: 0 });
    expect(sealedRange(CHUNK_SIZE, CHUNK_SIZE + 5, 200)).toEqual({ start: 200 + SEALED_CHUNK_SIZE, end: 200 + 2 * SEALED_CHUNK_SIZE - 1, firstChunk: 1 });
    expect(sealedRange(CHUNK_SIZE - 1, CHUNK_SIZE, 0)).toEqual({ start: 0, end: 2 * SEALED_CHUNK_SIZE - 1, firstChunk: 0 });
  });

  it('an identity for another recipient is refused with E_KEY', async () => {
    const sealed = await sealObject([key.recipient], Buffer.from('x'));
    await expect(openObject(new Opener([other.identity]), sealed, 'obj')).rejects.toSatisfy((error: unknown) => isCassetteError(error, 'E_KEY'));
    // Any one of several recipients opens it.
    const both = await sealObject([other.recipient, key.recipient], Buffer.from('y'));
    expect((await openObject(new Opener([key.identity]), both, 'obj')).toString()).toBe('y');
  });

  it('a flipped byte, a dropped last chunk or bytes after the last chunk are E_INTEGRITY', async () => {
    const plain = randomBytes(3 * CHUNK_SIZE + 5);
    const sealed = await sealObject([key.recipient], plain);
    const opener = new Opener([key.identity]);
    const flipped = Buffer.from(sealed);
    flipped[flipped.length - CHUNK_SIZE] ^= 1;
    const object = await opener.open(sealed, 'obj');
    const cut = sealed.subarray(0, object.payloadStart + 3 * SEALED_CHUNK_SIZE);
    for (const damaged of [flipped, cut, Buffer.concat([sealed, Buffer.from('more')])]) {
      await expect(openObject(opener, damaged, 'obj')).rejects.toSatisfy((error: unknown) => isCassetteError(error, 'E_INTEGRITY'));
    }
  });
});

describe('EncryptedStore on a directory', () => {
  it('stores data/ objects as age objects and reads any range, streamed or buffered, into a given buffer too', async () => {
    const inner = new LocalStore(path.join(work, 'repo'));
    const keys = { recipients: [key.recipient], identities: [key.identity] };
    const store = new EncryptedStore(inner, keys, 'age:test');
    const plain = randomBytes(5 * CHUNK_SIZE + 1234);
    const writer = store.openWriter('data/20261130T000000Z-aaaaaa/a1.tar.zst');
    for (let at = 0; at < plain.length; at += 100_000) await writer.write(plain.subarray(at, at + 100_000));
    const { size } = await writer.finish();
    const raw = await inner.getBuffer('data/20261130T000000Z-aaaaaa/a1.tar.zst');
    expect(raw.length).toBe(size);
    expect(raw.subarray(0, 22).toString()).toBe('age-encryption.org/v1\n');
    expect(raw.includes(plain.subarray(1000, 1032))).toBe(false);
    const reader = new EncryptedStore(inner, { recipients: [], identities: [key.identity] }, undefined);
    expect(await reader.contentSize('data/20261130T000000Z-aaaaaa/a1.tar.zst', size)).toBe(plain.length);
    const ranges = [
      [0, 0],
      [CHUNK_SIZE - 3, CHUNK_SIZE + 3],
      [2 * CHUNK_SIZE, 4 * CHUNK_SIZE - 1],
      [plain.length - 10, plain.length - 1],
      [plain.length - 10, plain.length + 500],
    ] as const;
    for (const [start, end] of ranges) {
      const want = plain.subarray(start, end + 1);
      expect((await reader.getBuffer('data/20261130T000000Z-aaaaaa/a1.tar.zst', { range: { start, end } })).equals(want)).toBe(true);
      const chunks: Buffer[] = [];
      for await (const chunk of await reader.get('data/20261130T000000Z-aaaaaa/a1.tar.zst', { range: { start, end } })) chunks.push(chunk as Buffer);
      expect(Buffer.concat(chunks).equals(want)).toBe(true);
      const target = Buffer.alloc(want.length + 7);
      expect((await reader.getBuffer('data/20261130T000000Z-aaaaaa/a1.tar.zst', { range: { start, end }, into: target })).equals(want)).toBe(true);
      // Into shared memory (as restores read): opened on the sealing thread.
      const shared = Buffer.from(new SharedArrayBuffer(want.length + 4096), 1000, want.length + 7);
      expect((await reader.getBuffer('data/20261130T000000Z-aaaaaa/a1.tar.zst', { range: { start, end }, into: shared })).equals(want)).toBe(true);
    }
    const whole: Buffer[] = [];
    for await (const chunk of await reader.get('data/20261130T000000Z-aaaaaa/a1.tar.zst')) whole.push(chunk as Buffer);
    expect(Buffer.concat(whole).equals(plain)).toBe(true);
    // A flipped byte is E_INTEGRITY on the sealing thread too, naming the object.
    const damaged = Buffer.from(raw);
    damaged[damaged.length - 3 * CHUNK_SIZE] ^= 1;
    await inner.put('data/20261130T000000Z-aaaaaa/a2.tar.zst', damaged);
    const into = Buffer.from(new SharedArrayBuffer(plain.length));
    await expect(reader.getBuffer('data/20261130T000000Z-aaaaaa/a2.tar.zst', { range: { start: 0, end: plain.length - 1 }, into })).rejects.toSatisfy(
      (error: unknown) => isCassetteError(error, 'E_INTEGRITY') && /a2\.tar\.zst: encrypted chunk \d+ fails its authentication/.test((error as Error).message),
    );
    // Without an identity: E_KEY naming what to pass.
    const locked = new EncryptedStore(inner, { recipients: [], identities: [] }, undefined);
    await expect(locked.getBuffer('data/20261130T000000Z-aaaaaa/a1.tar.zst', { range: { start: 0, end: 9 } })).rejects.toThrow(/--identity FILE.*CASSETTE_IDENTITY/);
    // Objects outside data/ pass through in plain text.
    await store.put('locks/x.json', Buffer.from('{"lease":1}'));
    expect((await inner.getBuffer('locks/x.json')).toString()).toBe('{"lease":1}');
  });
});

describe("the readers' own X25519 header code (x25519-header.ts) against the reference implementation", () => {
  it('opens what age-encryption and the age command write, to one or several recipients, and refuses altered headers', async () => {
    const { Encrypter } = await import('age-encryption');
    const plain = randomBytes(1000);
    const byLibrary = new Encrypter();
    byLibrary.addRecipient(other.recipient);
    byLibrary.addRecipient(key.recipient);
    const sealed = Buffer.from(await byLibrary.encrypt(plain));
    expect((await openObject(new Opener([key.identity]), sealed, 'x')).equals(plain)).toBe(true);
    expect((await openObject(new Opener([other.identity]), sealed, 'x')).equals(plain)).toBe(true);
    const byAge = await execa('age', ['-r', other.recipient, '-r', key.recipient], { input: plain, encoding: 'buffer', stripFinalNewline: false });
    expect((await openObject(new Opener([key.identity]), Buffer.from(byAge.stdout), 'x')).equals(plain)).toBe(true);
    // A changed stanza argument: the file key may still open, but the MAC does not match.
    const text = sealed.toString('latin1');
    const share = /-> X25519 (\S+)\n/.exec(text)![1]!;
    const altered = Buffer.from(text.replace(share, share.slice(0, -2) + (share.endsWith('A') ? 'BA' : 'AA')), 'latin1');
    await expect(openObject(new Opener([key.identity]), altered, 'x')).rejects.toSatisfy(
      (error: unknown) => isCassetteError(error, 'E_INTEGRITY') || isCassetteError(error, 'E_KEY'),
    );
    const badMac = Buffer.from(
      text.replace(/\n--- (\S)/, (_m, c: string) => `\n--- ${c === 'A' ? 'B' : 'A'}`),
      'latin1',
    );
    await expect(openObject(new Opener([key.identity]), badMac, 'x')).rejects.toSatisfy((error: unknown) => isCassetteError(error, 'E_INTEGRITY'));
  });

  it('decodes Bech32 identities and refuses a wrong checksum', async () => {
    const { bech32Bytes } = await import('../../src/crypto/x25519-header.js');
    expect(bech32Bytes(key.identity, 'age-secret-key-')?.length).toBe(32);
    const last = key.identity.at(-1)!;
    expect(bech32Bytes(key.identity.slice(0, -1) + (last === 'Q' ? 'P' : 'Q'), 'age-secret-key-')).toBeUndefined();
    expect(bech32Bytes(key.recipient, 'age')?.length).toBe(32);
  });
});
