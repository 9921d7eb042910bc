import { describe, expect, it } from 'vitest';
import { planDeletions, type DeletionRules, type TargetKind, type TargetView } from '../../src/restore/delete-extra.js';
import { compileSelector, type SelectOptions } from '../../src/restore/select.js';

type Child = { kind: TargetKind; mountPoint?: boolean };

/** A target tree as `path: kind` (parents implied as directories); `mount` marks a mount point. */
function view(paths: Record<string, TargetKind | 'mount'>): TargetView & { listed: string[] } {
  const children = new Map<string, Map<string, Child>>();
  const add = (p: string, child: Child): void => {
    const slash = p.lastIndexOf('/');
    const dir = slash < 0 ? '' : p.slice(0, slash);
    if (dir !== '') add(dir, { kind: 'dir' });
    const list = children.get(dir) ?? new Map<string, Child>();
    children.set(dir, list);
    const name = p.slice(slash + 1);
    // An implied parent does not overwrite what the table says the path is.
    if (!list.has(name) || child.kind !== 'dir' || child.mountPoint) list.set(name, child);
  };
  for (const [p, kind] of Object.entries(paths)) add(p, kind === 'mount' ? { kind: 'dir', mountPoint: true } : { kind });
  const listed: string[] = [];
  return {
    listed,
    list: (dir) => {
      listed.push(dir.toString());
      return [...(children.get(dir.toString()) ?? new Map<string, Child>()).entries()]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([name, child]) => ({ name: Buffer.from(name), ...child }));
    },
  };
}

function plan(target: Record<string, TargetKind | 'mount'>, snapshot: string[], selection: SelectOptions = {}, nested: string[] = []): string[] {
  const selected = compileSelector(selection);
  const kept = new Set(snapshot);
  const rules: DeletionRules = {
    kept: (rel) => kept.has(rel.toString()),
    selected: (rel) => selected('art', rel.toString()),
    skipped: (rel) => nested.includes(rel.toString()),
  };
  return [...planDeletions(view(target), rules)].map((d) => `${d.kind} ${d.rel.toString()}`);
}

describe('planDeletions', () => {
  it.each<{ name: string; target: Record<string, TargetKind | 'mount'>; snapshot: string[]; selection?: SelectOptions; nested?: string[]; expected: string[] }>([
    { name: 'a target that holds just the snapshot: nothing', target: { a: 'file', 'd/b': 'file' }, snapshot: ['a', 'd', 'd/b'], expected: [] },
    { name: 'an extra file', target: { a: 'file', extra: 'file' }, snapshot: ['a'], expected: ['file extra'] },
    {
      name: 'an extra directory: its contents first, then itself',
      target: { a: 'file', 'x/y/z': 'file', 'x/w': 'file' },
      snapshot: ['a'],
      expected: ['file x/w', 'file x/y/z', 'dir x/y', 'dir x'],
    },
    { name: 'an extra file inside a kept directory', target: { 'd/a': 'file', 'd/extra': 'file' }, snapshot: ['d', 'd/a'], expected: ['file d/extra'] },
    {
      name: 'a symlink is deleted as a link, never entered (even one to a directory)',
      target: { link: 'symlink', a: 'file' },
      snapshot: ['a'],
      expected: ['symlink link'],
    },
    { name: 'a symlink the snapshot holds stays', target: { link: 'symlink' }, snapshot: ['link'], expected: [] },
    { name: 'special files are deleted too', target: { fifo: 'other' }, snapshot: [], expected: ['other fifo'] },
    { name: 'a mount point is never entered nor deleted', target: { mnt: 'mount', a: 'file' }, snapshot: [], expected: ['file a'] },
    {
      name: 'the root of a nested artifact is never entered nor deleted, and keeps its parent',
      target: { 'srv/data/x': 'file', 'srv/extra': 'file' },
      snapshot: [],
      nested: ['srv/data'],
      expected: ['file srv/extra'],
    },
    {
      name: 'with --include, only selected paths are candidates',
      target: { 'etc/ssh/extra': 'file', 'etc/ssh/sshd_config': 'file', 'etc/other': 'file' },
      snapshot: ['etc', 'etc/ssh', 'etc/ssh/sshd_config'],
      selection: { include: ['art/etc/ssh'] },
      expected: ['file etc/ssh/extra'],
    },
    {
      name: 'with --exclude, excluded paths are never candidates, and keep their directory',
      target: { 'x/keep.log': 'file', 'x/gone': 'file', 'y.log': 'file' },
      snapshot: [],
      selection: { exclude: ['*.log'] },
      expected: ['file x/gone'],
    },
    {
      name: 'a selected file whose directory is not selected: the file only',
      target: { 'd/a.conf': 'file', 'd/b': 'file' },
      snapshot: [],
      selection: { include: ['*.conf'] },
      expected: ['file d/a.conf'],
    },
    {
      name: 'a file the snapshot holds, inside a directory it does not, keeps the directory',
      target: { 'd/a': 'file', 'd/b': 'file' },
      snapshot: ['d/a'],
      expected: ['file d/b'],
    },
    {
      name: 'names with glob characters and dots are plain names here',
      target: { '[1].txt': 'file', '.hidden': 'file', '*': 'file' },
      snapshot: ['*'],
      expected: ['file .hidden', 'file [1].txt'],
    },
    { name: 'an empty target: nothing', target: {}, snapshot: ['a'], expected: [] },
  ])('$name', ({ target, snapshot, selection, nested, expected }) => {
    expect(plan(target, snapshot, selection, nested)).toEqual(expected);
  });

  it('lists only directories it enters: not a symlink, a mount point or a nested root', () => {
    const target = view({ 'link/x': 'file', mnt: 'mount', 'nested/y': 'file', 'd/z': 'file' });
    // 'link/x' makes link a directory in the view; mark it a symlink the way lstat would.
    const symlinkView: TargetView = {
      list: (dir) => target.list(dir).map((child) => (child.name.toString() === 'link' ? { name: child.name, kind: 'symlink' as const } : child)),
    };
    const rules: DeletionRules = { kept: () => false, selected: () => true, skipped: (rel) => rel.toString() === 'nested' };
    expect([...planDeletions(symlinkView, rules)].map((d) => d.rel.toString())).toEqual(['d/z', 'd', 'link']);
    expect(target.listed).toEqual(['', 'd']);
  });
});
