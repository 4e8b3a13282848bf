import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AutonomyCounter } from '../../src/audit/autonomy-counts.js';
import { runProcess } from '../../src/cli/process-command.js';
import { DEFAULT_REPLY_LIMITS } from '../../src/config/config.js';
import { createContext } from '../../src/app/context.js';
import { type AppContext } from '../../src/services/services.js';
import { EmailId } from '../../src/kernel/ids.js';
import { createLogger } from '../../src/kernel/logger.js';
import { StepAutonomy } from '../../src/model/autonomy.js';
import { EXAMPLES } from '../fixtures/examples.js';
import { exampleConfig } from '../harness/example-config.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';
import { startSmtpCapture, type SmtpCapture } from '../harness/smtp-capture.js';

/**
 * The level the audit records is the one that applied: a reply left `auto` that a check at run
 * time (here the per-sender reply rate limit) parks for a person was recorded, and counted by the
 * report, as `auto`.
 */
describe('a step decided auto but held at run time is recorded at the level it ended at', () => {
  let redis: TestRedis;
  let smtp: SmtpCapture;
  let app: AppContext;
  const ids: EmailId[] = [];

  beforeAll(async () => {
    redis = await startTestRedis();
    smtp = await startSmtpCapture();
    // The same customer writes twice; one automatic reply per day to a sender.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-held-'));
    const raw = readFileSync(path.join(EXAMPLES, 'mailbox', '01-invoice-copy-request.eml'), 'utf8');
    const files = [1, 2].map((i) => {
      const file = path.join(dir, `again-${i}.eml`);
      writeFileSync(file, raw.replace(/^Message-ID: </m, `Message-ID: <again-${i}-`));
      return file;
    });
    const config = exampleConfig({
      redis,
      smtp,
      overrides: { autonomy: { rules: [], default: 'auto' }, replyLimits: { ...DEFAULT_REPLY_LIMITS, perSenderPerDay: 1 } },
    });
    const logger = createLogger({ level: 'silent' });
    const summary = await runProcess(config, logger, { paths: files, timeoutMs: 120_000 });
    for (const f of files) ids.push(EmailId.parse(summary.emails.find((e) => e.file.endsWith(path.basename(f)))?.emailId));
    app = await createContext(config, logger);
  }, 200_000);
  afterAll(async () => {
    await app?.close();
    await smtp?.close();
    await redis?.close();
  });

  it('the second reply parks on the rate limit: its send_reply ends review (run_time), and the report counts one auto and one review', async () => {
    // Both are processed at once: either may be the one that got the reply.
    const records = await app.ledger.getMany(ids);
    expect(records.map((r) => r?.state).sort()).toEqual(['awaiting_approval', 'completed']);
    const parked = records.find((r) => r?.state === 'awaiting_approval');
    if (!parked) throw new Error('no email parked');
    const trail = await app.audit.read(parked.emailId);
    const sendLevels = trail
      .filter((e) => e.type === 'autonomy')
      .flatMap((e) => StepAutonomy.array().parse(e.data.steps))
      .filter((s) => s.tool === 'send_reply');
    expect(sendLevels.map((s) => s.level)).toEqual(['auto', 'review']);
    expect(sendLevels[1]).toMatchObject({ configured: 'auto', limit: { kind: 'run_time', why: expect.stringContaining('reply rate limit') } });

    const counter = new AutonomyCounter();
    for (const id of ids) counter.add('billing', await app.audit.read(id));
    const send = counter.build().filter((r) => r.tool === 'send_reply');
    expect(send).toEqual([
      { tool: 'send_reply', category: 'billing', level: 'review', decided: 1, ran: 0 },
      { tool: 'send_reply', category: 'billing', level: 'auto', decided: 1, ran: 1 },
    ]);
  });
});
