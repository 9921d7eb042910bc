// The README's first command runs `cassette demo` (npm start): it must work end to end, incremental step included.

import { describe, expect, it } from 'vitest';
import { cassette } from '../helpers/cli.js';

describe('cassette demo (npm start)', () => {
  it('backs up, restores selectively and fully, then backs up incrementally, each identical to the source', async () => {
    const result = await cassette(['demo']);
    const out = `${String(result.stdout)}${String(result.stderr)}`;
    expect(result.exitCode, out).toBe(0);
    expect(out.match(/identical to the source/g)).toHaveLength(3);
    // The incremental backup stores little and reuses the first snapshot's frames.
    const step = /7\. changed etc\/hosts and backed up again: .* read, (.*) stored, (.*) reused from the first snapshot/.exec(out);
    expect(step, out).not.toBeNull();
    expect(step![2]).not.toBe('0 B');
    expect(out).toContain('done.');
  }, 120_000);
});
