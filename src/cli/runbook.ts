// --runbook NAME picks a built-in plan; --profile NAME, its old name, still works, but AWS users mean a credentials profile by it.

import { Option, type Command } from 'commander';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CassetteError } from '../errors.js';
import { PROFILES } from '../plan/profiles.js';

export interface RunbookFlags {
  runbook?: string;
  /** The old name of --runbook, hidden from help. */
  profile?: string;
}

/** Adds --runbook <name> (described by `description`) and the hidden --profile <name>. */
export function withRunbookOptions(command: Command, description: string): Command {
  return command
    .addOption(new Option('--runbook <name>', `${description} (built-in: ${Object.keys(PROFILES).join(', ')})`))
    .addOption(new Option('--profile <name>', 'the old name of --runbook').hideHelp());
}

/**
 * The runbook the flags name, if any. `--profile NAME` is taken for `--runbook NAME` when NAME is a
 * runbook (with a note); otherwise it is refused with a hint, since the AWS CLI's --profile names
 * a credentials profile (issue 17: `backup --profile moto` answered "unknown profile").
 */
export function runbookName(flags: RunbookFlags, note: (message: string) => void = () => undefined): string | undefined {
  if (flags.runbook !== undefined && flags.profile !== undefined) throw new CassetteError('E_USAGE', 'give --runbook, not --runbook and --profile (its old name)');
  if (flags.profile === undefined) return flags.runbook;
  if (Object.hasOwn(PROFILES, flags.profile)) {
    note(`--profile ${flags.profile} is now --runbook ${flags.profile}`);
    return flags.profile;
  }
  throw new CassetteError('E_USAGE', awsProfileHint(flags.profile, awsProfileNames()));
}

/** The message for `--profile NAME` when NAME is no runbook: it may be an AWS profile. Pure, for the tests. */
export function awsProfileHint(name: string, awsProfiles: readonly string[]): string {
  const known = awsProfiles.includes(name) ? ` "${name}" is a profile in your AWS config:` : ' for an AWS credentials profile,';
  return `--profile names a Cassette runbook (now --runbook; built-in: ${Object.keys(PROFILES).join(', ')}), and "${name}" is none;${known} use --aws-profile ${name} or AWS_PROFILE=${name}`;
}

/** The profile names in the AWS config and credentials files (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/…); none when unreadable. */
export function awsProfileNames(env: NodeJS.ProcessEnv = process.env): string[] {
  const home = os.homedir();
  const files = [env.AWS_CONFIG_FILE ?? path.join(home, '.aws', 'config'), env.AWS_SHARED_CREDENTIALS_FILE ?? path.join(home, '.aws', 'credentials')];
  const names = new Set<string>();
  for (const file of files) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const match of text.matchAll(/^\s*\[\s*(?:profile\s+)?([^\]\s]+)\s*\]/gm)) names.add(match[1]!);
  }
  return [...names];
}
