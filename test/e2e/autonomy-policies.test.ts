import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReport } from '../../src/report/report.js';
import { runProcess } from '../../src/cli/process-command.js';
import type { ProcessSummary } from '../../src/cli/summary.js';
import { AutonomyFile, type Config } from '../../src/config/config.js';
import { createContext } from '../../src/app/context.js';
import { type AppContext } from '../../src/services/services.js';
import type { EmailId } from '../../src/kernel/ids.js';
import { createLogger } from '../../src/kernel/logger.js';
import { StepAutonomy } from '../../src/model/autonomy.js';
import { ApprovalJob } from '../../src/queues/approval-job.js';
import { startWorkers } from '../../src/app/workers.js';
import { approveParked } from '../../src/run/decisions.js';
import { waitFor } from '../harness/mail.js';
import { EXAMPLES } from '../fixtures/examples.js';
import { exampleConfig } from '../harness/example-config.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';
import { startSmtpCapture, type SmtpCapture } from '../harness/smtp-capture.js';

const POLICIES = path.join(EXAMPLES, 'autonomy');
const README = readFileSync(path.resolve(EXAMPLES, '../README.md'), 'utf8');

/** The examples the README's autonomy section runs under each policy. */
const FILES = {
  billing: '01-invoice-copy-request.eml',
  refund49: '06-refund-after-closing-studio.eml',
  refund468: '08-remboursement-commande.eml',
  bug: '09-bug-csv-export-crash.eml',
  feature: '16-feature-dark-mode.eml',
  spam: '23-spam-guest-post-verified.eml',
  spoofed: '19-spoofed-billing-contact-dmarc-fail.eml',
} as const;
type Example = keyof typeof FILES;

/** The outcomes the README documents (its table "The examples under each policy"). */
const DOCUMENTED: Record<string, Record<Example, string>> = {
  'cautious-first-week': {
    billing: 'awaiting_approval',
    refund49: 'escalated',
    refund468: 'escalated',
    bug: 'awaiting_approval',
    feature: 'awaiting_approval',
    spam: 'awaiting_approval',
    spoofed: 'awaiting_approval',
  },
  'steady-state': {
    billing: 'completed',
    refund49: 'completed',
    refund468: 'awaiting_approval',
    bug: 'completed',
    feature: 'completed',
    spam: 'awaiting_approval',
    spoofed: 'escalated',
  },
  'high-volume-desk': {
    billing: 'completed',
    refund49: 'completed',
    refund468: 'awaiting_approval',
    bug: 'completed',
    feature: 'completed',
    spam: 'awaiting_approval',
    spoofed: 'escalated',
  },
};

function policyFile(name: string): Config['autonomy'] {
  const file = AutonomyFile.parse(JSON.parse(readFileSync(path.join(POLICIES, `${name}.json`), 'utf8')));
  return { rules: file.rules ?? [], ...(file.default ? { default: file.default } : {}) };
}

interface Run {
  app: AppContext;
  smtp: SmtpCapture;
  summary: ProcessSummary;
  idOf: (e: Example) => EmailId;
  stateOf: (e: Example) => string;
}

