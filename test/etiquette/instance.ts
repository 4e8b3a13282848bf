import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RESTING_STATES, type EmailRecord } from '../../src/audit/email-ledger.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { createContext } from '../../src/app/context.js';
import { type AppContext } from '../../src/services/services.js';
import { startWorkers, type RunningWorkers } from '../../src/app/workers.js';
import type { EmailId } from '../../src/kernel/ids.js';
import { submitEmail } from '../../src/ingest/submit.js';
import { createLogger } from '../../src/kernel/logger.js';
import { EXAMPLES } from '../fixtures/examples.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';
import { startSmtpCapture, type SmtpCapture } from '../harness/smtp-capture.js';

/** One Mailroom (context + all worker roles) against a test Redis and SMTP server. */
export interface Instance {
  readonly app: AppContext;
  submit(raw: Buffer | string, name?: string): Promise<EmailId>;
  /** Polls the ledger until every id rests (terminal or awaiting approval). */
  waitRest(ids: readonly EmailId[], timeoutMs?: number): Promise<EmailRecord[]>;
  close(): Promise<void>;
}

export async function startInstance(options: {
  redisUrl: string;
  prefix: string;
  smtpUrl: string;
  overrides?: Partial<Config>;
  env?: Record<string, string>;
}): Promise<Instance> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-etiquette-'));
  const config = loadConfig({
    env: { REDIS_URL: options.redisUrl, MAILROOM_PREFIX: options.prefix, SMTP_URL: options.smtpUrl, MAILROOM_DATA_DIR: dataDir, ...options.env },
    overrides: {
      kbDir: path.join(EXAMPLES, 'kb'),
      allowedLinks: ['https://acme.example/', 'https://status.acme.example/'],
      ...options.overrides,
    },
  });
  const app = await createContext(config, createLogger({ level: 'silent' }));
  const workers: RunningWorkers = startWorkers(app);
  let n = 0;
  return {
    app,
    async submit(raw, name) {
      n += 1;
      const sub = await submitEmail(app, Buffer.isBuffer(raw) ? raw : Buffer.from(raw), { kind: 'file', path: name ?? `mem-${n}.eml` });
      return sub.emailId;
    },
    async waitRest(ids, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const records = await app.ledger.getMany(ids);
        const resting = records.filter((r): r is EmailRecord => r !== null && RESTING_STATES.includes(r.state));
        if (resting.length === ids.length) return resting;
        if (Date.now() > deadline) {
          const states = records.map((r) => r?.state ?? 'missing').join(',');
          throw new Error(`${ids.length - resting.length} of ${ids.length} emails not at rest after ${timeoutMs} ms: ${states}`);
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async close() {
      await workers.close();
      await app.close();
    },
  };
}

/** A test Redis, an SMTP capture and one Mailroom on them. */
export interface Rig {
  readonly redis: TestRedis;
  readonly smtp: SmtpCapture;
  readonly mailroom: Instance;
  close(): Promise<void>;
}

/**
 * The usual setup of these tests: Mailroom answers from support@acme.example, routes everything
 * to `billing` (a reply playbook, no classifier) and trusts `trustedSenders`, so that only the
 * etiquette rules can stop a reply.
 */
export async function startRig(trustedSenders: readonly string[], overrides: Partial<Config> = {}): Promise<Rig> {
  const redis = await startTestRedis();
  const smtp = await startSmtpCapture();
  const mailroom = await startInstance({
    redisUrl: redis.url,
    prefix: redis.prefix(),
    smtpUrl: smtp.url,
    overrides: {
      mailbox: { address: 'support@acme.example', name: 'Acme Support' },
      trustedSenders: [...trustedSenders],
      routes: [{ alias: 'support@acme.example', category: 'billing' }],
      ...overrides,
    },
  });
  return {
    redis,
    smtp,
    mailroom,
    async close() {
      await mailroom.close();
      await smtp.close();
      await redis.close();
    },
  };
}

/** A plain RFC 5322 message; headers in order, CRLF line ends. */
export function email(headers: Record<string, string>, body: string): string {
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}`);
  return [...lines, 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', '', body, ''].join('\r\n');
}
