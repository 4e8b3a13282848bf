import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { createContext } from '../../src/app/context.js';
import { type AppContext } from '../../src/services/services.js';
import { submitEmail } from '../../src/ingest/submit.js';
import { createLogger } from '../../src/kernel/logger.js';
import { EXAMPLE_CONFIG_FILE, EXAMPLES } from '../fixtures/examples.js';
import { exampleEnv } from '../harness/example-config.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';
import { startSmtpCapture, type SmtpCapture } from '../harness/smtp-capture.js';
import { RESTING_STATES } from '../../src/audit/email-ledger.js';
import type { EmailId } from '../../src/kernel/ids.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** What the daemons wrote to stderr (errors only), shown when a wait below gives up. */
let daemonErrors = '';

function startDaemon(env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/mailroom.js'), 'start'], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, MAILROOM_LOG_LEVEL: 'error', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    daemonErrors += chunk.toString();
  });
  return child;
}

/** `wait`, or its error with the daemons' stderr, so that a failure on a loaded machine says why. */
async function explained<T>(wait: Promise<T>): Promise<T> {
  try {
    return await wait;
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}; daemon stderr:\n${daemonErrors.slice(-4000) || '(nothing)'}`, { cause: err });
  }
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

async function waitForRest(app: AppContext, emailId: EmailId, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rec = await app.ledger.get(emailId);
    if (rec && RESTING_STATES.includes(rec.state)) return rec;
    if (Date.now() > deadline) throw new Error(`email still ${rec?.state ?? 'unknown'} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('a worker killed in the middle of send_reply', () => {
  let redis: TestRedis;
  let smtp: SmtpCapture;
  let app: AppContext;
  let env: NodeJS.ProcessEnv;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    redis = await startTestRedis();
    smtp = await startSmtpCapture();
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'mailroom-crash-'));
    const base = JSON.parse(readFileSync(EXAMPLE_CONFIG_FILE, 'utf8')) as Record<string, unknown>;
    const configPath = path.join(tmp, 'config.json');
    // A short lock so BullMQ re-delivers the dead worker's job within the test.
    writeFileSync(configPath, JSON.stringify({ ...base, accountsFile: path.join(EXAMPLES, 'accounts.json'), kbDir: path.join(EXAMPLES, 'kb'), lockDurationMs: 1000 }));
    env = { ...exampleEnv({ redis, smtp, dataDir: tmp }), MAILROOM_CONFIG: configPath };
    app = await createContext(loadConfig({ env }), createLogger({ level: 'silent' }));
  });
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await app?.close();
    await smtp?.close();
    await redis?.close();
  });

  it('produces exactly one email at the SMTP server, and a human is told the outcome is unknown', async () => {
    const release = smtp.holdAcks();
    const first = startDaemon(env);
    children.push(first);
    const raw = readFileSync(path.join(EXAMPLES, 'mailbox', '01-invoice-copy-request.eml'));
    const { emailId } = await submitEmail(app, raw, { kind: 'file', path: 'crash.eml' });

    // The message is at the server; the worker waits for the acknowledgement: kill it now. (A
    // few seconds here; the bound is for a machine loaded by other test files.)
    await explained(smtp.waitFor(1, 60_000));
    first.kill('SIGKILL');
    await exited(first);
    release();

    const second = startDaemon(env);
    children.push(second);
    const rec = await explained(waitForRest(app, emailId, 60_000));
    expect(smtp.messages).toHaveLength(1);
    expect(rec.state).toBe('escalated');
    expect(rec.reason).toContain('MAILROOM_DELIVERY_UNKNOWN');
    const trail = await app.audit.read(emailId);
    const sends = trail.filter((e) => e.type === 'step_started' && e.data.tool === 'send_reply');
    expect(sends.length).toBe(2);
    expect(trail.some((e) => e.type === 'step_failed' && e.data.code === 'MAILROOM_DELIVERY_UNKNOWN')).toBe(true);

    // The daemon stops cleanly on SIGTERM.
    second.kill('SIGTERM');
    expect(await exited(second)).toBe(0);
  }, 180_000);
});
