import { describe, expect, it } from 'vitest';
import { isCassetteError } from '../../src/errors.js';
import { findStoredFile, splitArtifactPath } from '../../src/inspect/cat.js';
import { artifact, dir, entry, memoryIndexes, record } from '../helpers/index-entries.js';

describe('splitArtifactPath', () => {
  it.each([
    { target: 'etc/hosts', expected: { artifact: 'etc', path: 'hosts' } },
    { target: '/etc/ssh/sshd_config', expected: { artifact: 'etc', path: 'ssh/sshd_config' } },
    { target: 'etc/ssh/', expected: { artifact: 'etc', path: 'ssh' } },
    { target: 'etc', expected: { artifact: 'etc', path: '' } },
    { target: 'srv-data/a[1].txt', expected: { artifact: 'srv-data', path: 'a[1].txt' } },
  ])('$target', ({ target, expected }) => {
    expect(splitArtifactPath(target)).toEqual(expected);
  });

  it('refuses an empty path', () => {
    for (const target of ['', '/', '//']) expect(() => splitArtifactPath(target)).toThrow(/artifact\/path/);
  });
});

describe('findStoredFile', () => {
  const snapshot = record('S', [artifact('etc', { index: { key: 'S/etc', size: 0 } })]);
  const indexes = memoryIndexes({
    'S/etc': [
      dir('ssh'),
      entry('ssh/key', { size: 3 }),
      entry('a[1].txt', { size: 4 }),
      entry('key-link', { type: 'hardlink', size: 0, link: 'ssh/key', sha256: undefined }),
      entry('sym', { type: 'symlink', size: 0, link: 'ssh/key', sha256: undefined }),
      entry('fifo', { type: 'fifo', size: 0, sha256: undefined }),
    ],
  });

  it('finds a file by its exact path, glob characters included', async () => {
    expect((await findStoredFile(snapshot, 'etc/ssh/key', indexes.open)).entry.path).toBe('ssh/key');
    expect((await findStoredFile(snapshot, 'etc/a[1].txt', indexes.open)).entry.size).toBe(4);
  });

  it('follows a hard link to its file', async () => {
    expect((await findStoredFile(snapshot, 'etc/key-link', indexes.open)).entry).toMatchObject({ path: 'ssh/key', type: 'file', size: 3 });
  });

  it.each([
    { target: 'etc/ssh', message: 'etc/ssh is a directory, not a file' },
    { target: 'etc', message: 'etc is an artifact (a directory), not a file' },
    { target: 'etc/nothing', message: 'snapshot S has no entry etc/nothing' },
    { target: 'etc/ssh/*', message: 'snapshot S has no entry etc/ssh/*' },
    { target: 'var/log/x', message: 'snapshot S has no artifact "var" (it has etc)' },
    { target: 'etc/sym', message: 'etc/sym is a symlink to ssh/key, not a file' },
    { target: 'etc/fifo', message: 'etc/fifo is a fifo, not a regular file' },
  ])('$target: not found (exit 4), saying why', async ({ target, message }) => {
    const error: unknown = await findStoredFile(snapshot, target, indexes.open).catch((e: unknown) => e);
    expect(isCassetteError(error, 'E_NOT_FOUND')).toBe(true);
    expect((error as Error).message).toContain(message);
  });
});
