// `cassette key generate`: write a new age identity file (the secret key) and print its recipient (the public key a backup encrypts to).

import { Command } from 'commander';
import fs from 'node:fs/promises';
import { generateKey } from '../../crypto/keys.js';
import { CassetteError, messageOf } from '../../errors.js';
import { run } from '../common.js';
import { EXIT_CODES_HELP } from '../exit-codes.js';

export function keyCommand(): Command {
  const key = new Command('key').description('manage the age keys of encrypted repositories');
  key.addCommand(
    new Command('generate')
      .description('write a new age identity file (secret: keep it off the backup host, and keep a copy offline) and print its public key (age1…) for --encrypt-to')
      .requiredOption('-o, --output <file>', 'the identity file to create (mode 0600; an existing file is never overwritten)')
      .option('--json', 'print {"identityFile", "recipient"} as JSON')
      .addHelpText('after', EXIT_CODES_HELP)
      .action(async (flags: { output: string; json?: boolean }) => {
        await run(async () => {
          const generated = await generateKey();
          try {
            await fs.writeFile(flags.output, generated.text, { mode: 0o600, flag: 'wx' });
          } catch (error) {
            const exists = (error as NodeJS.ErrnoException).code === 'EEXIST';
            throw new CassetteError(
              'E_USAGE',
              exists ? `${flags.output} already exists: it may be a key that old snapshots need; choose another file` : `cannot write ${flags.output}: ${messageOf(error)}`,
              { cause: error },
            );
          }
          if (flags.json) process.stdout.write(JSON.stringify({ identityFile: flags.output, recipient: generated.recipient }) + '\n');
          else {
            process.stderr.write(`wrote the identity (secret key) to ${flags.output}; its public key, for \`cassette backup --encrypt-to\`:\n`);
            process.stdout.write(`${generated.recipient}\n`);
          }
        }, flags.json);
      })
      .exitOverride(),
  );
  return key;
}
