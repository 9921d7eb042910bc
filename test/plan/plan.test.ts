import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { effectivePlan, readPlanFile, validatePlan } from '../../src/plan/plan.js';
import { profile } from '../../src/plan/profiles.js';

describe('validatePlan', () => {
  it.each([
    [{ sources: ['/etc'], bogus: 1 }, /plan bogus: unknown key/],
    [{ sources: 'etc' }, /plan sources: must be a list/],
    [{ sources: ['etc'] }, /plan sources\[0\]\.path: must be an absolute path/],
    [{ sources: [{ path: '/etc', name: 'bad name' }] }, /plan sources\[0\]\.name/],
    [{ sources: [{ path: '/etc', colour: 'red' }] }, /plan sources\[0\]\.colour: unknown key/],
    [{ sources: ['/etc'], hooks: { 'pre-bakup': 'x' } }, /plan hooks\.pre-bakup: unknown key/],
    [{ sources: ['/etc'], hooks: { 'pre-backup': '' } }, /plan hooks\.pre-backup: must be a shell command/],
    [{ sources: ['/etc'], compressionLevel: 30 }, /plan compressionLevel: must be a whole number from 1 to 19/],
    [{ sources: ['/etc'], retention: { keepDaily: -1 } }, /plan retention\.keepDaily/],
    [{ sources: ['/etc'], retention: { keepForever: 1 } }, /plan retention\.keepForever: unknown key/],
    [{ databases: [{ connection: 'x', format: 'zip' }] }, /plan databases\[0\]\.format: must be "tar" or "custom"/],
    [{}, /needs at least one source or database/],
    ['just text', /a plan must be a mapping/],
  ])('rejects %j naming the bad key', (document, message) => {
    expect(() => validatePlan(document)).toThrow(message);
  });

  it('accepts a complete plan', () => {
    const plan = validatePlan({
      name: 'site', repository: 's3://b/p', sources: ['/etc', { path: '/srv', exclude: ['*.tmp'], roles: ['primary'] }],
      databases: ['collage'], hooks: { 'pre-backup': 'true' }, compressionLevel: 6, concurrency: 3,
      retention: { keepLast: 7 }, tags: ['nightly'], roles: ['primary', 'secondary'],
    });
    expect(plan.sources).toHaveLength(2);
    expect(plan.databases[0]!.connection).toBe('collage');
    expect(plan.retention).toEqual({ keepLast: 7 });
  });

  it('reads YAML and JSON files and names the file in errors', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-plan-'));
    await fs.writeFile(path.join(dir, 'ok.yaml'), 'sources:\n  - /etc\n  - path: /var\n    exclude: ["*.log"]\nretention:\n  keepLast: 3\n');
    await fs.writeFile(path.join(dir, 'ok.json'), JSON.stringify({ sources: ['/etc'] }));
    await fs.writeFile(path.join(dir, 'bad.yaml'), 'sources:\n  - /etc\nkeep_last: 3\n');
    await fs.writeFile(path.join(dir, 'broken.yaml'), 'sources: [/etc\n');
    expect((await readPlanFile(path.join(dir, 'ok.yaml'))).sources[1]!.exclude).toEqual(['*.log']);
    expect((await readPlanFile(path.join(dir, 'ok.json'))).sources[0]!.path).toBe('/etc');
    await expect(readPlanFile(path.join(dir, 'bad.yaml'))).rejects.toThrow(/bad\.yaml: plan keep_last: unknown key/);
    await expect(readPlanFile(path.join(dir, 'broken.yaml'))).rejects.toThrow(/broken\.yaml is not valid YAML/);
    await expect(readPlanFile(path.join(dir, 'missing.yaml'))).rejects.toThrow(/cannot read plan file/);
    await fs.rm(dir, { recursive: true });
  });
});

describe('the cassatt profile', () => {
  it('backs up every runbook path and the collage database on the primary', () => {
    const plan = effectivePlan(profile('cassatt'), {});
    expect(plan.sources.map((s) => s.path)).toEqual(['/', '/cassatt', '/cassatt/database', '/var', '/usr/lib/php4', '/opt', '/etc', '/root', '/lib/modules']);
    expect(plan.databases.map((d) => d.connection)).toEqual(['collage']);
    expect(plan.databases[0]!.format).toBe('tar');
  });

  it('leaves out /cassatt and /cassatt/database on the secondary', () => {
    const plan = effectivePlan(profile('cassatt'), { role: 'secondary' });
    expect(plan.sources.map((s) => s.path)).not.toContain('/cassatt');
    expect(plan.sources.map((s) => s.path)).not.toContain('/cassatt/database');
    expect(plan.databases).toEqual([]);
    expect(plan.exclude).toEqual(expect.arrayContaining(['/cassatt', '/cassatt/database']));
  });

  it('re-roots every path and skips images on request', () => {
    const plan = effectivePlan(profile('cassatt'), { root: '/mnt/node', skipImages: true });
    expect(plan.sources.map((s) => s.path)).toContain('/mnt/node/cassatt/database');
    expect(plan.sources[0]!.path).toBe('/mnt/node');
    expect(plan.exclude).toContain('/mnt/node/cassatt/images');
    expect(plan.exclude).toContain('/mnt/node/proc');
  });

  it('never restores the three utility images by default', () => {
    expect(profile('cassatt').restoreExclude).toEqual(['cassatt/images/CollageIdle', 'cassatt/images/CollageInventory', 'cassatt/images/CollageDiagnostic']);
  });

  it('rejects an unknown role or profile', () => {
    expect(() => effectivePlan(profile('cassatt'), { role: 'tertiary' })).toThrow(/unknown role "tertiary"/);
    expect(() => profile('nope')).toThrow(/unknown profile "nope"/);
  });
});
