import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuditTrail, type AuditEvent } from '../../src/audit/audit-trail.js';
import { createEmailLedger, type EmailRecord } from '../../src/audit/email-ledger.js';
import { buildReport, MailroomReport } from '../../src/report/report.js';
import { parseDuration } from '../../src/kernel/duration.js';
import { median } from '../../src/audit/row-sums.js';
import { emailOutcome } from '../../src/audit/email-outcome.js';
import { createContext } from '../../src/app/context.js';
import { type AppContext } from '../../src/services/services.js';
import { startWorkers, type RunningWorkers } from '../../src/app/workers.js';
import { approveParked, rejectParked } from '../../src/run/decisions.js';
import type { EmailId } from '../../src/kernel/ids.js';
import { submitEmail } from '../../src/ingest/submit.js';
import { createLogger } from '../../src/kernel/logger.js';
import { EXAMPLES } from '../fixtures/examples.js';
import { exampleConfig } from '../harness/example-config.js';
import { waitFor } from '../harness/mail.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';

const logger = createLogger({ level: 'silent' });

const LIVE = {
  billing: '01-invoice-copy-request.eml',
  approved: '06-refund-after-closing-studio.eml',
  rejected: '07-refund-duplicate-seats.eml',
  waiting: '08-remboursement-commande.eml',
  unverified: '19-spoofed-billing-contact-dmarc-fail.eml',
  robot: '32-autoreply-exchange.eml',
  malformed: '41-malformed-no-from.eml',
};
const SHADOW = { feature: '16-feature-dark-mode.eml', cancellation: '45-cancellation-verified.eml' };

describe('mailroom report against a run the test controls (real Redis, the real pipeline)', () => {
  let redis: TestRedis;
  let app: AppContext;
  let workers: RunningWorkers;
  let report: MailroomReport;
  const ids: Record<string, EmailId> = {};
  const t0 = new Date('2026-11-20T09:00:00Z');
  let now = t0;

  beforeAll(async () => {
    redis = await startTestRedis();
    app = await createContext(exampleConfig({ redis }), logger);
    // The trail's and the ledger's clock is the test's: parking and decisions happen at known times.
    const clock = () => now;
    app.clock = clock;
    app.audit = createAuditTrail(app.redis, app.keys, clock);
    app.ledger = createEmailLedger(app.redis, app.keys, clock);
    workers = startWorkers(app);
    const submit = async (name: string, file: string, shadow: boolean) => {
      const raw = readFileSync(path.join(EXAMPLES, 'mailbox', file));
      ids[name] = (await submitEmail(app, raw, { kind: 'file', path: file }, undefined, { shadow })).emailId;
    };
    for (const [name, file] of Object.entries(LIVE)) await submit(name, file, false);
    for (const [name, file] of Object.entries(SHADOW)) await submit(name, file, true);
    const all = Object.values(ids);
    await waitFor(
      'every email at rest',
      async () => {
        const recs = await app.ledger.getMany(all);
        return recs.every((r) => r && !['received', 'triaged', 'planned', 'running'].includes(r.state))
          ? true
          : undefined;
      },
      60_000,
    );
    now = new Date(t0.getTime() + 60_000);
    await approveParked(app, { emailId: ids.approved as EmailId, reviewer: 'alice' });
    now = new Date(t0.getTime() + 180_000);
    await rejectParked(app, {
      emailId: ids.rejected as EmailId,
      reviewer: 'bob',
      reason: 'already refunded',
    });
    await waitFor(
      'the approved plan to finish',
      async () => ((await app.ledger.get(ids.approved as EmailId))?.state === 'completed' ? true : undefined),
      30_000,
    );
    report = MailroomReport.parse(
      await buildReport(app, {
        since: new Date(Date.now() - 3_600_000),
        until: new Date(Date.now() + 3_600_000),
      }),
    );
  }, 120_000);
  afterAll(async () => {
    await workers?.close();
    await app?.close();
    await redis?.close();
  });

  it('counts every state as the ledger, the queues and the trails hold them', async () => {
    const t = report.totals;
    const states = await app.ledger.countByState();
    expect(t.emails).toBe(await app.ledger.count());
    expect(t.emails).toBe(9);
    expect(t.escalated).toBe(states.escalated ?? 0);
    expect(t.shadowed).toBe(states.shadowed ?? 0);
    expect(t.shadowed).toBe(2);
    expect(t.quarantined).toBe(await app.queues.get('deadLetter').count());
    expect(t.quarantined).toBe(1);
    expect(t.awaiting_approval).toBe(await app.queues.get('approval').count());
    expect(t.awaiting_approval).toBe(1);
    expect(t.rejected).toBe(states.rejected ?? 0);
    // Completed: the billing reply and the robot by themselves, the refund after alice approved it.
    expect(states.completed).toBe(3);
    expect(t.completed_automatically).toBe(2);
    expect(t).toMatchObject({ parked: 3, approved: 1, rejected: 1, decisions: 2 });
    expect(t.median_decision_seconds).toBe(120); // 60 s and 180 s after parking
    const robot = (await app.ledger.get(ids.robot as EmailId))?.robot;
    expect(robot).toBeTruthy();
    expect(t.robots).toEqual({ [robot ?? '-']: 1 });
    expect(t.top_quarantine_reasons).toEqual([{ reason: 'MAILROOM_EMAIL_MALFORMED', count: 1 }]);
    expect(t.top_escalation_reasons).toEqual([{ reason: 'unverified_sender', count: 1 }]);
    const stats = await app.redis.hgetall(app.keys.stats());
    expect(t.plan_cache).toMatchObject({
      hits: Number(stats.plan_cache_hits ?? 0),
      misses: Number(stats.plan_cache_misses ?? 0),
    });
    let replans = 0;
    for (const id of Object.values(ids))
      replans += (await app.audit.read(id)).filter((e) => e.type === 'replanned').length;
    expect(t.replans).toBe(replans);
  });

  it('says what shadow mode would have done and how much of it policy would have approved by itself', () => {
    const s = report.totals.shadow;
    expect(s).toMatchObject({
      emails: 2,
      would: { complete: 1, park: 1 },
      auto_approved: 1,
      would_park: 1,
      auto_rate: 0.5,
    });
    // The feature request: a reply, a ticket, a forward to the product team, flags and a label.
    expect(s.effects).toEqual({
      apply_label: 1,
      create_ticket: 1,
      forward_to_team: 1,
      send_reply: 1,
      set_flags: 1,
    });
    expect(s.would_send).toBe(2);
  });

  it('splits the figures per mailbox and category', () => {
    expect(report.mailboxes.map((m) => m.mailbox)).toEqual(['support@acme.example']);
    const cats = Object.fromEntries((report.mailboxes[0]?.categories ?? []).map((c) => [c.category, c.row]));
    expect(cats.refund).toMatchObject({
      emails: 3,
      parked: 3,
      approved: 1,
      rejected: 1,
      awaiting_approval: 1,
    });
    expect(cats.billing).toMatchObject({ completed_automatically: 1 });
    expect(cats.feature_request?.shadow.would_send).toBe(2);
    expect(cats.cancellation?.shadow).toMatchObject({ would: { park: 1 }, would_park: 1 });
    const sum = Object.values(cats).reduce((n, r) => n + r.emails, 0);
    expect(sum).toBe(report.totals.emails);
  });
});

