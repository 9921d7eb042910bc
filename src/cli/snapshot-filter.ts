// The --host, --tag and --path flags that select snapshots (snapshots, restore, prune, forget, find…), and the filter they make.

import { Option, type Command } from 'commander';
import type { SnapshotFilter } from '../snapshot-filter.js';
import { collect } from './common.js';

export interface SnapshotFilterFlags {
  host?: string[];
  tag?: string[];
  path?: string[];
}

/** Adds --host, --tag and --path (each repeatable). */
export function withSnapshotFilterOptions(command: Command): Command {
  return command
    .addOption(new Option('--host <name>', 'only snapshots of this host (repeatable: any of them)').argParser(collect))
    .addOption(new Option('--tag <tag[,tag…]>', 'only snapshots with all these tags (repeatable: any of the groups)').argParser(collect))
    .addOption(new Option('--path <path>', 'only snapshots that back up this path (a source directory or database; repeatable: all of them)').argParser(collect));
}

/** The filter the flags make; undefined when none is given. */
export function snapshotFilter(flags: SnapshotFilterFlags): SnapshotFilter | undefined {
  if (!flags.host?.length && !flags.tag?.length && !flags.path?.length) return undefined;
  return {
    hosts: flags.host,
    tagGroups: flags.tag?.map((group) =>
      group
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean),
    ),
    paths: flags.path,
  };
}
