import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProcess } from '../../src/cli/process-command.js';
import { createContext } from '../../src/app/context.js';
import { type AppContext } from '../../src/services/services.js';
import { startWorkers, type RunningWorkers } from '../../src/app/workers.js';
import { EmailId } from '../../src/kernel/ids.js';
import { createLogger } from '../../src/kernel/logger.js';
import { EXAMPLES } from '../fixtures/examples.js';
import { exampleConfig } from '../harness/example-config.js';
import { waitFor } from '../harness/mail.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';

const logger = createLogger({ level: 'silent' });

describe('the approval deadline, through the real delayed job and worker', () => {
  let redis: TestRedis;
  let app: AppContext;
  let workers: RunningWorkers;
  let emailId: EmailId;

  beforeAll(async () => {
    redis = await startTestRedis();
    const base = exampleConfig({ redis });
    // A deadline of three seconds: long enough to see the plan park, short enough to wait for.
    const config = { ...base, approval: { ...base.approval, deadlineSeconds: 3 } };
    const summary = await runProcess(config, logger, { paths: [path.join(EXAMPLES, 'mailbox', '06-refund-after-closing-studio.eml')], timeoutMs: 30_000 });
    expect(summary.emails[0]?.state).toBe('awaiting_approval');
    emailId = EmailId.parse(summary.emails[0]?.emailId);
    app = await createContext(config, logger);
    workers = startWorkers(app, ['executor']);
  });
  afterAll(async () => {
    await workers?.close();
    await app?.close();
    await redis?.close();
  });

  it('a plan nobody decided escalates with that reason, and nothing of it runs', async () => {
    const rec = await waitFor('the escalation', async () => {
      const r = await app.ledger.get(emailId);
      return r?.state === 'escalated' ? r : undefined;
    }, 30_000);
    expect(rec.reason).toMatch(/^no decision before the approval deadline/);
    const trail = await app.audit.read(emailId);
    expect(trail.find((e) => e.type === 'escalated')?.actor).toBe('deadline');
    expect(trail.some((e) => e.type === 'step_started' && e.data.tool === 'issue_refund')).toBe(false);
    expect(await app.redis.hlen(app.keys.refunds())).toBe(0);
  });
});
