import path from 'node:path';
import { runProcess } from '../../src/cli/process-command.js';
import type { Config } from '../../src/config/config.js';
import { startDaemon, type Daemon } from '../../src/daemon/daemon.js';
import { EmailId } from '../../src/kernel/ids.js';
import { createLogger } from '../../src/kernel/logger.js';
import { EXAMPLES } from '../fixtures/examples.js';
import { exampleConfig } from './example-config.js';
import { startTestRedis, type TestRedis } from './redis.js';
import { startSmtpCapture, type SmtpCapture } from './smtp-capture.js';

/** Two named reviewers, as MAILROOM_REVIEWERS gives them. */
export const REVIEWERS = { alice: 'alice-pw-7f3a', bob: 'bob-pw-91c2' } as const;

export function basic(name: string, password: string): string {
  return `Basic ${Buffer.from(`${name}:${password}`).toString('base64')}`;
}

export interface ReviewDaemon {
  readonly redis: TestRedis;
  readonly smtp: SmtpCapture;
  readonly config: Config;
  readonly daemon: Daemon;
  /** `http://127.0.0.1:PORT` */
  readonly origin: string;
  /** Email ids by example file name, every one parked. */
  readonly ids: Record<string, EmailId>;
  close(): Promise<void>;
}

/**
 * Example emails processed until their plans park, then a real daemon (workers and the web role
 * with Bull Board) on the same Redis, with the SMTP capture and two reviewers.
 */
export async function startReviewDaemon(files: readonly string[], overrides: Partial<Config> = {}): Promise<ReviewDaemon> {
  const redis = await startTestRedis();
  const smtp = await startSmtpCapture();
  const logger = createLogger({ level: 'silent' });
  const config = exampleConfig({
    redis,
    smtp,
    env: { MAILROOM_REVIEWERS: Object.entries(REVIEWERS).map(([n, p]) => `${n}:${p}`).join(',') },
    overrides: { http: { host: '127.0.0.1', port: 0, metrics: 'auth' }, ...overrides },
  });
  const summary = await runProcess(config, logger, { paths: files.map((f) => path.resolve(EXAMPLES, 'mailbox', f)), timeoutMs: 30_000 });
  const ids: Record<string, EmailId> = {};
  for (const e of summary.emails) {
    if (e.state !== 'awaiting_approval') throw new Error(`${e.file} did not park (${e.state})`);
    ids[path.basename(e.file)] = EmailId.parse(e.emailId);
  }
  const daemon = await startDaemon(config, logger, { roles: ['triage', 'planner', 'executor', 'web'] });
  const origin = `http://127.0.0.1:${daemon.http?.port ?? 0}`;
  return {
    redis,
    smtp,
    config,
    daemon,
    origin,
    ids,
    async close() {
      await daemon.close();
      await smtp.close();
      await redis.close();
    },
  };
}