describe('the README autonomy policies, end to end (real Redis, real SMTP, the examples)', () => {
  let redis: TestRedis;
  const runs = new Map<string, Run>();
  const logger = createLogger({ level: 'silent' });

  beforeAll(async () => {
    redis = await startTestRedis();
    for (const name of Object.keys(DOCUMENTED)) {
      const smtp = await startSmtpCapture();
      const config = exampleConfig({ redis, smtp, overrides: { autonomy: policyFile(name) } });
      const summary = await runProcess(config, logger, { paths: Object.values(FILES).map((f) => path.join(EXAMPLES, 'mailbox', f)), timeoutMs: 120_000 });
      const app = await createContext(config, logger);
      const byFile = (e: Example) => {
        const row = summary.emails.find((x) => x.file.endsWith(FILES[e]));
        if (!row) throw new Error(`${FILES[e]} not processed`);
        return row;
      };
      runs.set(name, { app, smtp, summary, idOf: (e) => byFile(e).emailId as EmailId, stateOf: (e) => byFile(e).state });
    }
  }, 400_000);
  afterAll(async () => {
    for (const r of runs.values()) {
      await r.app.close();
      await r.smtp.close();
    }
    await redis?.close();
  });

  const run = (name: string): Run => {
    const r = runs.get(name);
    if (!r) throw new Error(name);
    return r;
  };

  it.each(Object.keys(DOCUMENTED))('%s: every example ends as the README documents', (name) => {
    const r = run(name);
    expect(r.summary.lost).toBe(0);
    const states = Object.fromEntries((Object.keys(FILES) as Example[]).map((e) => [e, r.stateOf(e)]));
    expect(states).toEqual(DOCUMENTED[name]);
  });

  it('the README shows each policy file as it is, and documents each outcome', () => {
    const flat = (s: string) => s.replace(/\s+/g, '');
    for (const file of readdirSync(POLICIES)) expect(flat(README).includes(flat(readFileSync(path.join(POLICIES, file), 'utf8'))), `README shows ${file}`).toBe(true);
    for (const [name, outcomes] of Object.entries(DOCUMENTED)) {
      expect(README).toContain(`examples/autonomy/${name}.json`);
      for (const e of Object.keys(outcomes) as Example[]) expect(README).toContain(FILES[e]);
    }
  });

  it('cautious first week: no refund moves, no reply leaves; each reply is recorded as a suggestion and the review shows each level', async () => {
    const r = run('cautious-first-week');
    expect(await r.app.redis.hlen(r.app.keys.refunds())).toBe(0);
    expect(r.smtp.messages.filter((m) => m.parsed.inReplyTo !== undefined)).toHaveLength(0);
    const trail = await r.app.audit.read(r.idOf('billing'));
    const suggested = trail.filter((e) => e.type === 'would_do' && e.actor === 'autonomy');
    expect(suggested.map((e) => e.data.tool)).toEqual(['send_reply']);
    expect(suggested[0]?.data.messages).toEqual([expect.objectContaining({ to: expect.stringMatching(/@/) })]);
    const levels = StepAutonomy.array().parse(trail.find((e) => e.type === 'autonomy')?.data.steps);
    expect(levels.find((s) => s.tool === 'send_reply')).toMatchObject({ level: 'suggest', rule: { index: 0, name: 'suggest every reply' } });
    expect(levels.find((s) => s.tool === 'apply_label')).toMatchObject({ level: 'auto', rule: null });
    // The review screen (the approval job's data) names the level and the rule of each step.
    const jobs = await r.app.queues.get('approval').getJobs(['delayed']);
    const views = jobs.map((j) => ApprovalJob.parse(j.data));
    expect(views.find((v) => v.ids.emailId === r.idOf('billing'))?.steps.join('\n')).toMatch(/send_reply .*level suggest by rules\[0\] "suggest every reply"/);
    expect(views.find((v) => v.ids.emailId === r.idOf('feature'))?.steps.join('\n')).toMatch(/forward_to_team .*level review by rules\[1\] "tickets and forwards reviewed"/);
    // never: the refund is refused before anything runs, the email escalates with the rule named.
    const refund = await r.app.audit.read(r.idOf('refund49'));
    expect(refund.some((e) => e.type === 'step_started')).toBe(false);
    expect(refund.find((e) => e.type === 'escalated')?.data.reason).toMatch(/issue_refund is never done alone \(autonomy rules\[2\] "refunds by hand"\)/);
  });

  it('steady state: the small refund runs alone and the reply goes out; the large one parks at its ceiling', async () => {
    const r = run('steady-state');
    const refunds = Object.values(await r.app.redis.hgetall(r.app.keys.refunds())).map((v) => JSON.parse(v) as { emailId: string; amount: number });
    expect(refunds).toEqual([expect.objectContaining({ emailId: r.idOf('refund49'), amount: 49 })]);
    expect(r.smtp.messages.filter((m) => m.parsed.inReplyTo !== undefined).length).toBeGreaterThanOrEqual(4);
    const large = await r.app.audit.read(r.idOf('refund468'));
    expect(large.find((e) => e.type === 'parked')?.data.reasons).toEqual(['step refund: issue_refund of 468 is above the autonomy ceiling (50)']);
    const last = large.filter((e) => e.type === 'autonomy').at(-1);
    expect(StepAutonomy.array().parse(last?.data.steps)).toEqual([expect.objectContaining({ tool: 'issue_refund', level: 'review', limit: expect.objectContaining({ kind: 'amount' }) })]);
  });

  it('high-volume desk: the spam deletion is suggested (recorded as a would-do) and waits for a person', async () => {
    const r = run('high-volume-desk');
    const trail = await r.app.audit.read(r.idOf('spam'));
    expect(trail.filter((e) => e.type === 'would_do' && e.actor === 'autonomy').map((e) => e.data.tool)).toEqual(['delete_message']);
    expect(trail.some((e) => e.type === 'step_started' && e.data.tool === 'delete_message')).toBe(false);
  });

  /** The report's autonomy figure, and the same counted again from the trails the plain way. */
  async function reportAndAudit(r: Run) {
    const report = await buildReport(r.app, { since: new Date(0), until: new Date(Date.now() + 60_000) });
    // The last level of each plan step, and whether it finished.
    const expected = new Map<string, { decided: number; ran: number }>();
    for (const row of r.summary.emails) {
      const trail = await r.app.audit.read(row.emailId as EmailId);
      const level = new Map<string, { tool: string; level: string }>();
      for (const e of trail.filter((x) => x.type === 'autonomy')) {
        for (const s of StepAutonomy.array().parse(e.data.steps)) level.set(`${String(e.data.planId)}/${s.stepId}`, { tool: s.tool, level: s.level });
      }
      const finished = new Set(trail.filter((e) => e.type === 'step_finished').map((e) => `${String(e.data.planId)}/${String(e.data.stepId)}`));
      for (const [key, s] of level) {
        const k = `${s.tool}|${row.category}|${s.level}`;
        const c = expected.get(k) ?? { decided: 0, ran: 0 };
        c.decided += 1;
        if (finished.has(key)) c.ran += 1;
        expected.set(k, c);
      }
    }
    const got = new Map(report.autonomy.map((a) => [`${a.tool}|${a.category}|${a.level}`, { decided: a.decided, ran: a.ran }]));
    return { got, expected };
  }

  it.each(Object.keys(DOCUMENTED))('%s: the report counts steps per level, tool and category exactly as the audit records them', async (name) => {
    const { got, expected } = await reportAndAudit(run(name));
    expect(got).toEqual(expected);
    expect(got.size).toBeGreaterThan(5);
  });

  it('steady state: a person approves the refund above the ceiling; it runs once, and the report counts it at review, ran', async () => {
    const r = run('steady-state');
    const workers = startWorkers(r.app, ['executor']);
    try {
      const emailId = r.idOf('refund468');
      await approveParked(r.app, { emailId, reviewer: 'lead' });
      const rec = await waitFor('the approved refund', async () => {
        const got = await r.app.ledger.get(emailId);
        return got && got.state !== 'running' ? got : undefined;
      }, 20_000);
      expect(rec.state).toBe('completed');
      expect(await r.app.redis.hlen(r.app.keys.refunds())).toBe(2);
      const { got, expected } = await reportAndAudit(r);
      expect(got).toEqual(expected);
      expect(got.get('issue_refund|refund|review')).toEqual({ decided: 1, ran: 1 });
      expect(got.get('issue_refund|refund|auto')).toEqual({ decided: 1, ran: 1 });
    } finally {
      await workers.close();
    }
  });
});
