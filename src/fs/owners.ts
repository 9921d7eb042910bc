// Owner and group names ↔ numbers from this system's user database: /etc/passwd and /etc/group, then `getent` for the rest (LDAP, SSSD), cached.
//
// Backup records the names next to the numbers; restore maps by name when the name exists here,
// else keeps the number, as GNU tar does. `getent` runs once per distinct id or name that the
// files do not know (a handful per run), never once per file.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

type Kind = 'passwd' | 'group';

/** One `name:x:id:…` line's name and id, or undefined (as glibc's files backend: leading blanks skipped, a `#` line is a comment). */
function parseLine(line: string): { name: string; id: number } | undefined {
  const entry = line.replace(/^[ \t]+/, '');
  if (entry.startsWith('#')) return undefined;
  const [name, , id] = entry.split(':');
  if (!name || id === undefined || !/^\d+$/.test(id)) return undefined;
  return { name, id: Number(id) };
}

/** `getent <kind> <key>`: the first matching line, or undefined (no such entry, or no getent). */
function getent(kind: Kind, key: string): string | undefined {
  try {
    return execFileSync('getent', [kind, key], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0];
  } catch {
    return undefined;
  }
}

class NameTable {
  private readonly byId = new Map<number, string | undefined>();
  private readonly byName = new Map<string, number | undefined>();

  constructor(
    private readonly kind: Kind,
    file: string,
    private readonly lookup: (kind: Kind, key: string) => string | undefined,
  ) {
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      // No file: every question goes to getent.
    }
    for (const line of text.split('\n')) {
      const parsed = parseLine(line);
      if (!parsed) continue;
      // The first line wins, as getpwuid does.
      if (!this.byId.has(parsed.id)) this.byId.set(parsed.id, parsed.name);
      if (!this.byName.has(parsed.name)) this.byName.set(parsed.name, parsed.id);
    }
  }

  nameOf(id: number): string | undefined {
    if (!this.byId.has(id)) {
      const parsed = parseLine(this.lookup(this.kind, String(id)) ?? '');
      this.byId.set(id, parsed?.id === id ? parsed.name : undefined);
    }
    return this.byId.get(id);
  }

  idOf(name: string): number | undefined {
    if (!this.byName.has(name)) {
      // A purely numeric "name" would be read by getent as an id.
      const parsed = /^\d+$/.test(name) ? undefined : parseLine(this.lookup(this.kind, name) ?? '');
      this.byName.set(name, parsed?.name === name ? parsed.id : undefined);
    }
    return this.byName.get(name);
  }
}

export interface UserDatabaseOptions {
  passwdFile?: string;
  groupFile?: string;
  /** Asked for ids and names the files do not hold; default `getent`. */
  lookup?: (kind: Kind, key: string) => string | undefined;
}

/** Names and numbers of users and groups, read once and cached. */
export class UserDatabase {
  private readonly users: NameTable;
  private readonly groups: NameTable;

  constructor(options: UserDatabaseOptions = {}) {
    const lookup = options.lookup ?? getent;
    this.users = new NameTable('passwd', options.passwdFile ?? '/etc/passwd', lookup);
    this.groups = new NameTable('group', options.groupFile ?? '/etc/group', lookup);
  }

  userName(uid: number): string | undefined {
    return this.users.nameOf(uid);
  }

  groupName(gid: number): string | undefined {
    return this.groups.nameOf(gid);
  }

  uidOf(name: string): number | undefined {
    return this.users.idOf(name);
  }

  gidOf(name: string): number | undefined {
    return this.groups.idOf(name);
  }
}

let system: UserDatabase | undefined;

/** This machine's user database, made on first use. */
export function systemUsers(): UserDatabase {
  return (system ??= new UserDatabase());
}
