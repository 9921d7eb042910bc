// `cassette plan show`: print the effective plan of a runbook or plan file.

import { Command } from 'commander';
import { CassetteError } from '../../errors.js';
import { EXIT_CODES_HELP } from '../exit-codes.js';
import { collectPgName, run } from '../common.js';
import { loadPlan } from './backup.js';
import { withRunbookOptions, type RunbookFlags } from '../runbook.js';

interface PlanFlags extends RunbookFlags {
  plan?: string;
  role?: string;
  root?: string;
  skipImages?: boolean;
  pgName?: Record<string, string>;
  json?: boolean;
}

export function planCommand(): Command {
  const show = withRunbookOptions(new Command('show'), 'a built-in plan')
    .description('print the effective plan (role, --root, --skip-images and --pg-name applied)')
    .option('--plan <file>', 'a plan file (YAML or JSON)')
    .option('--role <role>', 'plan role')
    .option('--root <dir>', 're-root every path under <dir>')
    .option('--skip-images', 'leave /cassatt/images out')
    .option('--pg-name <name=database>', "the plan's database <name> as <database>, e.g. collage=collage_test; repeatable", collectPgName)
    .option('--json', 'print JSON instead of YAML')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(async (flags: PlanFlags) => {
      await run(async () => {
        const plan = await loadPlan(flags);
        if (!plan) throw new CassetteError('E_USAGE', 'give --runbook NAME or --plan FILE');
        process.stdout.write(flags.json ? JSON.stringify(plan, null, 2) + '\n' : (await import('yaml')).default.stringify(plan));
      }, flags.json);
    });
  return new Command('plan').description('show the effective backup plan of a runbook or plan file').addCommand(show.exitOverride());
}
