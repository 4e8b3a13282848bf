import { describe, expect, it } from 'vitest';
import { runChaos } from '../harness/chaos.js';

/**
 * The short chaos run (the full one is `npm run chaos`): roles in four processes against one Redis
 * with AOF, mail through Dovecot, two executor kills at random, one Redis restart, one Dovecot
 * restart, and a poison job that kills every executor running it. About a minute on an idle
 * two-core machine; the bound is generous because CI machines are not idle.
 */
describe('chaos: kills and restarts under load', () => {
  it('loses no email, does nothing twice, and dead-letters the poison job after a bounded number of crashes', async () => {
    const report = await runChaos({ emails: 100, kills: 2, lockDurationMs: 3_000, timeoutMs: 240_000 });
    expect(report, JSON.stringify(report)).toMatchObject({
      emails: 100,
      lost: 0,
      duplicate_side_effects: 0,
      redis_restarts: 1,
      imap_restarts: 1,
      poison: { state: 'quarantined: MAILROOM_JOB_STALLED', dead_lettered: true },
    });
    expect(report.kills).toBeGreaterThanOrEqual(2);
    // maxStalledCount 2: the third crash is the last; BullMQ fails the job instead of a fourth run.
    expect(report.poison?.kills).toBeGreaterThanOrEqual(1);
    expect(report.poison?.max_kills_of_one_job).toBeLessThanOrEqual(3);
    const resting = Object.values(report.terminal).reduce((a, b) => a + (b ?? 0), 0);
    expect(resting).toBe(100);
    expect(report.replies).toBeGreaterThan(20);
  }, 300_000);
});
