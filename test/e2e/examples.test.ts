import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProcess } from '../../src/cli/process-command.js';
import type { Config } from '../../src/config/config.js';
import { createContext } from '../../src/app/context.js';
import { isEffect } from '../../src/executor/effects.js';
import { EmailId, PlanId } from '../../src/kernel/ids.js';
import { Plan } from '../../src/model/plan.js';
import { createLogger } from '../../src/kernel/logger.js';
import type { ProcessSummary } from '../../src/cli/summary.js';
import { EXAMPLES, EXPECTED } from '../fixtures/examples.js';
import { exampleConfig } from '../harness/example-config.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';
import { startSmtpCapture, type SmtpCapture } from '../harness/smtp-capture.js';

/** Refund and cancellation plans reply too, but only once a human approves them: they park first. */
const REPLY_CATEGORIES = ['billing', 'bug', 'account_access', 'feature_request'];

/**
 * The files that should get exactly one automatic reply: human, verified, in a reply playbook. Mail
 * that is malformed but readable (as a mail client shows it) counts; unreadable mail is quarantined.
 */
const shouldReply = Object.entries(EXPECTED)
  .filter(([, e]) => e.verified && e.robot === 'none' && REPLY_CATEGORIES.includes(e.category))
  .map(([f]) => f);

function headerOf(raw: string, name: string): string | undefined {
  const m = new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(raw.split(/\r?\n\r?\n/)[0] ?? '');
  return m?.[1]?.trim();
}

