import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { collectPgName } from '../../src/cli/common.js';
import { effectivePlan, readPlanFile, validatePlan, type EffectivePlanOptions, type PlanDatabase } from '../../src/plan/plan.js';
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
      name: 'site',
      repository: 's3://b/p',
      sources: ['/etc', { path: '/srv', exclude: ['*.tmp'], roles: ['primary'] }],
      databases: ['collage'],
      hooks: { 'pre-backup': 'true' },
      compressionLevel: 6,
      concurrency: 3,
      retention: { keepLast: 7 },
      tags: ['nightly'],
      roles: ['primary', 'secondary'],
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
    expect(() => profile('nope')).toThrow(/unknown runbook "nope"/);
  });
});

describe("--pg-name: a plan's database under another name", () => {
  const site = (...connections: string[]) =>
    validatePlan({
      name: 'site',
      sources: ['/etc'],
      databases: connections.map((connection) => ({ connection, format: 'custom', roles: ['primary'] })),
      roles: ['primary', 'secondary'],
    });

  it.each<{ name: string; plan: ReturnType<typeof profile>; options: EffectivePlanOptions; databases: PlanDatabase[] }>([
    {
      name: "the cassatt profile's collage, renamed",
      plan: profile('cassatt'),
      options: { pgNames: { collage: 'collage_test' } },
      databases: [{ connection: 'collage_test', format: 'tar', roles: ['primary'] }],
    },
    { name: 'no renames: the plan as it is', plan: profile('cassatt'), options: { pgNames: {} }, databases: [{ connection: 'collage', format: 'tar', roles: ['primary'] }] },
    {
      name: 'a role without the database: nothing to rename, no error',
      plan: profile('cassatt'),
      options: { role: 'secondary', pgNames: { collage: 'collage_test' } },
      databases: [],
    },
    {
      name: 'only the named one of two',
      plan: site('collage', 'inventory'),
      options: { pgNames: { inventory: 'inventory_copy' } },
      databases: [
        { connection: 'collage', format: 'custom', roles: ['primary'] },
        { connection: 'inventory_copy', format: 'custom', roles: ['primary'] },
      ],
    },
    {
      name: 'a URI keeps its server, credentials and parameters',
      plan: site('postgres://backup:pw@db1:5433/collage?sslmode=require'),
      options: { pgNames: { collage: 'collage test' } },
      databases: [{ connection: 'postgres://backup:pw@db1:5433/collage%20test?sslmode=require', format: 'custom', roles: ['primary'] }],
    },
    {
      name: 'a URI naming its database with ?dbname=',
      plan: site('postgres://db1/?dbname=collage'),
      options: { pgNames: { collage: 'c2' } },
      databases: [{ connection: 'postgres://db1/c2?dbname=c2', format: 'custom', roles: ['primary'] }],
    },
    {
      name: 'a name with "=" stays a name',
      plan: site('collage'),
      options: { pgNames: { collage: 'a=b' } },
      databases: [{ connection: 'a=b', format: 'custom', roles: ['primary'] }],
    },
  ])('$name', ({ plan, options, databases }) => {
    const before = structuredClone(plan);
    expect(effectivePlan(plan, options).databases).toEqual(databases);
    expect(plan).toEqual(before);
  });

  it.each<[string, EffectivePlanOptions, RegExp]>([
    ['a name the plan does not have', { pgNames: { colage: 'x' } }, /--pg-name colage=x: plan cassatt has no database "colage" \(its databases: collage\)/],
    ['an empty new name', { pgNames: { collage: '' } }, /--pg-name collage=: Expected a database name after "="/],
    ['a URI instead of a name', { pgNames: { collage: 'postgres://other/collage' } }, /Expected a database name after "=" \(for another server, use a plan file/],
  ])('refuses %s', (_, options, message) => {
    expect(() => effectivePlan(profile('cassatt'), options)).toThrow(message);
  });

  it.each<[string[], Record<string, string> | RegExp]>([
    [['collage=collage_test'], { collage: 'collage_test' }],
    [['collage=collage_test', 'inventory=inv2'], { collage: 'collage_test', inventory: 'inv2' }],
    [['collage=a=b'], { collage: 'a=b' }],
    [['collage=a', 'collage=b'], /--pg-name collage=… is given twice/],
    [['collage'], /Expected `--pg-name` to be NAME=DATABASE/],
    [['=collage'], /Expected `--pg-name` to be NAME=DATABASE/],
  ])('parses --pg-name %j', (values, expected) => {
    const parse = (): Record<string, string> => values.reduce<Record<string, string>>((previous, value) => collectPgName(value, previous), {});
    if (expected instanceof RegExp) expect(parse).toThrow(expected);
    else expect(parse()).toEqual(expected);
  });
});
