// POSIX ACL extended attributes (system.posix_acl_access / _default, the kernel's binary form) as the long text form GNU tar stores in SCHILY.acl.* records.

/** The two extended attributes that hold POSIX ACLs, and the pax record GNU tar writes for each. */
export const ACL_RECORDS = [
  ['system.posix_acl_access', 'SCHILY.acl.access'],
  ['system.posix_acl_default', 'SCHILY.acl.default'],
] as const;

const VERSION = 2;
const ENTRY_SIZE = 8;
const UNDEFINED_ID = 0xffffffff;
const TAGS: Record<number, string> = { 0x01: 'user', 0x02: 'user', 0x04: 'group', 0x08: 'group', 0x10: 'mask', 0x20: 'other' };
/** Tags whose entries name a user or group (ACL_USER, ACL_GROUP). */
const QUALIFIED = new Set([0x02, 0x08]);

/**
 * The ACL in the long text form of acl_to_text(3), one entry per line, each ending in `\n`
 * (`user::rw-\nuser:1000:r-x\ngroup::r--\nmask::r-x\nother::r--\n`), with numeric qualifiers
 * (as `getfacl -n` prints them), so the text means the same on every host. Undefined when the
 * value is not a version-2 ACL.
 */
export function aclText(value: Buffer): string | undefined {
  if (value.length < 4 || (value.length - 4) % ENTRY_SIZE !== 0 || value.readUInt32LE(0) !== VERSION) return undefined;
  let text = '';
  for (let at = 4; at < value.length; at += ENTRY_SIZE) {
    const tag = value.readUInt16LE(at);
    const perm = value.readUInt16LE(at + 2);
    const id = value.readUInt32LE(at + 4);
    const name = TAGS[tag];
    if (name === undefined) return undefined;
    const qualifier = QUALIFIED.has(tag) && id !== UNDEFINED_ID ? String(id) : '';
    text += `${name}:${qualifier}:${perm & 4 ? 'r' : '-'}${perm & 2 ? 'w' : '-'}${perm & 1 ? 'x' : '-'}\n`;
  }
  return text;
}
