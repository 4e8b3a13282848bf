import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProcess } from '../../src/cli/process-command.js';
import { createContext } from '../../src/app/context.js';
import { type AppContext } from '../../src/services/services.js';
import { startWorkers, type RunningWorkers } from '../../src/app/workers.js';
import { approveParked } from '../../src/run/decisions.js';
import { saveTriage } from '../../src/store/run-store.js';
import { EmailId, planIdFor } from '../../src/kernel/ids.js';
import type { StoredPlan } from '../../src/model/stored-plan.js';
import { storeEmail } from '../harness/toolbox.js';
import { createLogger } from '../../src/kernel/logger.js';
import { EXAMPLES } from '../fixtures/examples.js';
import { exampleConfig } from '../harness/example-config.js';
import { waitFor } from '../harness/mail.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';
import { startSmtpCapture, type SmtpCapture } from '../harness/smtp-capture.js';

const logger = createLogger({ level: 'silent' });

describe('a reply parked over a rate limit, then approved', () => {
  let redis: TestRedis;
  let smtp: SmtpCapture;
  let app: AppContext;
  let workers: RunningWorkers;
  let emailId: EmailId;

  beforeAll(async () => {
    redis = await startTestRedis();
    smtp = await startSmtpCapture();
    const base = exampleConfig({ redis, smtp });
    // 0 parks every automatic reply for a human.
    const config = { ...base, replyLimits: { ...base.replyLimits, perSenderPerDay: 0 } };
    const summary = await runProcess(config, logger, { paths: [path.join(EXAMPLES, 'mailbox', '01-invoice-copy-request.eml')], timeoutMs: 30_000 });
    expect(summary.emails[0]).toMatchObject({ state: 'awaiting_approval' });
    emailId = EmailId.parse(summary.emails[0]?.emailId);
    app = await createContext(config, logger);
    workers = startWorkers(app, ['executor']);
  });
  afterAll(async () => {
    await workers?.close();
    await app?.close();
    await smtp?.close();
    await redis?.close();
  });

  it('is sent once, as shown, instead of parking again on the same limit', async () => {
    expect((await app.ledger.get(emailId))?.reason).toMatch(/reply rate limit \(sender\)/);
    await approveParked(app, { emailId, reviewer: 'alice' });
    // approveParked set it running; it rests again once the steps ran (or parked again).
    const rec = await waitFor('the approved reply', async () => {
      const r = await app.ledger.get(emailId);
      return r && r.state !== 'running' ? r : undefined;
    }, 20_000);
    expect(rec.state).toBe('completed');
    expect(smtp.messages).toHaveLength(1);
  });

  it('a reply to robot mail that a human approved is sent, not parked again as robot mail', async () => {
    const email = await storeEmail(app, { verified: 'dana.whitfield@brightleaf.example', category: 'billing', text: 'I am out of the office.' });
    const context = { ...email.context, auto: { kind: 'autoreply' as const, reason: 'Auto-Submitted: auto-replied' } };
    await saveTriage(app, email.emailId, { trusted: context, emailRef: email.contentRef });
    const planId = planIdFor(email.emailId, 0);
    const reasons = ['step send: send_reply to robot mail (autoreply)'];
    const stored: StoredPlan = {
      planId,
      emailId: email.emailId,
      plan: {
        steps: [
          { id: 'draft', tool: 'draft_reply', args: { article: null } },
          { id: 'send', tool: 'send_reply', args: { draft: '{{steps.draft.output.ref}}' } },
        ],
      },
      planner: 'llm',
      registryVersion: app.registry.version,
      createdAt: new Date().toISOString(),
      generation: 0,
      gate: { step: 1, reasons },
    };
    await app.redis.set(app.keys.plan(planId), JSON.stringify(stored));
    await app.ledger.setState(email.emailId, 'planned', { planId });
    await app.queues.add('steps', { emailId: email.emailId, planId, stepIndex: 0 }, { jobId: `robot__${planId}` });
    await waitFor('the plan to park', async () => ((await app.ledger.get(email.emailId))?.state === 'awaiting_approval' ? true : undefined));
    const before = smtp.messages.length;
    await approveParked(app, { emailId: email.emailId, reviewer: 'alice' });
    const rec = await waitFor('the approved reply', async () => {
      const r = await app.ledger.get(email.emailId);
      return r && r.state !== 'running' ? r : undefined;
    }, 20_000);
    expect(rec.state).toBe('completed');
    expect(smtp.messages.slice(before).map((m) => m.envelope.to)).toEqual([['dana.whitfield@brightleaf.example']]);
  });
});
