// The keys of an encrypted repository: age recipients (public, for backups) and identities (secret, for reading), read from flags, files and the environment, and the passphrase mode's repository key.

import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import { CassetteError, isCassetteError, messageOf } from '../errors.js';
import type { ObjectStore } from '../store/object-store.js';

/** Where the passphrase mode keeps the repository's identity, encrypted with the passphrase (age scrypt). */
export const PASSPHRASE_KEY_KEY = 'keys/passphrase.age';

const RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/;
const IDENTITY = /^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$/;

/** The keys a command was given. */
export interface Keys {
  /** age X25519 recipients (age1…) new objects are encrypted to; empty when the command only reads. */
  recipients: string[];
  /** age identities (AGE-SECRET-KEY-1…) that open objects. */
  identities: string[];
  /** Where the identities came from, for messages ("--identity key.txt"). */
  identitySource?: string;
}

/** The recipients' fingerprint stored in commit records: which key set a snapshot is encrypted to. Incremental backups reuse frames only within one. */
export function recipientsFingerprint(recipients: readonly string[]): string {
  const sorted = [...new Set(recipients)].sort();
  return `age:${createHash('sha256').update(sorted.join('\n')).digest('hex').slice(0, 32)}`;
}

/** Check one recipient string (`where` names its origin); only native X25519 recipients are taken. */
export function checkRecipient(value: string, where: string): string {
  const recipient = value.trim();
  if (RECIPIENT.test(recipient)) return recipient;
  if (/^(ssh-|ecdsa-)/.test(recipient))
    throw new CassetteError('E_USAGE', `${where}: SSH keys are not supported as recipients; give an age X25519 recipient (age1…, from \`cassette key generate\` or age-keygen)`);
  if (recipient.startsWith('age1'))
    throw new CassetteError(
      'E_USAGE',
      `${where}: "${recipient}" is not an age X25519 recipient (age1 followed by 58 characters; post-quantum and plugin recipients are not supported)`,
    );
  if (recipient.startsWith('AGE-SECRET-KEY-'))
    throw new CassetteError(
      'E_USAGE',
      `${where}: this is a secret identity, not a recipient: a backup needs only the public key (the "# public key: age1…" line of the identity file)`,
    );
  throw new CassetteError('E_USAGE', `${where}: "${recipient.slice(0, 20)}${recipient.length > 20 ? '…' : ''}" is not an age recipient (age1…)`);
}

/** The meaningful lines of a key file: not blank, not a `#` comment. */
function keyLines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

async function readKeyFile(file: string, what: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    throw new CassetteError('E_USAGE', `cannot read the ${what} ${file}: ${messageOf(error)}`, { cause: error });
  }
}

/** Recipients from a recipients file (one age1… per line, `#` comments), as `age -R` reads it. An identity file is accepted too: its public keys are used. */
export async function readRecipientsFile(file: string): Promise<string[]> {
  const lines = keyLines(await readKeyFile(file, 'recipients file'));
  if (lines.length === 0) throw new CassetteError('E_USAGE', `the recipients file ${file} holds no recipient (age1… lines)`);
  const recipients: string[] = [];
  for (const [i, line] of lines.entries()) {
    recipients.push(IDENTITY.test(line) ? await identityToRecipient(line) : checkRecipient(line, `${file} line ${i + 1}`));
  }
  return recipients;
}

/** Identities from an age identity file (as age-keygen and `cassette key generate` write it). */
export async function readIdentityFile(file: string): Promise<string[]> {
  const lines = keyLines(await readKeyFile(file, 'identity file'));
  if (lines.length === 0) throw new CassetteError('E_USAGE', `the identity file ${file} holds no identity (an AGE-SECRET-KEY-1… line)`);
  return lines.map((line, i) => {
    if (IDENTITY.test(line)) return line;
    if (RECIPIENT.test(line)) throw new CassetteError('E_USAGE', `${file} line ${i + 1} is a public key (age1…): reading needs the secret identity file (AGE-SECRET-KEY-1…)`);
    throw new CassetteError('E_USAGE', `${file} line ${i + 1} is not an age identity (AGE-SECRET-KEY-1…; SSH and plugin identities are not supported)`);
  });
}

