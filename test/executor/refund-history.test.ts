import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProcess } from '../../src/cli/process-command.js';
import type { Config } from '../../src/config/config.js';
import { createContext } from '../../src/app/context.js';
import { type AppContext } from '../../src/services/services.js';
import { refundHistory } from '../../src/executor/effects.js';
import { approvalJobId } from '../../src/executor/review-ids.js';
import { readReview } from '../../src/executor/review-record.js';
import { EmailId, PlanId } from '../../src/kernel/ids.js';
import { createLogger } from '../../src/kernel/logger.js';
import { ApprovalJob } from '../../src/queues/approval-job.js';
import { EXAMPLES } from '../fixtures/examples.js';
import { exampleConfig } from '../harness/example-config.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';
import { startSmtpCapture, type SmtpCapture } from '../harness/smtp-capture.js';

const logger = createLogger({ level: 'silent' });

// Issue 34, item 8: a second refund of the same order used to be shown like the first, and the
// approval then failed over the order's total with nothing said before.
describe("a parked refund shows what its order has had refunded already (real Redis)", () => {
  let redis: TestRedis;
  let smtp: SmtpCapture;
  let config: Config;
  let app: AppContext;

  beforeAll(async () => {
    redis = await startTestRedis();
    smtp = await startSmtpCapture();
    config = exampleConfig({ redis, smtp });
    app = await createContext(config, logger);
  });
  afterAll(async () => {
    await app?.close();
    await smtp?.close();
    await redis?.close();
  });

  async function effectsShown(file: string): Promise<string[]> {
    const summary = await runProcess(config, logger, { paths: [path.join(EXAMPLES, 'mailbox', file)], timeoutMs: 30_000 });
    expect(summary.emails[0]?.state).toBe('awaiting_approval');
    const planId = PlanId.parse((await app.ledger.get(EmailId.parse(summary.emails[0]?.emailId)))?.planId);
    const review = await readReview(app, planId);
    const job = await app.queues.get('approval').getJob(approvalJobId(planId, review?.record.seq ?? 0));
    return ApprovalJob.parse(job?.data)['effects if you approve'];
  }

  it('an order refunded before: the reviewer is told the approval would pass its total and fail', async () => {
    // Sarah's order ORD-10234 ($49.00) has had its $49.00 refunded already (an earlier email's plan).
    await app.redis.hset(app.keys.orderRefunds('acct_1006', 'ORD-10234'), 'R-earlier', '4900');
    const lines = await effectsShown('06-refund-after-closing-studio.eml');
    expect(lines[0]).toBe('1 of 2 · Refund 49.00 USD of order ORD-10234 to account acct_1006');
    expect(lines).toContain(
      '↳ WARNING: order ORD-10234 ($49.00) has had $49.00 refunded already in 1 refund; with this $49.00 it would pass what the order cost: approving will fail (REFUND_OVER_CAP) and nothing is refunded',
    );
  });

  it('one never refunded says so; a full refund after a partial one would pass the total', async () => {
    // Kenji's duplicate seats: ORD-10377 ($540.00), nothing refunded before.
    expect(await effectsShown('07-refund-duplicate-seats.eml')).toContain('↳ order ORD-10377 ($540.00) has had nothing refunded before');
    // Élodie's order, with €10.00 of it refunded already by an earlier plan: the full €468.00 now would pass it.
    await app.redis.hset(app.keys.orderRefunds('acct_1008', 'ORD-10412'), 'R-part', '1000');
    expect(await effectsShown('08-remboursement-commande.eml')).toContain(
      '↳ WARNING: order ORD-10412 (€468.00) has had €10.00 refunded already in 1 refund; with this €468.00 it would pass what the order cost: approving will fail (REFUND_OVER_CAP) and nothing is refunded',
    );
  });

  it('a part refund that still fits says how much the order will have had', async () => {
    await app.redis.hset(app.keys.orderRefunds('acct_1006', 'ORD-10166'), 'R-a', '1000', 'R-b', '500');
    const effect = { step: 'refund', tool: 'issue_refund', summary: 'refund', args: { account: 'acct_1006', order: 'ORD-10166', amount: 20 }, message: null, pending: null };
    const notes = await refundHistory(app, [effect]);
    expect(notes.get('refund')).toBe('order ORD-10166 ($49.00) has had $15.00 refunded already in 2 refunds; with this $20.00 it will have had $35.00');
  });
});
