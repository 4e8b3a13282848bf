import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProcess } from '../../src/cli/process-command.js';
import type { Config } from '../../src/config/config.js';
import { createContext } from '../../src/app/context.js';
import { type AppContext } from '../../src/services/services.js';
import { startWorkers, type RunningWorkers } from '../../src/app/workers.js';
import { approveParked, rejectParked } from '../../src/run/decisions.js';
import { EmailId } from '../../src/kernel/ids.js';
import { createLogger } from '../../src/kernel/logger.js';
import { RESTING_STATES } from '../../src/audit/email-ledger.js';
import { EXAMPLES } from '../fixtures/examples.js';
import { exampleConfig } from '../harness/example-config.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';
import { startSmtpCapture, type SmtpCapture } from '../harness/smtp-capture.js';

const logger = createLogger({ level: 'silent' });

describe('a human reviews parked plans', () => {
  let redis: TestRedis;
  let smtp: SmtpCapture;
  let config: Config;
  let app: AppContext;
  let workers: RunningWorkers;
  const ids: Record<string, EmailId> = {};

  beforeAll(async () => {
    redis = await startTestRedis();
    smtp = await startSmtpCapture();
    config = exampleConfig({ redis, smtp });
    const files = ['06-refund-after-closing-studio.eml', '07-refund-duplicate-seats.eml'];
    const summary = await runProcess(config, logger, { paths: files.map((f) => path.join(EXAMPLES, 'mailbox', f)), timeoutMs: 30_000 });
    for (const e of summary.emails) {
      expect(e.state).toBe('awaiting_approval');
      ids[path.basename(e.file)] = EmailId.parse(e.emailId);
    }
    app = await createContext(config, logger);
    workers = startWorkers(app);
  });
  afterAll(async () => {
    await workers?.close();
    await app?.close();
    await smtp?.close();
    await redis?.close();
  });

  async function rest(id: EmailId) {
    for (let i = 0; i < 200; i++) {
      const rec = await app.ledger.get(id);
      if (rec && RESTING_STATES.includes(rec.state) && rec.state !== 'awaiting_approval') return rec;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${id} did not come to rest`);
  }

  it('nothing was refunded or sent while the plans waited', async () => {
    expect(await app.redis.hlen(app.keys.refunds())).toBe(0);
    expect(smtp.messages).toHaveLength(0);
  });

  it('an approved plan resumes at its gate, runs to the end, and the reviewer is audited', async () => {
    const id = ids['06-refund-after-closing-studio.eml'] as EmailId;
    await approveParked(app, { emailId: id, reviewer: 'alice' });
    const rec = await rest(id);
    expect(rec.state).toBe('completed');
    expect(await app.redis.hlen(app.keys.refunds())).toBe(1);
    await smtp.waitFor(1, 10_000);
    const trail = await app.audit.read(id);
    expect(trail.find((e) => e.type === 'approved' && e.actor === 'alice')).toBeTruthy();
    // Steps before the gate ran once, before the approval; none ran twice.
    const started = trail.filter((e) => e.type === 'step_started').map((e) => e.data.tool);
    expect(started.filter((t) => t === 'lookup_order')).toHaveLength(1);
    expect(started).toContain('issue_refund');
    // A second approval of the same email is refused: it no longer waits.
    await expect(approveParked(app, { emailId: id, reviewer: 'alice' })).rejects.toMatchObject({ code: 'INPUT_NOT_FOUND' });
  });

  it('a rejected plan ends rejected with the reviewer and reason; nothing after the gate runs', async () => {
    const id = ids['07-refund-duplicate-seats.eml'] as EmailId;
    await rejectParked(app, { emailId: id, reviewer: 'bob', reason: 'duplicate of ticket 42' });
    const rec = await app.ledger.get(id);
    expect(rec).toMatchObject({ state: 'rejected', reason: 'rejected by bob: duplicate of ticket 42' });
    await new Promise((r) => setTimeout(r, 300));
    expect(await app.redis.hlen(app.keys.refunds())).toBe(1);
    const trail = await app.audit.read(id);
    expect(trail.find((e) => e.type === 'rejected')?.actor).toBe('bob');
    expect(trail.some((e) => e.type === 'step_started' && e.data.tool === 'issue_refund')).toBe(false);
  });
});
