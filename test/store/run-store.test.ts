import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { emailIdFor, planIdFor } from '../../src/kernel/ids.js';
import type { StoredPlan } from '../../src/model/stored-plan.js';
import { claimPlan, loadOutputs, loadPlan, loadTriage, saveOutput, saveTriage } from '../../src/store/run-store.js';
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

  it('serves a plan and a triage record it already read from the app (no second GET), and a rewritten triage record replaces the one it kept', async () => {
    const { app } = ex;
    const email = await storeEmail(app, { verified: 'dana.whitfield@brightleaf.example', text: 'Hello' });
    const planId = planIdFor(email.emailId, 0);
    expect(
      await claimPlan(app, {
        planId,
        emailId: email.emailId,
        plan: { steps: [{ id: 's1', tool: 'escalate', args: { reason: 'needs_human' } }] },
        planner: 'playbook',
        registryVersion: app.registry.version,
        createdAt: new Date(0).toISOString(),
        generation: 0,
        gate: null,
      }),
    ).toBe(true);
    await saveTriage(app, email.emailId, { trusted: email.context, emailRef: email.contentRef });
    // Gone from Redis behind the store's back: what a step re-reads comes from the app's cache.
    await app.redis.del(app.keys.plan(planId), app.keys.triage(email.emailId));
    expect((await loadPlan(app, planId)).plan.steps[0]?.tool).toBe('escalate');
    expect((await loadTriage(app, email.emailId)).emailRef).toBe(email.contentRef);
    // A re-delivered triage job writes the record again: steps read the new one.
    const again = { trusted: { ...email.context, receivedAt: new Date(1).toISOString() }, emailRef: email.contentRef };
    await saveTriage(app, email.emailId, again);
    expect((await loadTriage(app, email.emailId)).trusted.receivedAt).toBe(new Date(1).toISOString());
  });

  it('reads step outputs from Redis every time: an output parsed before is reused only while its JSON is unchanged', async () => {
    const { app } = ex;
    const email = await storeEmail(app, { verified: 'dana.whitfield@brightleaf.example', text: 'Hello' });
    const planId = planIdFor(email.emailId, 0);
    await saveOutput(app, planId, 's1', { value: { n: 1 }, label: { tainted: false, conf: 'public' }, taintedFields: [] });
    const first = await loadOutputs(app, planId);
    expect(first.s1?.value).toEqual({ n: 1 });
    // The same JSON: the value parsed (and written) before, not a second parse.
    expect((await loadOutputs(app, planId)).s1).toBe(first.s1);
    // Rewritten behind the store's back (another worker's run of the step): the new value, parsed.
    await app.redis.hset(app.keys.planOutputs(planId), 's1', JSON.stringify({ value: { n: 2 }, label: { tainted: true, conf: 'sender' }, taintedFields: ['n'] }));
    expect((await loadOutputs(app, planId)).s1).toEqual({ value: { n: 2 }, label: { tainted: true, conf: 'sender' }, taintedFields: ['n'] });
    // Gone from Redis: gone for the steps too (Redis says which steps have run).
    await app.redis.del(app.keys.planOutputs(planId));
    expect(await loadOutputs(app, planId)).toEqual({});
    await app.redis.hset(app.keys.planOutputs(planId), 's1', JSON.stringify({ value: {}, label: { tainted: 'no', conf: 'public' }, taintedFields: [] }));
    await expect(loadOutputs(app, planId)).rejects.toThrow();
  });

  it('moves the ledger with its fields and reads an email\'s mode alone', async () => {
    const { app } = ex;
    const email = { emailId: emailIdFor('ledger@test', randomUUID()) };
    expect(await app.ledger.create(email.emailId, 'test', { mode: 'shadow' })).toBe(true);
    expect(await app.ledger.mode(email.emailId)).toBe('shadow');
    expect(await app.ledger.setState(email.emailId, 'planned', { planId: 'pl_x', tools: 'a,b' })).toBe(true);
    expect(await app.ledger.setState(email.emailId, 'completed', { reason: 'done' })).toBe(true);
    expect(await app.ledger.get(email.emailId)).toMatchObject({ state: 'completed', planId: 'pl_x', tools: 'a,b', reason: 'done', mode: 'shadow' });
    // Terminal: a later move changes nothing, fields included.
    expect(await app.ledger.setState(email.emailId, 'running', { reason: 'late' })).toBe(false);
    expect(await app.ledger.get(email.emailId)).toMatchObject({ state: 'completed', reason: 'done' });
    await app.redis.hdel(app.keys.email(email.emailId), 'mode');
    expect(await app.ledger.mode(email.emailId)).toBe('live');
  });

  it('appends a transition\'s audit events in their order, after what the trail held', async () => {
    const { app } = ex;
    const email = await storeEmail(app, { verified: 'dana.whitfield@brightleaf.example', text: 'Hello' });
    await app.audit.append(email.emailId, 'ingested', 'test');
    await app.audit.appendAll(email.emailId, [
      { type: 'classified', actor: 'ingest', data: { category: 'billing' } },
      { type: 'triaged', actor: 'ingest' },
    ]);
    await app.audit.appendAll(email.emailId, []);
    const trail = await app.audit.read(email.emailId);
    expect(trail.map((e) => e.type)).toEqual(['ingested', 'classified', 'triaged']);
    expect(trail[1]?.data).toEqual({ category: 'billing' });
    expect(trail[2]?.data).toEqual({});
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
