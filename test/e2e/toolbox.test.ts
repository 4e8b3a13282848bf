import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProcess } from '../../src/cli/process-command.js';
import type { ProcessSummary } from '../../src/cli/summary.js';
import type { Config } from '../../src/config/config.js';
import { createContext } from '../../src/app/context.js';
import { type AppContext } from '../../src/services/services.js';
import { EmailId } from '../../src/kernel/ids.js';
import { createLogger } from '../../src/kernel/logger.js';
import { ALL_TOOLS } from '../../src/tools/registry.js';
import { EXAMPLES } from '../fixtures/examples.js';
import { exampleConfig } from '../harness/example-config.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';
import { startSmtpCapture, type SmtpCapture } from '../harness/smtp-capture.js';

describe('mailroom process examples/ exercises the whole toolbox (real Redis, real SMTP)', () => {
  let redis: TestRedis;
  let smtp: SmtpCapture;
  let config: Config;
  let summary: ProcessSummary;
  let app: AppContext;
  const logger = createLogger({ level: 'silent' });
  const row = (file: string) => summary.emails.find((e) => e.file.endsWith(file));

  beforeAll(async () => {
    redis = await startTestRedis();
    smtp = await startSmtpCapture();
    config = exampleConfig({ redis, smtp });
    // The follow-up threads too: add_to_ticket runs only on a case that has a ticket.
    summary = await runProcess(config, logger, { paths: [path.join(EXAMPLES, 'mailbox')], threads: path.join(EXAMPLES, 'threads'), timeoutMs: 60_000 });
    app = await createContext(config, logger);
  });
  afterAll(async () => {
    await app?.close();
    await smtp?.close();
    await redis?.close();
  });

  it('plans every tool at least once; classify_email runs in triage and shows in the audit', async () => {
    expect(summary.lost).toBe(0);
    const planned = new Set(Object.keys(summary.tools));
    const missing = ALL_TOOLS.map((t) => t.name).filter((n) => !planned.has(n));
    // suggest_reply is for the LLM planner and human review: no playbook sends a suggestion.
    expect(missing).toEqual(['classify_email', 'suggest_reply']);
    const id = EmailId.parse(row('16-feature-dark-mode.eml')?.emailId);
    expect((await app.audit.read(id)).find((e) => e.type === 'classified')?.data).toEqual({ category: 'feature_request', source: 'classifier' });
  });

  it('refunds go through the endorser and park for a human; nothing is refunded unapproved', async () => {
    for (const file of ['06-refund-after-closing-studio.eml', '07-refund-duplicate-seats.eml', '08-remboursement-commande.eml']) {
      const r = row(file);
      expect(r?.state, file).toBe('awaiting_approval');
      // Reads and the draft move before the gate (src/planner/pre-gate.ts).
      expect(r?.tools.slice(0, 6), file).toEqual(['extract_fields', 'lookup_order', 'read_facts', 'search_kb', 'draft_reply', 'issue_refund']);
      expect(r?.reason, file).toContain('issue_refund moves money');
      // The steps before the gate ran: the reviewer sees the endorsed order and the reply.
      const trail = await app.audit.read(EmailId.parse(r?.emailId));
      expect(trail.filter((e) => e.type === 'step_finished').map((e) => e.data.tool), file).toEqual(['extract_fields', 'lookup_order', 'read_facts', 'search_kb', 'draft_reply']);
    }
    // The injected order id (ORD-99999) is not the sender's: the endorser refuses it before any human is asked.
    const injected = row('25-inject-system-refund-verified.eml');
    expect(injected?.state).toBe('escalated');
    const trail = await app.audit.read(EmailId.parse(injected?.emailId));
    expect(trail.some((e) => e.type === 'step_failed' && e.data.code === 'MAILROOM_ORDER_NOT_FOUND')).toBe(true);
    expect(await app.redis.hlen(app.keys.refunds())).toBe(0);
  });

  it('the cancellation and the verified spam park; no account is changed, no message deleted, no outside mail sent', async () => {
    expect(row('45-cancellation-verified.eml')).toMatchObject({ state: 'awaiting_approval', tools: expect.arrayContaining(['lookup_account', 'update_account', 'send_email']) });
    expect(row('23-spam-guest-post-verified.eml')).toMatchObject({ state: 'awaiting_approval', tools: ['apply_label', 'delete_message'] });
    expect(row('21-spam-crypto-opportunity.eml')).toMatchObject({ state: 'completed', tools: ['apply_label', 'move_message'] });
    expect(await app.redis.hlen(app.keys.accountChanges())).toBe(0);
    expect(await app.redis.hlen(app.keys.deletions())).toBe(0);
    expect(smtp.messages.some((m) => m.envelope.to.includes('accounts@tanaka-works.example'))).toBe(false);
  });

  it('feature requests reach the product team, escalations the support leads, and every one has a ticket', async () => {
    const to = (address: string) => smtp.messages.filter((m) => m.envelope.to.includes(address));
    const features = summary.emails.filter((e) => e.tools.includes('forward_to_team'));
    expect(features.length).toBe(4);
    expect(to('product@acme.example')).toHaveLength(features.length);
    expect(to('support-leads@acme.example')).toHaveLength(summary.escalated);
    const ticketed = summary.emails.filter((e) => e.tools.includes('create_ticket') && e.state !== 'awaiting_approval');
    expect(await app.redis.hlen(app.keys.tickets())).toBe(ticketed.length);
    expect(smtp.messages.some((m) => m.raw.includes('evil.example'))).toBe(false);
  });
});
