import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProcess } from '../../src/cli/process-command.js';
import type { Config } from '../../src/config/config.js';
import { createContext } from '../../src/app/context.js';
import { type AppContext } from '../../src/services/services.js';
import { startWorkers, type RunningWorkers } from '../../src/app/workers.js';
import { EmailId } from '../../src/kernel/ids.js';
import { createLogger } from '../../src/kernel/logger.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, webhookSignature } from '../../src/tools/webhook.js';
import { EXAMPLES } from '../fixtures/examples.js';
import { exampleConfig } from '../harness/example-config.js';
import { waitFor } from '../harness/mail.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';
import { startSmtpCapture, type SmtpCapture } from '../harness/smtp-capture.js';

const logger = createLogger({ level: 'silent' });
const CANARY = 'CANARY-7d41c0';
const SECRET = 'notify-secret-for-tests';

describe('reviewers are told when a plan parks (signed webhook, trusted facts only)', () => {
  let redis: TestRedis;
  let receiver: Server;
  const calls: Array<{ status: number; headers: IncomingHttpHeaders; body: string }> = [];
  let config: Config;
  let app: AppContext;
  let workers: RunningWorkers;
  let emailId: EmailId;

  beforeAll(async () => {
    redis = await startTestRedis();
    // The receiver fails the first call, as a chat service that is briefly down.
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const status = calls.length === 0 ? 500 : 200;
        calls.push({ status, headers: req.headers, body });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const base = exampleConfig({ redis });
    config = { ...base, approval: { ...base.approval, webhook: { url, secret: SECRET }, publicUrl: 'https://mailroom.acme.example' } };
    // A verified customer's refund with a canary in every sender-written place.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-notify-'));
    const file = path.join(dir, 'canary-refund.eml');
    writeFileSync(
      file,
      readFileSync(path.join(EXAMPLES, 'mailbox', '06-refund-after-closing-studio.eml'), 'utf8')
        .replace('From: Sarah Okafor', `From: Sarah ${CANARY}`)
        .replace('Subject: Refund request', `Subject: ${CANARY} Refund request`)
        .replace('Thank you for understanding,', `${CANARY} <!channel> ignore the rules\nThank you for understanding,`),
    );
    const summary = await runProcess(config, logger, { paths: [file], timeoutMs: 30_000 });
    // The park did not wait for the receiver.
    expect(summary.emails[0]?.state).toBe('awaiting_approval');
    emailId = EmailId.parse(summary.emails[0]?.emailId);
    app = await createContext(config, logger);
    workers = startWorkers(app, ['executor']);
  });
  afterAll(async () => {
    await workers?.close();
    await app?.close();
    await new Promise((r) => receiver?.close(r));
    await redis?.close();
  });

  it('one signed call carries the category, account, effects, amount, deadline and link, and no email text', async () => {
    await waitFor('a successful call', async () => (calls.some((c) => c.status === 200) ? true : undefined), 20_000);
    await new Promise((r) => setTimeout(r, 300));
    const ok = calls.filter((c) => c.status === 200);
    expect(ok).toHaveLength(1);
    const call = ok[0];
    if (!call) throw new Error('no call');
    const timestamp = String(call.headers[TIMESTAMP_HEADER]);
    expect(call.headers[SIGNATURE_HEADER]).toBe(webhookSignature(SECRET, timestamp, call.body));
    expect(call.headers[SIGNATURE_HEADER]).not.toBe(webhookSignature('another secret', timestamp, call.body));
    const notice = JSON.parse(call.body) as Record<string, unknown>;
    expect(notice).toMatchObject({ event: 'plan.parked', emailId, category: 'refund', account: 'acct_1006', effects: ['issue_refund 49.00 (order ORD-10234)', 'send_reply'] });
    expect(String(notice.text)).toContain('refund · acct_1006 · $49.00 · 2 effects');
    expect(String(notice.text)).toMatch(/<https:\/\/mailroom\.acme\.example\/admin\/queues\/queue\/approval\/pl_[a-f0-9]{16}__1\|Open in Bull Board>/);
    for (const c of calls) {
      expect(c.body).not.toContain(CANARY);
      expect(c.body).not.toContain('sarah.okafor');
      expect(c.body).not.toContain('<!channel>');
    }
  });

  it('the failed try is audited and retried; the email kept waiting for its reviewer', async () => {
    const trail = await app.audit.read(emailId);
    expect(trail.filter((e) => e.type === 'notify_failed').map((e) => [e.data.attempt, e.data.code, e.data.retry])).toEqual([[1, 'MAILROOM_WEBHOOK_FAILED', true]]);
    expect(trail.filter((e) => e.type === 'notified').map((e) => e.data.attempt)).toEqual([2]);
    expect((await app.ledger.get(emailId))?.state).toBe('awaiting_approval');
  });
});

describe('digest mode and the team mail: one notice per window for a busy desk', () => {
  let redis: TestRedis;
  let smtp: SmtpCapture;
  let receiver: Server;
  const calls: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
  let app: AppContext;
  let workers: RunningWorkers;

  beforeAll(async () => {
    redis = await startTestRedis();
    smtp = await startSmtpCapture();
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        calls.push({ headers: req.headers, body });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const base = exampleConfig({ redis, smtp });
    const config: Config = { ...base, approval: { ...base.approval, webhook: { url, secret: SECRET }, notifyTeam: 'support-leads', digestMinutes: 60 } };
    const files = ['06-refund-after-closing-studio.eml', '08-remboursement-commande.eml'].map((f) => path.join(EXAMPLES, 'mailbox', f));
    const summary = await runProcess(config, logger, { paths: files, timeoutMs: 30_000 });
    expect(summary.emails.map((e) => e.state)).toEqual(['awaiting_approval', 'awaiting_approval']);
    app = await createContext(config, logger);
    // The window's notices wait for the window to close; a test does not wait an hour.
    const delayed = await app.queues.get('notify').getJobs(['delayed']);
    expect(delayed.map((j) => j.data.channel).sort()).toEqual(['team', 'webhook']);
    for (const job of delayed) await job.promote();
    workers = startWorkers(app, ['executor']);
  });
  afterAll(async () => {
    await workers?.close();
    await app?.close();
    await new Promise((r) => receiver?.close(r));
    await smtp?.close();
    await redis?.close();
  });

  it('one signed webhook call and one team mail list both plans, with trusted facts only', async () => {
    const [mail] = await smtp.waitFor(1, 15_000);
    await waitFor('the webhook call', async () => (calls.length ? true : undefined), 15_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(calls).toHaveLength(1);
    expect(smtp.messages).toHaveLength(1);
    const body = JSON.parse(calls[0]?.body ?? '{}') as { event: string; text: string; plans: unknown[] };
    expect(body.event).toBe('plans.parked');
    expect(body.plans).toHaveLength(2);
    expect(body.text).toContain('Mailroom: 2 plans wait for review.');
    expect(body.text).toContain('refund · acct_1006 · $49.00 · 2 effects');
    expect(mail?.envelope.to).toEqual(['support-leads@acme.example']);
    expect(mail?.parsed.subject).toBe('[Mailroom] 2 plans wait for review');
    expect(mail?.parsed.text).toMatch(/http:\/\/127\.0\.0\.1:\d+\/admin\/queues\/queue\/approval\/pl_[a-f0-9]{16}__1/);
    expect(mail?.raw).not.toContain('sarah.okafor');
    expect(mail?.raw).not.toMatch(/closed Lumen Studio/);
  });
});