describe('examples/ through the whole pipeline (real Redis, real SMTP)', () => {
  let redis: TestRedis;
  let smtp: SmtpCapture;
  let config: Config;
  let summary: ProcessSummary;
  const logger = createLogger({ level: 'silent' });

  beforeAll(async () => {
    redis = await startTestRedis();
    smtp = await startSmtpCapture();
    config = exampleConfig({ redis, smtp });
    summary = await runProcess(config, logger, { paths: [path.join(EXAMPLES, 'mailbox')], timeoutMs: 60_000 });
  });
  afterAll(async () => {
    await smtp?.close();
    await redis?.close();
  });

  it('brings every email to rest and loses none', () => {
    expect(summary.processed).toBe(Object.keys(EXPECTED).length);
    expect(summary.lost).toBe(0);
    expect(summary.completed + summary.escalated + summary.quarantined + summary.awaiting_approval + summary.rejected).toBe(summary.processed);
    for (const e of summary.emails) expect(['completed', 'escalated', 'quarantined', 'awaiting_approval', 'rejected']).toContain(e.state);
  });

  /** Mail to the configured teams (forwards, escalation notices) is not a reply to a customer. */
  const toCustomers = () => {
    const teams = new Set(config.teams.map((t) => t.address.toLowerCase()));
    return smtp.messages.filter((m) => !m.envelope.to.some((r) => teams.has(r.toLowerCase())));
  };

  it('sends exactly one threaded reply to each verified human asking a question', async () => {
    expect(shouldReply.length).toBeGreaterThan(10);
    await smtp.waitFor(shouldReply.length, 10_000);
    expect(toCustomers()).toHaveLength(shouldReply.length);
    for (const file of shouldReply) {
      const raw = readFileSync(path.join(EXAMPLES, 'mailbox', file), 'utf8');
      const originalId = headerOf(raw, 'Message-ID');
      const from = /<([^>]+)>/.exec(headerOf(raw, 'From') ?? '')?.[1] ?? headerOf(raw, 'From');
      const replies = smtp.messages.filter((m) => m.parsed.inReplyTo === originalId);
      expect(replies, file).toHaveLength(1);
      const reply = replies[0];
      expect(reply?.envelope.to).toEqual([from?.toLowerCase()]);
      expect(reply?.parsed.headers.get('auto-submitted')).toBe('auto-replied');
      expect(String(reply?.parsed.headers.get('references') ?? '')).toContain(originalId ?? '-');
    }
  });

  it('never answers robots, unverified senders, spam or unreadable mail', () => {
    const recipients = smtp.messages.flatMap((m) => m.envelope.to);
    expect(toCustomers().every((m) => m.parsed.inReplyTo !== undefined)).toBe(true);
    for (const [file, e] of Object.entries(EXPECTED)) {
      if (shouldReply.includes(file)) continue;
      const raw = readFileSync(path.join(EXAMPLES, 'mailbox', file), 'utf8');
      const id = headerOf(raw, 'Message-ID');
      expect(smtp.messages.filter((m) => m.parsed.inReplyTo === id), `${file} (${e.category}, robot ${e.robot})`).toHaveLength(0);
    }
    expect(recipients.some((r) => r.includes('evil.example'))).toBe(false);
    expect(smtp.messages.some((m) => m.raw.includes('evil.example'))).toBe(false);
  });

  it('quarantines unreadable mail with a reason, reads malformed mail a client would show (flagged in its audit), and reports robots by kind', async () => {
    const malformed = summary.emails.filter((e) => EXPECTED[path.basename(e.file)]?.malformed);
    expect(malformed.length).toBeGreaterThanOrEqual(2);
    const app = await createContext(config, logger);
    try {
      for (const e of malformed) {
        if (e.state === 'quarantined') {
          expect(e.reason).toContain('MAILROOM_EMAIL_MALFORMED');
          continue;
        }
        const parsed = (await app.audit.read(EmailId.parse(e.emailId))).find((ev) => ev.type === 'parsed');
        expect(parsed?.data, e.file).toMatchObject({ malformed: true, repairs: ['multipart-without-boundary'] });
      }
    } finally {
      await app.close();
    }
    expect(malformed.map((e) => e.state).sort()).toEqual(['completed', 'quarantined']);
    const robots = Object.values(EXPECTED).filter((e) => e.robot !== 'none').length;
    expect(Object.values(summary.robots).reduce((a, b) => a + b, 0)).toBe(robots);
    expect(summary.llm).toMatchObject({ provider: 'offline', calls: 0 });
  });

  it('runs a plan in one steps job per side-effect boundary, and every step is still audited', async () => {
    const app = await createContext(config, logger);
    try {
      const jobs = await app.queues.get('steps').getJobs(['completed'], 0, -1);
      let plans = 0;
      let shared = 0;
      for (const e of summary.emails.filter((x) => x.state === 'completed')) {
        const trail = await app.audit.read(EmailId.parse(e.emailId));
        const planned = trail.filter((t) => t.type === 'planned' || t.type === 'replanned');
        if (planned.length !== 1 || trail.some((t) => t.type === 'approved' && t.actor !== 'policy')) continue;
        const { planId, plan } = planned[0]?.data as { planId: string; plan: unknown };
        const steps = Plan.parse(plan).steps;
        // A job starts at the first step and at each step that writes or acts; reads ride along.
        const starts = steps.flatMap((step, i) => {
          const tool = app.registry.get(step.tool);
          return i === 0 || !tool || tool.risk !== 'read' || isEffect(tool) ? [i] : [];
        });
        const ran = jobs.filter((j) => j.data.planId === planId).map((j) => Number(j.data.stepIndex)).sort((a, b) => a - b);
        expect(ran, e.file).toEqual(starts);
        for (const step of steps) expect(trail.filter((t) => t.type === 'step_finished' && t.data.stepId === step.id), `${e.file} ${step.id}`).toHaveLength(1);
        // Each step's output is stored, and the hash expires: its TTL is set with the first output only.
        const outKey = app.keys.planOutputs(PlanId.parse(planId));
        expect(Object.keys(await app.redis.hgetall(outKey)).sort(), e.file).toEqual(steps.map((s) => s.id).sort());
        const ttl = await app.redis.ttl(outKey);
        expect(ttl, e.file).toBeGreaterThan(config.contentTtlSeconds - 600);
        expect(ttl, e.file).toBeLessThanOrEqual(config.contentTtlSeconds);
        plans += 1;
        shared += steps.length - starts.length;
      }
      // Not vacuous: the examples have plans, and some of their steps shared a job.
      expect(plans).toBeGreaterThan(10);
      expect(shared).toBeGreaterThan(5);
    } finally {
      await app.close();
    }
  });

  it('treats a second delivery of the same mail as a duplicate and sends nothing more', async () => {
    const before = smtp.messages.length;
    const again = await runProcess(config, logger, { paths: [path.join(EXAMPLES, 'mailbox', shouldReply[0] ?? '')], timeoutMs: 10_000 });
    expect(again).toMatchObject({ processed: 1, duplicates: 1, lost: 0 });
    await new Promise((r) => setTimeout(r, 300));
    expect(smtp.messages.length).toBe(before);
  });
});
