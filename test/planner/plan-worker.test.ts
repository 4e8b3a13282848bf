import { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planIdFor, type EmailId } from '../../src/ids.js';
import { processPlanJob } from '../../src/planner/plan-worker.js';
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
    await processPlanJob(app, job);
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
});
