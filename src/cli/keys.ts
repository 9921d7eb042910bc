// The key flags: --encrypt-to, --encrypt-to-file and --allow-mixed-encryption on backup; --identity and --passphrase-file on every command that reads.

import { Option, type Command } from 'commander';
import { collect } from './common.js';

/** --identity and --passphrase-file: what opens an encrypted repository. */
export function withIdentityOptions(command: Command): Command {
  return command
    .addOption(new Option('--identity <file>', 'age identity file that opens encrypted snapshots (repeatable; default: $CASSETTE_IDENTITY)').argParser(collect))
    .addOption(new Option('--passphrase-file <file>', "file holding the repository's passphrase (default: $CASSETTE_PASSPHRASE, the passphrase itself)"));
}

/** withIdentityOptions, and the recipients a backup encrypts to. */
export function withEncryptionOptions(command: Command): Command {
  return withIdentityOptions(command)
    .addOption(new Option('--encrypt-to <recipient>', 'encrypt to this age recipient (age1…; repeatable): the backup host needs no secret key').argParser(collect))
    .addOption(new Option('--encrypt-to-file <file>', 'encrypt to the recipients in this file (age1… lines, as `age -R` reads; repeatable)').argParser(collect))
    .addOption(
      new Option('--allow-mixed-encryption', 'store an unencrypted snapshot in an encrypted repository, or an encrypted one in a repository that holds unencrypted snapshots'),
    );
}
