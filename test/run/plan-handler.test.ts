import { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planIdFor, type EmailId } from '../../src/kernel/ids.js';
import { HANDLERS } from '../../src/run/handlers.js';
import { adoptPlan, plannerDeps, plannerViewFor } from '../../src/run/planning.js';
import { loadTriage } from '../../src/store/run-store.js';
import { planEmail } from '../../src/planner/planner.js';
import { startExampleApp, storeEmail, type ExampleApp } from '../harness/toolbox.js';

describe('the plan stage is idempotent (real Redis)', () => {
  let example: ExampleApp;
  beforeAll(async () => {
    example = await startExampleApp();
  });
  afterAll(async () => {
    await example?.close();
  });

  async function runPlanJob(jobId: string, emailId: EmailId) {
    const { app } = example;
    await app.queues.add('plan', { emailId }, { jobId });
    const job = await Job.fromId(app.queues.get('plan'), jobId);
    if (!job) throw new Error('plan job vanished');
    await HANDLERS.plan.process(app, job);
  }

  it('a re-delivered plan job neither plans again nor starts a second run', async () => {
    const { app } = example;
    const { emailId } = await storeEmail(app, { verified: 'dana.whitfield@brightleaf.example', category: 'billing', text: 'Where is my invoice?' });
    await runPlanJob('first', emailId);
    await runPlanJob('again', emailId);
    const trail = await app.audit.read(emailId);
    expect(trail.filter((e) => e.type === 'planned')).toHaveLength(1);
    const steps = await app.queues.get('steps').getJobs(['waiting', 'delayed', 'active']);
    expect(steps.filter((j) => j.data.planId === planIdFor(emailId, 0))).toHaveLength(1);
    expect((await app.ledger.get(emailId))?.state).toBe('planned');

    // Once the email has moved on, a late duplicate leaves it alone.
    await app.ledger.setState(emailId, 'running');
    await runPlanJob('late', emailId);
    expect((await app.ledger.get(emailId))?.state).toBe('running');
  });

  it('a replan killed between storing the new plan and starting it starts it when re-delivered (found by chaos)', async () => {
    const { app } = example;
    const { emailId } = await storeEmail(app, { verified: 'dana.whitfield@brightleaf.example', category: 'billing', text: 'Invoice copy, please.' });
    await runPlanJob('gen0', emailId);
    await app.ledger.setState(emailId, 'running');
    // The dead worker's replan got as far as storing generation 1.
    const gen1 = planIdFor(emailId, 1);
    const stored = JSON.parse((await app.redis.get(app.keys.plan(planIdFor(emailId, 0)))) ?? '{}') as Record<string, unknown>;
    await app.redis.set(app.keys.plan(gen1), JSON.stringify({ ...stored, planId: gen1, generation: 1 }));
    // The re-delivered step fails again and replans: the stored plan is adopted and must start.
    const { trusted } = await loadTriage(app, emailId);
    const outcome = await planEmail(plannerDeps(app), plannerViewFor(app, trusted));
    await adoptPlan(app, emailId, trusted, outcome, { generation: 1, replaces: planIdFor(emailId, 0) });
    const rec = await app.ledger.get(emailId);
    expect(rec?.planId).toBe(gen1);
    const steps = await app.queues.get('steps').getJobs(['waiting', 'delayed', 'active']);
    expect(steps.filter((j) => j.data.planId === gen1)).toHaveLength(1);
  });
});
