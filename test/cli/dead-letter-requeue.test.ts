import { mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { EXAMPLES } from '../fixtures/examples.js';
import { runMailroom } from '../harness/cli.js';
import { exampleEnv, writeExampleConfig } from '../harness/example-config.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';
import { startSmtpCapture, type SmtpCapture } from '../harness/smtp-capture.js';

const Letters = z.array(z.object({ id: z.string(), emailId: z.string(), stage: z.string(), code: z.string(), reason: z.string() }));

/** `mailroom dead-letters requeue`, from outside: the CLI against a real Redis and a real SMTP server. */
describe('mailroom dead-letters requeue', () => {
  let redis: TestRedis;
  let smtp: SmtpCapture;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'mailroom-requeue-'));
  /** The example config as a team first wrote it (no attachments allowed), and as they fixed it. */
  const strict = path.join(tmp, 'strict');
  const fixed = path.join(tmp, 'fixed');
  const tiny = path.join(tmp, 'tiny');
  let env: Record<string, string>;

  beforeAll(async () => {
    [redis, smtp] = await Promise.all([startTestRedis(), startSmtpCapture()]);
    env = exampleEnv({ redis, smtp, dataDir: tmp });
    for (const d of [strict, fixed, tiny]) mkdirSync(d);
    writeExampleConfig(strict, { limits: { maxAttachments: 0 } });
    writeExampleConfig(fixed);
    writeExampleConfig(tiny, { maxMessageBytes: 200 });
  });
  afterAll(async () => {
    await Promise.all([redis?.close(), smtp?.close()]);
  });

  const mailroom = (args: string[], configDir = fixed) => runMailroom([...args, '--config', path.join(configDir, 'mailroom.config.json')], env);
  const letters = async () => Letters.parse(JSON.parse((await mailroom(['dead-letters', '--json'])).stdout));
  const states = async () => z.object({ states: z.record(z.string(), z.number()) }).parse(JSON.parse((await mailroom(['status', '--json'])).stdout)).states;

  it('runs a quarantined email again once its cause is fixed: it completes, the reply is sent, the trail says who', { timeout: 120_000 }, async () => {
    const bug = path.join(EXAMPLES, 'mailbox', '10-bug-dashboard-chart-blank.eml');
    expect((await mailroom(['process', bug], strict)).code).toBe(0);
    const [letter, ...others] = await letters();
    expect(others).toHaveLength(0);
    expect(letter).toMatchObject({ stage: 'ingest' });
    expect(letter?.reason).toMatch(/attachment/);
    expect(smtp.messages).toHaveLength(0);

    const res = await mailroom(['dead-letters', 'requeue', letter?.id ?? '', '--by', 'carol']);
    expect(res.stderr).toBe('');
    expect(res.stdout).toBe(`${letter?.id} requeued by carol: email ${letter?.emailId} is completed\n`);
    // What a user sees: the customer's reply arrived, nothing is left in quarantine.
    expect(smtp.messages).toHaveLength(1);
    expect(await letters()).toEqual([]);
    expect(await states()).toMatchObject({ quarantined: 0, completed: 1 });
    const trail = (await mailroom(['audit', letter?.emailId ?? ''])).stdout;
    expect(trail).toMatch(/quarantined[\s\S]*dead_letter_requeued\s+carol[\s\S]*parsed[\s\S]*completed/);

    // It is no longer a dead letter: a second requeue names nothing.
    const again = await mailroom(['dead-letters', 'requeue', letter?.id ?? '', '--by', 'carol']);
    expect(again.code).toBe(66);
    expect(again.stderr).toMatch(/^mailroom: no dead letter .*\[MAILROOM_INPUT_NOT_FOUND\]\n$/);
  });

  it('an email that fails again files a new dead letter; a message never read is refused with the reason, and stays', { timeout: 120_000 }, async () => {
    const malformed = path.join(EXAMPLES, 'mailbox', '41-malformed-no-from.eml');
    await mailroom(['process', malformed]);
    const first = (await letters()).find((l) => l.reason === 'no From address');
    const res = await mailroom(['dead-letters', 'requeue', first?.id ?? '', '--by', 'dana']);
    expect(res.stdout).toBe(`${first?.id} requeued by dana: email ${first?.emailId} is quarantined (MAILROOM_EMAIL_MALFORMED: no From address)\n`);
    expect((await letters()).filter((l) => l.emailId === first?.emailId)).toHaveLength(1);
    expect((await mailroom(['audit', first?.emailId ?? ''])).stdout).toMatch(/quarantined[\s\S]*dead_letter_requeued\s+dana[\s\S]*quarantined/);

    await mailroom(['process', path.join(EXAMPLES, 'mailbox', '07-refund-duplicate-seats.eml')], tiny);
    const unread = (await letters()).find((l) => l.stage === 'source');
    const refused = await mailroom(['dead-letters', 'requeue', unread?.id ?? '', '--by', 'dana']);
    expect(refused.code).toBe(65);
    expect(refused.stderr).toMatch(/^mailroom: Mailroom never read this message .*\[MAILROOM_NOT_REQUEUEABLE\]\n$/);
    expect((await letters()).map((l) => l.id)).toContain(unread?.id);
  });
});
