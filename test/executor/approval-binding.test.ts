import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESTING_STATES } from '../../src/audit/email-ledger.js';
import { runProcess } from '../../src/cli/process-command.js';
import type { Config } from '../../src/config/config.js';
import { createContext } from '../../src/app/context.js';
import { type AppContext } from '../../src/services/services.js';
import { startWorkers, type RunningWorkers } from '../../src/app/workers.js';
import { approvalJobId } from '../../src/executor/review-ids.js';
import { approveParked, escalateIfOverdue } from '../../src/run/decisions.js';
import { park } from '../../src/run/park.js';
import { readReview } from '../../src/executor/review-record.js';
import { EmailId, planIdFor, PlanId, UntrustedRef } from '../../src/kernel/ids.js';
import { createLogger } from '../../src/kernel/logger.js';
import type { StoredPlan } from '../../src/model/stored-plan.js';
import { ApprovalJob } from '../../src/queues/approval-job.js';
import { ALL_TOOLS, createRegistry } from '../../src/tools/registry.js';
import { EXAMPLES } from '../fixtures/examples.js';
import { exampleConfig } from '../harness/example-config.js';
import { waitFor } from '../harness/mail.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';
import { startSmtpCapture, type SmtpCapture } from '../harness/smtp-capture.js';
import { storeEmail } from '../harness/toolbox.js';

const logger = createLogger({ level: 'silent' });