/** age-encryption, loaded when first needed: commands that only read with identities never do (x25519-header.ts). */
function ageLibrary(): Promise<typeof import('age-encryption')> {
  return import('age-encryption');
}

/** The recipient (public key) of an identity. */
export async function identityToRecipient(identity: string): Promise<string> {
  return (await ageLibrary()).identityToRecipient(identity);
}

/** A new identity file's text and its recipient. */
export async function generateKey(now = new Date()): Promise<{ text: string; identity: string; recipient: string }> {
  const identity = await (await ageLibrary()).generateX25519Identity();
  const recipient = await identityToRecipient(identity);
  return { identity, recipient, text: `# created: ${now.toISOString()}\n# public key: ${recipient}\n${identity}\n` };
}

/** Open the passphrase mode's key object with the passphrase. */
async function openPassphraseKey(stored: Buffer, passphrase: string): Promise<{ identity: string; recipient: string }> {
  const decrypter = new (await ageLibrary()).Decrypter();
  decrypter.addPassphrase(passphrase);
  let text: string;
  try {
    text = await decrypter.decrypt(new Uint8Array(stored), 'text');
  } catch (error) {
    throw new CassetteError('E_KEY', `the passphrase does not open the repository's key (${PASSPHRASE_KEY_KEY}): wrong passphrase`, { cause: error });
  }
  const identity = keyLines(text).find((line) => IDENTITY.test(line));
  if (!identity) throw new CassetteError('E_INTEGRITY', `${PASSPHRASE_KEY_KEY} holds no age identity`);
  return { identity, recipient: await identityToRecipient(identity) };
}

async function readPassphraseKey(store: Pick<ObjectStore, 'getBuffer'>): Promise<Buffer | undefined> {
  try {
    return await store.getBuffer(PASSPHRASE_KEY_KEY);
  } catch (error) {
    if (isCassetteError(error, 'E_NOT_FOUND')) return undefined;
    throw error;
  }
}

/**
 * The passphrase mode: the repository's identity, stored at `keys/passphrase.age` encrypted with
 * the passphrase (age scrypt). Every snapshot is encrypted to its recipient, so the passphrase is
 * stretched once per command, not per object. A new key is read back after it is written: of two
 * first backups that race, both take the key that was stored last (a store without conditional
 * writes cannot do better; see the README).
 */
async function createPassphraseKey(store: Pick<ObjectStore, 'getBuffer' | 'put'>, passphrase: string): Promise<{ identity: string; recipient: string }> {
  const key = await generateKey();
  const encrypter = new (await ageLibrary()).Encrypter();
  encrypter.setPassphrase(passphrase);
  const sealed = Buffer.from(await encrypter.encrypt(key.text));
  await store.put(PASSPHRASE_KEY_KEY, sealed);
  const after = await readPassphraseKey(store);
  if (after === undefined) throw new CassetteError('E_STORAGE', `${PASSPHRASE_KEY_KEY} was written but cannot be read back`);
  return after.equals(sealed) ? key : openPassphraseKey(after, passphrase);
}

/** What the key flags of a command say, before the repository is opened. */
export interface KeyFlags {
  /** --encrypt-to age1…, repeatable. */
  encryptTo?: string[];
  /** --encrypt-to-file FILE, repeatable. */
  encryptToFile?: string[];
  /** --identity FILE, repeatable (default $CASSETTE_IDENTITY). */
  identity?: string[];
  /** --passphrase-file FILE (default $CASSETTE_PASSPHRASE, the passphrase itself). */
  passphraseFile?: string;
}

/** How the passphrase mode may start: a backup may create the repository's passphrase key, and whether the repository says it had one. */
export interface PassphraseRules {
  /** A backup: create the key when the repository has none (see resolveKeys for when it may). */
  create: boolean;
  /** repository.json says the passphrase mode was set up (the key object must then exist). */
  expected?: boolean;
}

