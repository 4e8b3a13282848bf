import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProcess } from '../../src/cli/process-command.js';
import { closeParseThreads } from '../../src/ingest/parse-isolated.js';
import { createLogger } from '../../src/kernel/logger.js';
import { hostileCorpus, INJECTED_DOMAIN, INJECTED_HEADER, TEXT_CANARY } from '../corpora/hostile.js';
import { exampleConfig } from '../harness/example-config.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';
import { startSmtpCapture, type SmtpCapture } from '../harness/smtp-capture.js';

/**
 * CI size: 1,000 small messages of every hostile kind and the three large ones (about 70 MB in
 * all). `npx tsx bench/hostile-corpus.ts` runs the same corpus and reports peak RSS and the
 * slowest message.
 */
const SEED = 20;
const COUNT = 1000;
const LARGE = 3;
/** The corpus comes from one customer: the reply limits would park most replies, and the replies are what an injection needs. */
const UNLIMITED_REPLIES = { replyLimits: { perSenderPerDay: 1_000_000, perDomainPerHour: 1_000_000, perCasePerDay: 1_000_000, globalPerHour: 1_000_000, maxDomainShare: 1 } };

describe('the hostile corpus', () => {
  let redis: TestRedis;
  let smtp: SmtpCapture;
  beforeAll(async () => {
    redis = await startTestRedis();
    smtp = await startSmtpCapture();
  });
  afterAll(async () => {
    await closeParseThreads();
    await smtp?.close();
    await redis?.close();
  });

  it('every message rests (processed, or quarantined with a reason), no injection reaches an outbound header, no text reaches the log', async () => {
    const corpus = hostileCorpus({ seed: SEED, count: COUNT, large: LARGE });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-hostile-'));
    for (const m of corpus) writeFileSync(path.join(dir, m.name), m.raw);
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const config = exampleConfig({ redis, smtp, overrides: UNLIMITED_REPLIES });
    const summary = await runProcess(config, createLogger({ level: 'info', destination: sink }), { paths: [dir], timeoutMs: 280_000 });

    expect(summary.processed).toBe(corpus.length);
    expect(summary.lost).toBe(0);
    expect(summary.emails.filter((e) => e.state === 'quarantined' && e.reason.trim() === '')).toEqual([]);
    // Not vacuous: both outcomes occur, and replies went out to carry any injection.
    expect(summary.quarantined).toBeGreaterThan(100);
    expect(summary.completed + summary.escalated + summary.awaiting_approval).toBeGreaterThan(400);
    expect(smtp.messages.length).toBeGreaterThan(200);

    for (const m of smtp.messages) {
      const head = m.raw.slice(0, m.raw.search(/\r?\n\r?\n/));
      expect(m.envelope.to.join(',')).not.toContain(INJECTED_DOMAIN);
      expect(head.toLowerCase()).not.toContain(INJECTED_HEADER.toLowerCase());
      expect(head).not.toContain(INJECTED_DOMAIN);
      expect(head).not.toContain(TEXT_CANARY);
      expect([...m.parsed.headers.keys()]).not.toContain('bcc');
    }
    const log = lines.join('');
    expect(log).toContain('"emailId":"em_');
    expect(log).not.toContain(TEXT_CANARY);
    expect(log).not.toContain(INJECTED_DOMAIN);
  }, 300_000); // well under 90 s on an idle 2-core machine; the margin is for shared CI runners
});