describe('an approval binds what the reviewer was shown, and nothing else', () => {
  let redis: TestRedis;
  let smtp: SmtpCapture;
  let config: Config;
  let app: AppContext;
  let workers: RunningWorkers | undefined;
  const ids: Record<string, EmailId> = {};
  const files = ['06-refund-after-closing-studio.eml', '07-refund-duplicate-seats.eml', '08-remboursement-commande.eml', '23-spam-guest-post-verified.eml', '45-cancellation-verified.eml'];

  beforeAll(async () => {
    redis = await startTestRedis();
    smtp = await startSmtpCapture();
    config = exampleConfig({ redis, smtp });
    const summary = await runProcess(config, logger, { paths: files.map((f) => path.join(EXAMPLES, 'mailbox', f)), timeoutMs: 30_000 });
    for (const e of summary.emails) {
      expect(e.state, e.file).toBe('awaiting_approval');
      ids[path.basename(e.file)] = EmailId.parse(e.emailId);
    }
    app = await createContext(config, logger);
  });
  afterAll(async () => {
    await workers?.close();
    await app?.close();
    await smtp?.close();
    await redis?.close();
  });

  const id = (f: string) => ids[f] as EmailId;
  const planOf = async (emailId: EmailId) => PlanId.parse((await app.ledger.get(emailId))?.planId);
  const reviewOf = async (emailId: EmailId) => {
    const r = await readReview(app, await planOf(emailId));
    if (!r) throw new Error('no review');
    return r;
  };
  const rest = (emailId: EmailId) =>
    waitFor(`${emailId} to rest`, async () => {
      const r = await app.ledger.get(emailId);
      return r && RESTING_STATES.includes(r.state) && r.state !== 'running' ? r : undefined;
    });

  it('shows the refund and the full reply before approval: computed before the gate, recorded with a digest', async () => {
    const review = await reviewOf(id('06-refund-after-closing-studio.eml'));
    expect(review.record.title).toBe('refund · acct_1006 · $49.00 · 2 effects');
    expect(review.record.effects.map((e) => [e.step, e.tool, e.pending])).toEqual([
      ['refund', 'issue_refund', null],
      ['send', 'send_reply', null],
    ]);
    expect(review.record.effects[0]?.args).toEqual({ account: 'acct_1006', order: 'ORD-10234', amount: 49 });
    expect(review.record.effects[1]?.message).toMatchObject({ to: 'sarah.okafor@lumenstudio.example', subject: 'Re: your message about refund', text: expect.stringContaining('Hello Sarah') });
    // The reply says what the approved plan will have done, from trusted values (the endorsed order).
    expect(review.record.effects[1]?.message?.text).toContain('We have refunded 49.00 USD for your order ORD-10234 of 2026-10-02.');
    expect(review.record.effects[1]?.message?.text).not.toMatch(/order number/i);
    const cancellation = await reviewOf(id('45-cancellation-verified.eml'));
    expect(cancellation.record.effects.map((e) => e.tool)).toEqual(['update_account', 'send_reply', 'send_email']);
    expect(cancellation.record.effects[1]?.message?.text).toContain('We have cancelled your subscription as you asked.');
    const job = await app.queues.get('approval').getJob(approvalJobId(review.record.planId, review.record.seq));
    const view = ApprovalJob.parse(job?.data);
    // The order a reviewer reads, and the deadline as the job's delay.
    expect(Object.keys(view)).toEqual(['waiting because', 'effects if you approve', 'trusted facts', 'steps', 'audit trail', 'email — UNTRUSTED, written by the sender; do not follow it', 'time', 'ids']);
    const shown = view['effects if you approve'].filter((l) => l.startsWith('│ ')).map((l) => l.slice(2));
    expect(shown.join('\n')).toBe(review.record.effects[1]?.message?.text);
    expect(view['effects if you approve'][0]).toBe('1 of 2 · Refund 49.00 USD of order ORD-10234 to account acct_1006');
    expect(job?.opts.delay).toBe(config.approval.deadlineSeconds * 1000);
  });

  it('ignores job data changed in Redis (recipient, amount, resumeAt, planId of another email)', async () => {
    const emailId = id('06-refund-after-closing-studio.eml');
    const review = await reviewOf(emailId);
    const job = await app.queues.get('approval').getJob(approvalJobId(review.record.planId, review.record.seq));
    const other = await planOf(id('07-refund-duplicate-seats.eml'));
    const data = ApprovalJob.parse(job?.data);
    await job?.updateData({
      ...data,
      'effects if you approve': data['effects if you approve'].map((l) => l.replace('sarah.okafor@lumenstudio.example', 'attacker@evil.example').replace('49.00', '4900.00')),
      ids: { ...data.ids, planId: other, resumeAt: 0 },
    });
    expect(await approveParked(app, { emailId, reviewer: 'alice' })).toBe('approved');
  });

  it('a reply whose text changed after approval is not sent: it parks again with that reason', async () => {
    const emailId = id('08-remboursement-commande.eml');
    expect(await approveParked(app, { emailId, reviewer: 'alice' })).toBe('approved');
    const outputs = await app.redis.hget(app.keys.planOutputs(await planOf(emailId)), 'draft');
    const ref = UntrustedRef.parse((JSON.parse(outputs ?? '{}') as { value: { ref: string } }).value.ref);
    const draft = JSON.parse((await app.redis.get(app.keys.content(ref))) ?? '{}') as { text: string };
    await app.redis.set(app.keys.content(ref), JSON.stringify({ ...draft, text: `${draft.text}\nCall +1 555 0100 now.` }));
  });

  it('an approval does not survive a change of tools: the plan is validated again and escalates', async () => {
    const emailId = id('07-refund-duplicate-seats.eml');
    // The reviewer is told before approving that this refund is over the cap and would fail.
    expect((await reviewOf(emailId)).record.effects[0]?.summary).toBe('refund 540.00 USD of order ORD-10377 to account acct_1007 (ABOVE the limit of 500.00 USD: it will fail)');
    const registry = app.registry;
    app.registry = createRegistry(ALL_TOOLS.filter((t) => t.name !== 'issue_refund'));
    try {
      expect(await approveParked(app, { emailId, reviewer: 'carol' })).toBe('escalated');
    } finally {
      app.registry = registry;
    }
    expect(await app.ledger.get(emailId)).toMatchObject({ state: 'escalated', reason: expect.stringContaining('no longer validates') });
  });

  it('two approvals at once make one decision', async () => {
    const emailId = id('45-cancellation-verified.eml');
    const results = await Promise.allSettled([approveParked(app, { emailId, reviewer: 'alice' }), approveParked(app, { emailId, reviewer: 'bob' })]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
  });

  it('runs what was approved as it was shown; the changed reply waits again; one run per approval', async () => {
    workers = startWorkers(app);
    const approved = await rest(id('06-refund-after-closing-studio.eml'));
    expect(approved.state).toBe('completed');
    const refunds = Object.values(await app.redis.hgetall(app.keys.refunds())).map((r) => JSON.parse(r) as { order: string; amount: number; emailId: string });
    expect(refunds.find((r) => r.emailId === approved.emailId)).toMatchObject({ order: 'ORD-10234', amount: 49 });
    const changed = id('08-remboursement-commande.eml');
    await waitFor('the changed reply to park again', async () => {
      const r = await app.ledger.get(changed);
      return r?.state === 'awaiting_approval' && r.reason.includes('differs from what alice approved') ? r : undefined;
    });
    expect((await reviewOf(changed)).record.effects.map((e) => e.step)).toEqual(['send']);
    const concurrent = await rest(id('45-cancellation-verified.eml'));
    expect(concurrent.state).toBe('completed');
    const trail = await app.audit.read(concurrent.emailId);
    expect(trail.filter((e) => e.type === 'step_started' && e.data.tool === 'update_account')).toHaveLength(1);
    expect(trail.filter((e) => e.type === 'approved' && e.actor !== 'policy')).toHaveLength(1);
    // Exactly what was approved left: the refund's reply, the cancellation's reply and its notice
    // to the billing contact; never the changed text.
    await smtp.waitFor(3, 10_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(smtp.messages).toHaveLength(3);
    // The billing contact never wrote: a notice of what was done, not the reply to the owner.
    const notice = smtp.messages.find((m) => m.parsed.subject === 'Your subscription has been cancelled');
    expect(notice?.parsed.text).toContain('You receive this notice as the billing contact on file.');
    expect(notice?.parsed.text).toContain('has been cancelled, as the account owner asked.');
    expect(notice?.parsed.text).not.toContain('Thank you for your message');
    expect(smtp.messages.map((m) => m.raw).join('\n')).not.toContain('555 0100');
    expect(smtp.messages.map((m) => m.envelope.to[0]).sort()).not.toContain('attacker@evil.example');
  });

  it('an effect that was not shown (it depended on a step after the gate) parks again after approval', async () => {
    // ORD-10166, not ORD-10234: the earlier test refunded that order in full, and an order's refunds never pass what it cost.
    const email = await storeEmail(app, { verified: 'sarah.okafor@lumenstudio.example', category: 'refund', text: 'Please refund ORD-10166.' });
    const planId = planIdFor(email.emailId, 0);
    const reasons = ['step refund: issue_refund moves money'];
    const stored: StoredPlan = {
      planId,
      emailId: email.emailId,
      plan: {
        steps: [
          { id: 'refund', tool: 'issue_refund', args: { account: '{{context.account.id}}', order: 'ORD-10166', amount: 49 } },
          { id: 'draft', tool: 'draft_reply', args: { article: '{{steps.refund.output.refundId}}' } },
          { id: 'send', tool: 'send_reply', args: { draft: '{{steps.draft.output.ref}}' } },
        ],
      },
      planner: 'llm',
      registryVersion: app.registry.version,
      createdAt: new Date().toISOString(),
      generation: 0,
      gate: { step: 0, reasons },
    };
    await app.redis.set(app.keys.plan(planId), JSON.stringify(stored));
    await app.ledger.setState(email.emailId, 'planned', { planId });
    await park(app, email.emailId, { planId }, 'policy', reasons, 0);
    const review = await reviewOf(email.emailId);
    expect(review.record.effects.find((e) => e.step === 'send')?.pending).toMatch(/depend/);
    await approveParked(app, { emailId: email.emailId, reviewer: 'alice' });
    const parked = await waitFor('the unshown reply to park', async () => {
      const r = await app.ledger.get(email.emailId);
      return r?.state === 'awaiting_approval' && r.reason.includes('send') ? r : undefined;
    });
    expect(parked.reason).toContain('was not shown to the reviewer');
    // Now it is shown in full, and the refund (approved and done) is not asked again.
    expect((await reviewOf(email.emailId)).record.effects.map((e) => [e.step, e.pending])).toEqual([['send', null]]);
  });

  it('a plan nobody decided escalates when its deadline passes', async () => {
    const emailId = id('23-spam-guest-post-verified.eml');
    const review = await reviewOf(emailId);
    const jobId = approvalJobId(review.record.planId, review.record.seq);
    expect(await escalateIfOverdue(app, jobId)).toBe('early');
    expect((await app.ledger.get(emailId))?.state).toBe('awaiting_approval');
    const clock = app.clock;
    app.clock = () => new Date(Date.parse(review.record.deadline) + 1000);
    try {
      expect(await escalateIfOverdue(app, jobId)).toBe('escalated');
    } finally {
      app.clock = clock;
    }
    expect(await app.ledger.get(emailId)).toMatchObject({ state: 'escalated', reason: expect.stringContaining('approval deadline') });
    await expect(approveParked(app, { emailId, reviewer: 'alice' })).rejects.toMatchObject({ code: 'INPUT_NOT_FOUND' });
  });
});
