// `cassette plan show` prints the effective plan of a runbook or plan file; `cassette plan check` checks it against this machine.

import { Command } from 'commander';
import { CassetteError } from '../../errors.js';
import { checkPlan } from '../../plan/check-plan.js';
import type { Plan } from '../../plan/plan.js';
import { EXIT, EXIT_CODES_HELP } from '../exit-codes.js';
import { collectPgName, run } from '../common.js';
import { loadPlan } from './backup.js';
import { withRunbookOptions, type RunbookFlags } from '../runbook.js';
import { counted } from '../words.js';

interface PlanFlags extends RunbookFlags {
  plan?: string;
  role?: string;
  root?: string;
  skipImages?: boolean;
  pgName?: Record<string, string>;
  json?: boolean;
}

/** The options that choose and shape the effective plan, shared by show and check. */
function planSubcommand(name: string, description: string): Command {
  return withRunbookOptions(new Command(name), 'a built-in plan')
    .description(description)
    .option('--plan <file>', 'a plan file (YAML or JSON)')
    .option('--role <role>', 'plan role')
    .option('--root <dir>', 're-root every path under <dir>')
    .option('--skip-images', 'leave /cassatt/images out')
    .option('--pg-name <name=database>', "the plan's database <name> as <database>, e.g. collage=collage_test; repeatable", collectPgName)
    .addHelpText('after', EXIT_CODES_HELP);
}

async function effective(flags: PlanFlags): Promise<Plan> {
  const plan = await loadPlan(flags);
  if (!plan) throw new CassetteError('E_USAGE', 'give --runbook NAME or --plan FILE');
  return plan;
}

export function planCommand(): Command {
  const show = planSubcommand('show', 'print the effective plan (role, --root, --skip-images and --pg-name applied)')
    .option('--json', 'print JSON instead of YAML')
    .action(async (flags: PlanFlags) => {
      await run(async () => {
        const plan = await effective(flags);
        process.stdout.write(flags.json ? JSON.stringify(plan, null, 2) + '\n' : (await import('yaml')).default.stringify(plan));
      }, flags.json);
    });
  const check = planSubcommand(
    'check',
    'check the effective plan against this machine: sources there and readable, databases reachable, pg_dump and hook programs there (reads and connects; writes nothing); exit 1 on a problem',
  )
    .option('--json', 'print the findings as JSON')
    .action(async (flags: PlanFlags) => {
      await run(async () => {
        const plan = await effective(flags);
        const findings = await checkPlan(plan, { root: flags.root });
        const problems = findings.filter((f) => f.level === 'problem').length;
        if (flags.json) process.stdout.write(JSON.stringify({ plan: plan.name ?? null, problems, findings }, null, 2) + '\n');
        else {
          for (const f of findings) process.stdout.write(`${f.level.padEnd(7)} ${f.kind.padEnd(8)} ${f.subject}: ${f.message}\n`);
          process.stdout.write(`plan ${plan.name ?? ''}: ${problems === 0 ? 'no problem found' : counted(problems, 'problem')}\n`);
        }
        return problems === 0 ? EXIT.OK : EXIT.FAILURE;
      }, flags.json);
    });
  return new Command('plan')
    .description('show a runbook or plan file as it applies here, or check it against this machine')
    .addCommand(show.exitOverride())
    .addCommand(check.exitOverride());
}
