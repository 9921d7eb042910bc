// Built-in plans. `cassatt` encodes the Cassatt Active Response backup/restore runbook.

import { CassetteError } from '../errors.js';
import type { Plan } from './plan.js';

/** The three utility images the runbook says never to restore. */
export const CASSATT_UTILITY_IMAGES = ['CollageIdle', 'CollageInventory', 'CollageDiagnostic'];

const cassatt: Plan = {
  name: 'cassatt',
  roles: ['primary', 'secondary'],
  sources: [
    { path: '/', name: 'rootfs' },
    // The base and database file systems: only on the active (primary) control node.
    { path: '/cassatt', name: 'cassatt', roles: ['primary'] },
    { path: '/cassatt/database', name: 'cassatt-database', roles: ['primary'] },
    { path: '/var', name: 'var', optional: true },
    { path: '/usr/lib/php4', name: 'usr-lib-php4', optional: true },
    // When the root file system is split: controller software, configuration, keys, modules.
    { path: '/opt', name: 'opt', optional: true },
    { path: '/etc', name: 'etc', optional: true },
    { path: '/root', name: 'root', optional: true },
    { path: '/lib/modules', name: 'lib-modules', optional: true },
  ],
  databases: [{ connection: 'collage', format: 'tar', roles: ['primary'] }],
  // Pseudo file systems are never backed up.
  exclude: ['/proc', '/sys', '/dev', '/run', '/tmp'],
  hooks: {
    // Quiesce: stop tier, image and CLI activity for the duration of the backup, then resume.
    'pre-backup': '"$CASSETTE_ROOT/opt/cassatt/bin/cccoreservice" stop',
    'post-backup': '"$CASSETTE_ROOT/opt/cassatt/bin/cccoreservice" start',
    'pre-restore': '"$CASSETTE_ROOT/opt/cassatt/bin/cccoreservice" stop',
    'post-restore': '"$CASSETTE_ROOT/opt/cassatt/bin/cccoreservice" start',
  },
  tags: [],
  restoreExclude: CASSATT_UTILITY_IMAGES.flatMap((image) => [`cassatt/images/${image}`]),
  // The runbook's order: base file system, the other file systems, the database file system; the database last.
  restoreOrder: ['cassatt', 'rootfs', 'var', 'usr-lib-php4', 'opt', 'etc', 'root', 'lib-modules', 'cassatt-database'],
  retention: { keepLast: 7, keepDaily: 14, keepWeekly: 8 },
};

export const PROFILES: Record<string, Plan> = { cassatt };

export function profile(name: string): Plan {
  const plan = PROFILES[name];
  if (!plan) throw new CassetteError('E_USAGE', `unknown runbook "${name}": built-in runbooks are ${Object.keys(PROFILES).join(', ')}`);
  return structuredClone(plan);
}
