import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readThreadManifest } from '../../src/cli/follow-up-threads.js';
import { runProcess } from '../../src/cli/process-command.js';
import type { ProcessSummary } from '../../src/cli/summary.js';
import type { Config } from '../../src/config/config.js';
import { createContext } from '../../src/app/context.js';
import { EmailId } from '../../src/kernel/ids.js';
import { createLogger } from '../../src/kernel/logger.js';
import { EXAMPLES } from '../fixtures/examples.js';
import { exampleConfig } from '../harness/example-config.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';
import { startSmtpCapture, type SmtpCapture } from '../harness/smtp-capture.js';

const THREADS = path.join(EXAMPLES, 'threads');
const MANIFEST = readThreadManifest(THREADS);
const logger = createLogger({ level: 'silent' });

/** examples/threads as the demo runs them, checked against their ground truth (examples/threads/expected.json). */
describe('examples/threads: follow-ups of the examples, as the demo runs them (real Redis and SMTP)', () => {
  let redis: TestRedis;
  let smtp: SmtpCapture;
  let config: Config;
  let summary: ProcessSummary;

  beforeAll(async () => {
    redis = await startTestRedis();
    smtp = await startSmtpCapture();
    config = exampleConfig({ redis, smtp });
    summary = await runProcess(config, logger, { paths: [path.join(EXAMPLES, 'mailbox')], threads: THREADS, timeoutMs: 90_000 });
  }, 120_000);
  afterAll(async () => {
    await smtp?.close();
    await redis?.close();
  });

  it.each(Object.entries(MANIFEST))('%s: category, sender, case and outcome as its ground truth says', async (file, truth) => {
    const entry = summary.emails.find((e) => e.file.endsWith(file));
    expect(entry).toMatchObject({ category: truth.category, sender: truth.verified ? 'verified' : 'unverified', state: truth.outcome });
    const app = await createContext(config, logger);
    try {
      const caseOf = async (emailId: string | undefined) => (await app.audit.read(EmailId.parse(emailId))).find((e) => e.type === 'case')?.data;
      const mine = await caseOf(entry?.emailId);
      expect(mine).toMatchObject({ followUp: truth.followUpOf !== null, turns: truth.turn });
      if (truth.followUpOf) expect(mine?.caseId).toBe((await caseOf(summary.emails.find((e) => e.file.endsWith(truth.followUpOf ?? ''))?.emailId))?.caseId);
    } finally {
      await app.close();
    }
  });

  it('the first unsolved follow-up gets a reply threaded to it; the thank-you gets none', () => {
    const answering = (messageId: string) => smtp.messages.filter((m) => m.parsed.inReplyTo === messageId);
    expect(answering('<5e1a0c77d2.a83f11c4@brightleaf.example>')).toHaveLength(1);
    expect(answering('<8b23f0e915.c4d07a2e@brightleaf.example>')).toHaveLength(0);
  });
});