/**
 * The keys of a command: recipients from --encrypt-to and --encrypt-to-file; identities from
 * --identity or $CASSETTE_IDENTITY (a file); the passphrase from --passphrase-file or
 * $CASSETTE_PASSPHRASE, which opens the repository's passphrase key and adds it to both.
 * - A backup creates that key only when the passphrase is all it was given, or the passphrase
 *   came from --passphrase-file; never when a passphrase left in the environment meets
 *   --encrypt-to, which would add a secret key to a public-key setup.
 * - A repository that had one and lost it (`expected`) is refused: a new key would leave the older
 *   snapshots unreadable by passphrase, unnoticed until a restore.
 * - A command that reads, given identities, ignores a passphrase from the environment when the
 *   repository has no passphrase key.
 */
export async function resolveKeys(flags: KeyFlags, store: Pick<ObjectStore, 'getBuffer' | 'put'>, rules: PassphraseRules): Promise<Keys & { createdPassphraseKey?: boolean }> {
  const recipients: string[] = [];
  for (const value of flags.encryptTo ?? []) recipients.push(checkRecipient(value, '--encrypt-to'));
  for (const file of flags.encryptToFile ?? []) recipients.push(...(await readRecipientsFile(file)));
  const identityFiles = flags.identity?.length ? flags.identity : process.env.CASSETTE_IDENTITY ? [process.env.CASSETTE_IDENTITY] : [];
  const identities: string[] = [];
  for (const file of identityFiles) identities.push(...(await readIdentityFile(file)));
  let identitySource = identityFiles.length > 0 ? (flags.identity?.length ? `--identity ${identityFiles.join(', ')}` : `CASSETTE_IDENTITY=${identityFiles[0]!}`) : undefined;
  const fromFlag = flags.passphraseFile !== undefined;
  const passphrase = fromFlag ? (await readKeyFile(flags.passphraseFile!, 'passphrase file')).replace(/\r?\n$/, '') : process.env.CASSETTE_PASSPHRASE;
  const where = fromFlag ? `--passphrase-file ${flags.passphraseFile!}` : 'CASSETTE_PASSPHRASE';
  let createdPassphraseKey = false;
  if (passphrase !== undefined) {
    if (passphrase === '') throw new CassetteError('E_USAGE', `the passphrase is empty (${where})`);
    const stored = await readPassphraseKey(store);
    const exists = stored !== undefined;
    if (!exists && rules.expected)
      throw new CassetteError(
        'E_KEY',
        `the repository was set up with a passphrase (repository.json), but its key ${PASSPHRASE_KEY_KEY} is missing: restore that object from a copy; a new key would leave the older snapshots unreadable by the passphrase`,
      );
    const mayCreate = rules.create && (fromFlag || recipients.length === 0);
    if (!exists && !mayCreate) {
      if (rules.create)
        throw new CassetteError(
          'E_USAGE',
          `CASSETTE_PASSPHRASE is set and this backup also encrypts to --encrypt-to/--encrypt-to-file recipients, but the repository has no passphrase key: unset CASSETTE_PASSPHRASE, or give --passphrase-file FILE to add the passphrase mode`,
        );
      if (identities.length === 0)
        throw new CassetteError(
          'E_KEY',
          `a passphrase was given (${where}), but the repository has no passphrase key (${PASSPHRASE_KEY_KEY}): its snapshots are encrypted to identities; pass --identity FILE`,
        );
    } else {
      // Read once above: opened here, or created when the repository has none.
      const key = stored !== undefined ? await openPassphraseKey(stored, passphrase) : await createPassphraseKey(store, passphrase);
      recipients.push(key.recipient);
      identities.push(key.identity);
      identitySource = identitySource ? `${identitySource} and the passphrase` : 'the passphrase';
      createdPassphraseKey = !exists;
    }
  }
  return { recipients: [...new Set(recipients)], identities, identitySource, createdPassphraseKey };
}
