// Parsing of `--pg` values: names, URIs, display forms without passwords, maintenance connections.

import { describe, expect, it } from 'vitest';
import { connectionArgs, databaseArtifactName, maintenanceArgs, parsePgConnection, sqlLiteral, withDatabase } from '../../src/pg/connection.js';

describe('parsePgConnection', () => {
  it.each([
    ['collage', { database: 'collage', display: 'collage', dbname: 'collage' }],
    ['my db', { database: 'my db', display: 'my db', dbname: 'my db' }],
    ["a=b'c", { database: "a=b'c", display: "a=b'c", dbname: "dbname='a=b\\'c'" }],
    ['postgres://backup@db1/inventory', { database: 'inventory', display: 'postgres://backup@db1/inventory', dbname: 'postgres://backup@db1/inventory' }],
    ['postgresql://u:s3cret@db1:5433/inv%20entory?sslmode=require', { database: 'inv entory', display: 'postgresql://u@db1:5433/inv%20entory?sslmode=require' }],
    ['postgres://u:pw@h1:5432,h2:5433/app?target_session_attrs=read-write', { database: 'app', display: 'postgres://u@h1:5432,h2:5433/app?target_session_attrs=read-write' }],
    ['postgres:///app?host=/var/run/postgresql&password=x', { database: 'app', display: 'postgres:///app?host=/var/run/postgresql' }],
    ['postgres://h/?dbname=other', { database: 'other', display: 'postgres://h?dbname=other' }],
  ])('%s', (value, expected) => {
    expect(parsePgConnection(value)).toMatchObject(expected);
  });

  it.each([
    ['', /empty/],
    ['postgres://user:secret@host', /names no database/],
    ['mysql://host/db', /neither a database name nor/],
  ])('rejects %j', (value, message) => {
    expect(() => parsePgConnection(value)).toThrow(message);
    try {
      parsePgConnection(value);
    } catch (error) {
      expect((error as { code: string }).code).toBe('E_USAGE');
      expect((error as Error).message).not.toContain('secret');
    }
  });
});

describe('withDatabase and maintenance connections', () => {
  it('replaces the database of a URI, keeping credentials for the tools but not the display', () => {
    const target = withDatabase(parsePgConnection('postgres://u:pw@db1:5433/inventory?sslmode=require'), 'inv_check');
    expect(target).toMatchObject({
      database: 'inv_check',
      display: 'postgres://u@db1:5433/inv_check?sslmode=require',
      dbname: 'postgres://u:pw@db1:5433/inv_check?sslmode=require',
    });
    expect(connectionArgs(target)).toEqual(['-d', 'postgres://u:pw@db1:5433/inv_check?sslmode=require']);
    expect(maintenanceArgs(target)).toEqual(['--maintenance-db', 'postgres://u:pw@db1:5433/postgres?sslmode=require']);
  });

  it('uses postgres for names, and template1 when the database is postgres itself', () => {
    expect(maintenanceArgs(parsePgConnection('collage'))).toEqual(['--maintenance-db', 'postgres']);
    expect(maintenanceArgs(parsePgConnection('postgres'))).toEqual(['--maintenance-db', 'template1']);
    expect(withDatabase(parsePgConnection('postgres://h/?dbname=a'), 'b').dbname).toBe('postgres://h/b?dbname=b');
  });
});

describe('names and literals', () => {
  it.each([
    ['collage', 'pg-collage'],
    ['my db/ü', 'pg-my_db__'],
    ['a.b-c_d', 'pg-a.b-c_d'],
  ])('artifact of %s is %s', (name, artifact) => {
    expect(databaseArtifactName(name)).toBe(artifact);
  });

  it.each([
    ['plain', "'plain'"],
    ["o'neil", "'o''neil'"],
    ['back\\slash', "E'back\\\\slash'"],
  ])('sqlLiteral(%j)', (value, literal) => {
    expect(sqlLiteral(value)).toBe(literal);
  });
});