describe('report helpers', () => {
  const record = (over: Partial<EmailRecord> = {}): EmailRecord => ({
    emailId: 'em_0000000000000000' as EmailId,
    state: 'completed',
    reason: '',
    source: 'x',
    createdAt: '',
    updatedAt: '',
    planId: '',
    category: 'billing',
    sender: '',
    robot: '',
    tools: '',
    mailbox: '',
    mode: 'live',
    ...over,
  });
  const ev = (type: AuditEvent['type'], data: Record<string, unknown>, actor = 'x'): AuditEvent => ({
    ts: '2026-11-20T09:00:00.000Z',
    type,
    actor,
    data,
  });

  it('counts the plan cache only where it was asked, and policy by the latest plan', () => {
    const facts = emailOutcome(record({ mode: 'shadow', state: 'shadowed' }), [
      ev('planned', { cacheHit: false }, 'playbook'),
      ev('gated', {}),
      ev('replanned', { cacheHit: true, cacheLookup: true }, 'llm'),
      ev('approved', { auto: true }, 'policy'),
      ev('planned', { cacheHit: false, cacheLookup: true }, 'llm'),
    ]);
    expect(facts).toMatchObject({ cacheHits: 1, cacheMisses: 1, replans: 1, shadow: { policy: 'auto' } });
  });

  it('parses durations and takes medians', () => {
    expect(parseDuration('7d')).toBe(7 * 86_400_000);
    expect(parseDuration('90m')).toBe(5_400_000);
    expect(parseDuration('1y')).toBeNull();
    expect(parseDuration('d')).toBeNull();
    expect(median([])).toBeNull();
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
  });
});
