import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planIdFor } from '../../src/ids.js';
import type { StoredPlan } from '../../src/planner/stored-plan.js';
import { claimPlan, loadOutputs, loadPlan, loadTriage, saveOutput } from '../../src/run/run-store.js';
import { escalate } from '../../src/tools/escalate.js';
import { startExampleApp, storeEmail, toolContext, type ExampleApp } from '../harness/toolbox.js';

describe('the run store', () => {
  let ex: ExampleApp;
  beforeAll(async () => {
    ex = await startExampleApp();
  }, 60_000);
  afterAll(async () => {
    await ex.close();
  });

  it('reads a triage record written before the rename (context, contentRef) under the same key', async () => {
    const { app } = ex;
    const email = await storeEmail(app, { verified: 'dana.whitfield@brightleaf.example', text: 'Hello' });
    // What ingest stored until now, under the key it used: an email in flight across the upgrade.
    await app.redis.set(app.keys.triage(email.emailId), JSON.stringify({ context: email.context, contentRef: email.contentRef }));
    expect(app.keys.triage(email.emailId)).toBe(`${app.config.prefix}:ctx:${email.emailId}`);
    const record = await loadTriage(app, email.emailId);
    expect(record).toEqual({ trusted: email.context, emailRef: email.contentRef });
  });

  it('keeps the first plan stored under an id, and refuses step outputs that do not parse', async () => {
    const { app } = ex;
    const email = await storeEmail(app, { verified: 'dana.whitfield@brightleaf.example', text: 'Hello' });
    const planId = planIdFor(email.emailId, 0);
    const plan = (tool: string): StoredPlan => ({
      planId,
      emailId: email.emailId,
      plan: { steps: [{ id: 's1', tool, args: { reason: 'needs_human' } }] },
      planner: 'playbook',
      registryVersion: app.registry.version,
      createdAt: new Date(0).toISOString(),
      generation: 0,
      gate: null,
    });
    expect(await claimPlan(app, plan('escalate'))).toBe(true);
    expect(await claimPlan(app, plan('apply_label'))).toBe(false);
    expect((await loadPlan(app, planId)).plan.steps[0]?.tool).toBe('escalate');
    await saveOutput(app, planId, 's1', { value: { escalated: true }, label: { tainted: false, conf: 'internal' }, taintedFields: [] });
    expect(Object.keys(await loadOutputs(app, planId))).toEqual(['s1']);
    await app.redis.hset(app.keys.planOutputs(planId), 's2', JSON.stringify({ value: {}, label: { tainted: 'no', conf: 'secret' }, taintedFields: [] }));
    await expect(loadOutputs(app, planId)).rejects.toThrow();
  });

  it('tools stamp what they record with the context clock', async () => {
    const { app } = ex;
    const email = await storeEmail(app, { verified: 'dana.whitfield@brightleaf.example', text: 'Hello' });
    const ctx = { ...toolContext(app, email), clock: () => new Date('2031-05-06T07:08:09.000Z') };
    await escalate.run({ reason: 'needs_human' }, ctx);
    const raw = await app.redis.hget(app.keys.escalations(), ctx.idempotencyKey);
    expect(JSON.parse(raw ?? '{}')).toMatchObject({ emailId: email.emailId, at: '2031-05-06T07:08:09.000Z' });
  });
});
