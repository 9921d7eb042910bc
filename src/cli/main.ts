#!/usr/bin/env node
// The cassette command: registers subcommands; each parses flags and calls one engine function.

import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.js';
import { backupCommand } from './commands/backup.js';
import { demoCommand } from './commands/demo.js';
import { planCommand } from './commands/plan.js';
import { pruneCommand } from './commands/prune.js';
import { verifyCommand } from './commands/verify.js';
import { benchCommand } from './commands/bench.js';
import { lsCommand } from './commands/ls.js';
import { findCommand } from './commands/find.js';
import { diffCommand } from './commands/diff.js';
import { statsCommand } from './commands/stats.js';
import { catCommand } from './commands/cat.js';
import { restoreCommand } from './commands/restore.js';
import { snapshotsCommand } from './commands/snapshots.js';
import { keyCommand } from './commands/key.js';
import { forgetCommand } from './commands/forget.js';
import { tagCommand } from './commands/tag.js';
import { copyCommand } from './commands/copy.js';
import { reportCommand } from './commands/report.js';
import { EXIT, EXIT_CODES_HELP, exitCodeFor } from './exit-codes.js';
import { CassetteError, isCassetteError } from '../errors.js';

// The SDK is pinned to a release that supports Node 20 (NOTES.md); its notice about future releases is noise for users.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// A reader that goes away (`cassette ls … | head`) is not an error: stop quietly, as other tools do.
// --stdout restores check their own stream (restore/stream-out.ts); this covers listings and help.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? EXIT.OK);
  throw error;
});

const program = new Command('cassette')
  .description('Streaming backups of file trees and PostgreSQL databases to S3-compatible storage, as seekable tar.zst with an index for fast selective restore')
  .version(VERSION)
  .addHelpText('after', EXIT_CODES_HELP)
  .exitOverride()
  .showHelpAfterError('(run with --help for usage)');

for (const command of [
  backupCommand(),
  snapshotsCommand(),
  lsCommand(),
  findCommand(),
  diffCommand(),
  statsCommand(),
  reportCommand(),
  catCommand(),
  restoreCommand(),
  verifyCommand(),
  pruneCommand(),
  forgetCommand(),
  tagCommand(),
  copyCommand(),
  keyCommand(),
  planCommand(),
  benchCommand(),
  demoCommand(),
]) {
  program.addCommand(command.exitOverride());
}

// Commander's own errors (unknown option, missing argument) read like the others: `cassette: …`.
const errorsLikeOurs = (command: Command): void => {
  command.configureOutput({ outputError: (text, write) => write(`cassette: ${text.replace(/^error: /, '')}`) });
  for (const sub of command.commands) errorsLikeOurs(sub);
};
errorsLikeOurs(program);

/** An unknown command with --help must be a usage error, not the main help and success (commander acts on --help first). */
function unknownCommand(args: readonly string[]): string | undefined {
  const first = args.find((arg) => !arg.startsWith('-'));
  if (first === undefined || first === 'help') return undefined;
  return program.commands.some((c) => c.name() === first || c.aliases().includes(first)) ? undefined : first;
}

try {
  const unknown = unknownCommand(process.argv.slice(2));
  if (unknown !== undefined) {
    const names = program.commands.map((c) => c.name());
    throw new CassetteError('E_USAGE', `unknown command '${unknown}' (commands: ${names.join(', ')}; run cassette --help)`);
  }
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    if (error.exitCode === 0) process.exitCode = EXIT.OK;
    else process.exitCode = EXIT.USAGE;
  } else if (isCassetteError(error)) {
    process.stderr.write(`cassette: ${error.message}\n`);
    process.exitCode = exitCodeFor(error.code);
  } else {
    throw error;
  }
}
