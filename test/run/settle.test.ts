import { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkers } from '../../src/app/workers.js';
import { HANDLERS } from '../../src/run/handlers.js';

import { DeadLetterJob, jobIdFor, type QueueKey } from '../../src/queues/catalog.js';
import { waitFor } from '../harness/mail.js';
import { startExampleApp, storeEmail, type ExampleApp } from '../harness/toolbox.js';

/**
 * A job whose data does not match its queue's schema (a bug, a hand edit in Bull Board, an old
 * job after an upgrade). It used to throw before the processor's catch: the email it named stayed
 * `triaged` for ever and the dead-letter entry, if any, named no email and no reason of ours.
 */
describe('jobs with bad data are settled like any failure', () => {
  let ex: ExampleApp;
  beforeAll(async () => {
    ex = await startExampleApp();
  }, 60_000);
  afterAll(async () => {
    await ex.close();
  });

  /** Adds a job through BullMQ itself: Mailroom's own `queues.add` refuses data that does not parse. */
  async function rawJob(queue: QueueKey, data: unknown): Promise<Job> {
    const q = ex.app.queues.get(queue);
    const added = await q.add(queue, data);
    const job = added.id ? await Job.fromId(q, added.id) : undefined;
    if (!job) throw new Error('job vanished');
    return job;
  }

  async function deadLetters(): Promise<DeadLetterJob[]> {
    const jobs = await ex.app.queues.get('deadLetter').getJobs(['waiting', 'completed', 'failed', 'delayed'], 0, 1_000);
    return jobs.map((j) => DeadLetterJob.parse(j.data));
  }

  it('a plan job with bad data, run by a real worker, dead-letters and quarantines the email it names, with the reason', async () => {
    const { app } = ex;
    const email = await storeEmail(app, { verified: 'dana.whitfield@brightleaf.example', text: 'Where is my invoice?' });
    const workers = startWorkers(app, ['planner']);
    try {
      await app.queues.get('plan').add('plan', { emailId: email.emailId, extra: 'not in the schema' }, { jobId: `bad__${email.emailId}` });
      const rec = await waitFor('the email to rest', async () => {
        const r = await app.ledger.get(email.emailId);
        return r?.state === 'quarantined' ? r : undefined;
      });
      expect(rec.reason).toMatch(/^MAILROOM_JOB_DATA_INVALID: plan job bad__\S+: data does not match its schema \(at /);
    } finally {
      await workers.close(true);
    }
    const entry = (await app.queues.get('deadLetter').getJob(jobIdFor('dl', email.emailId)))?.data as unknown;
    expect(DeadLetterJob.parse(entry)).toMatchObject({ emailId: email.emailId, stage: 'plan', code: 'MAILROOM_JOB_DATA_INVALID' });
    const trail = await app.audit.read(email.emailId);
    expect(trail.map((e) => e.type)).toContain('quarantined');
  });

  it('a step job with a malformed step index is settled by the processor, not thrown back at BullMQ', async () => {
    const { app } = ex;
    const email = await storeEmail(app, { verified: 'dana.whitfield@brightleaf.example', text: 'Hello' });
    const job = await rawJob('steps', { emailId: email.emailId, planId: 'pl_0000000000000000', stepIndex: 'first' });
    await expect(HANDLERS.steps.process(app, job)).resolves.toBeUndefined();
    const rec = await app.ledger.get(email.emailId);
    expect(rec?.state).toBe('quarantined');
    expect(rec?.reason).toContain('stepIndex');
  });

  it('an ingest job naming no email is dead-lettered on its own, with the reason', async () => {
    const { app } = ex;
    const count = async () => (await deadLetters()).filter((d) => d.emailId === null && d.stage === 'ingest' && d.code === 'MAILROOM_JOB_DATA_INVALID').length;
    const before = await count();
    const job = await rawJob('ingest', { rawRef: 42 });
    await expect(HANDLERS.ingest.process(app, job)).resolves.toBeUndefined();
    expect(await count()).toBe(before + 1);
  });

  it('bad data naming an email already at rest leaves the email as it is', async () => {
    const { app } = ex;
    const email = await storeEmail(app, { verified: 'dana.whitfield@brightleaf.example', text: 'Thanks' });
    await app.ledger.setState(email.emailId, 'completed', { reason: '' });
    const job = await rawJob('steps', { emailId: email.emailId, planId: 'nope', stepIndex: -1 });
    await HANDLERS.steps.process(app, job);
    expect((await app.ledger.get(email.emailId))?.state).toBe('completed');
  });
});
