import { execFile, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AuditEvent } from '../../src/audit/audit-trail.js';
import { ProcessSummary } from '../../src/cli/summary.js';
import { EXAMPLE_CONFIG_FILE, EXAMPLES } from '../fixtures/examples.js';
import { exampleEnv } from '../harness/example-config.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';
import { startSmtpCapture, type SmtpCapture } from '../harness/smtp-capture.js';

const BIN = path.resolve(import.meta.dirname, '../../bin/mailroom.js');
/** A verified customer whose email gets an automatic reply (send_reply). */
const EMAIL = path.join(EXAMPLES, 'mailbox/13-password-reset-email-missing.eml');
const execFileAsync = promisify(execFile);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `mailroom process --json` as a user runs it, with the log at warn on stderr; `onStderr` sees the
 * log as it comes.
 */
function processEmail(env: Record<string, string>, onStderr: (soFar: string) => void = () => undefined): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, '--config', EXAMPLE_CONFIG_FILE, 'process', '--json', EMAIL], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, MAILROOM_LOG_LEVEL: 'warn', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      onStderr(stderr);
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function auditOf(env: Record<string, string>, emailId: string): Promise<AuditEvent[]> {
  const { stdout } = await execFileAsync(process.execPath, [BIN, '--config', EXAMPLE_CONFIG_FILE, 'audit', '--json', emailId], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
  });
  return z.object({ events: z.array(AuditEvent) }).parse(JSON.parse(stdout)).events;
}

/** A loopback port nothing listens on (yet): connecting to it is refused. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo; // a TCP listen() always yields an AddressInfo
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('an SMTP outage: failures that prove nothing left are retried, at most once', () => {
  let redis: TestRedis;
  const captures: SmtpCapture[] = [];
  beforeAll(async () => {
    redis = await startTestRedis();
  });
  afterAll(async () => {
    await Promise.all(captures.map((c) => c.close()));
    await redis?.close();
  });

  it('a relay that refuses connections, then comes back: one reply, the email completed, ECONNREFUSED in the log and the audit', async () => {
    const port = await closedPort();
    const env = exampleEnv({ redis });
    env.SMTP_URL = `smtp://127.0.0.1:${port}`;
    // The relay comes back once the first attempt has met the closed port and said it will retry
    // (however long the process took to start); the next attempts are 1 s, 2 s, 4 s … later.
    let firstRefusal: () => void = () => undefined;
    const refused = new Promise<void>((r) => (firstRefusal = r));
    const running = processEmail(env, (log) => {
      if (log.includes('will retry')) firstRefusal();
    });
    await Promise.race([refused, running]);
    const smtp = await startSmtpCapture({ port });
    captures.push(smtp);
    const res = await running;
    expect(res.code, res.stderr).toBe(0);
    const summary = ProcessSummary.parse(JSON.parse(res.stdout));
    expect(summary).toMatchObject({ processed: 1, completed: 1, escalated: 0, lost: 0, sent: 1 });
    expect(smtp.messages).toHaveLength(1);
    expect(smtp.messages[0]?.envelope.to).toEqual(['owen.price@tidewater.example']);
    expect(res.stderr).toContain('ECONNREFUSED');
    expect(res.stderr).not.toContain('MAILROOM_DELIVERY_UNKNOWN');
    const events = await auditOf(env, summary.emails[0]?.emailId ?? '');
    const retries = events.filter((e) => e.type === 'step_retrying');
    expect(retries.length).toBeGreaterThanOrEqual(1);
    expect(retries[0]?.data).toMatchObject({ stepId: 'send', code: 'MAILROOM_SMTP_TRANSIENT', attempt: 1, retryInMs: 1000 });
    expect(String(retries[0]?.data.reason)).toContain('ECONNREFUSED');
    expect(events.filter((e) => e.type === 'step_finished' && e.data.stepId === 'send')).toHaveLength(1);
    expect(events.map((e) => e.type)).toContain('completed');
  }, 60_000);

  it('a relay that answers 451 at RCPT TO (before DATA) is retried: one reply, completed', async () => {
    const smtp = await startSmtpCapture();
    captures.push(smtp);
    smtp.refuseRecipients(2, 451);
    const env = exampleEnv({ redis, smtp });
    const res = await processEmail(env);
    expect(res.code, res.stderr).toBe(0);
    const summary = ProcessSummary.parse(JSON.parse(res.stdout));
    expect(summary).toMatchObject({ completed: 1, escalated: 0, sent: 1 });
    expect(smtp.messages).toHaveLength(1);
    const events = await auditOf(env, summary.emails[0]?.emailId ?? '');
    const reasons = events.filter((e) => e.type === 'step_retrying').map((e) => String(e.data.reason));
    expect(reasons).toHaveLength(2);
    expect(reasons[0]).toContain('451 at RCPT TO');
  }, 60_000);

  it('a session lost after DATA is MAILROOM_DELIVERY_UNKNOWN at once: escalated, never sent twice', async () => {
    const smtp = await startSmtpCapture();
    captures.push(smtp);
    // The server keeps the message but never acknowledges it; the client gives up after 1.5 s.
    const release = smtp.holdAcks();
    const env = exampleEnv({ redis, smtp });
    env.SMTP_URL = `${smtp.url}?socketTimeout=1500`;
    const res = await processEmail(env);
    release();
    expect(res.code, res.stderr).toBe(0);
    const summary = ProcessSummary.parse(JSON.parse(res.stdout));
    expect(summary).toMatchObject({ completed: 0, escalated: 1 });
    expect(summary.emails[0]?.reason).toBe('MAILROOM_DELIVERY_UNKNOWN at step send');
    expect(smtp.messages).toHaveLength(1);
    const events = await auditOf(env, summary.emails[0]?.emailId ?? '');
    expect(events.filter((e) => e.type === 'step_retrying')).toHaveLength(0);
    const failed = events.find((e) => e.type === 'step_failed');
    expect(failed?.data).toMatchObject({ stepId: 'send', code: 'MAILROOM_DELIVERY_UNKNOWN', attempts: 1 });
    expect(String(failed?.data.reason)).toContain('SOCKET_TIMEOUT');
  }, 60_000);
});
