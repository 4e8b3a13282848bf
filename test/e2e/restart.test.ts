/**
 * `mailroom start` on its defaults (embedded Redis, no REDIS_URL) with a real IMAP mailbox,
 * killed with SIGKILL and started again as an operator or a supervisor would: no manual step.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESTING_STATES } from '../../src/audit/email-ledger.js';
import { isProcessAlive } from '../../src/kernel/process-alive.js';
import { ADDRESS_FILE, EmbeddedRedisAddress, freePort } from '../../src/queues/embedded-redis.js';
import { EXAMPLES } from '../fixtures/examples.js';
import { writeExampleConfig } from '../harness/example-config.js';
import { startDovecot, type DovecotServer } from '../harness/dovecot.js';
import { imapAccount, waitFor } from '../harness/mail.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';
import { startRole, type RoleProcess } from '../harness/roles.js';
import { startSmtpCapture, type SmtpCapture } from '../harness/smtp-capture.js';

const run = promisify(execFile);
const BIN = path.resolve(import.meta.dirname, '../../bin/mailroom.js');
const ALL_ROLES = 'imap,triage,planner,executor,web';

describe('mailroom start after kill -9 (embedded Redis, real Dovecot)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-restart-'));
  let config = '';
  let dovecot: DovecotServer;
  let smtp: SmtpCapture;
  let env: Record<string, string>;
  let port = 0;
  const daemons: RoleProcess[] = [];

  beforeAll(async () => {
    [dovecot, smtp] = await Promise.all([startDovecot(), startSmtpCapture()]);
    port = await freePort();
    // pollSeconds at its default (60): the folder lease lives 3 minutes, longer than this test.
    config = writeExampleConfig(dir, { imap: [imapAccount(dovecot, 'SUPPORT_IMAP_PASSWORD')] });
    env = {
      MAILROOM_CONFIG: config,
      MAILROOM_DATA_DIR: dir,
      MAILROOM_HTTP_PORT: String(port),
      MAILROOM_REVIEWERS: 'alice:pw',
      MAILROOM_LOG_LEVEL: 'info',
      SMTP_URL: smtp.url,
      SUPPORT_IMAP_PASSWORD: dovecot.password,
    };
  });
  afterAll(async () => {
    // SIGTERM and wait: a daemon stopped mid-close would leave its data folder half shut.
    await Promise.all(daemons.map((d) => d.stop()));
    await Promise.all([dovecot?.close(), smtp?.close()]);
  });

  /** A second shell: the data folder and the config, none of the daemon's secrets. */
  async function mailroom(args: string[]): Promise<string> {
    const { stdout } = await run(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, MAILROOM_DATA_DIR: dir, MAILROOM_CONFIG: config },
      timeout: 60_000,
    });
    return stdout;
  }

  const health = async () => {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null);
    return res ? { status: res.status, body: (await res.json()) as { ok: boolean; imap: Record<string, string> } } : null;
  };

  /** Starts the daemon and waits for /healthz 200 (Redis answers, the folder's watcher connected). */
  async function start(timeoutMs: number): Promise<{ daemon: RoleProcess }> {
    const daemon = startRole('daemon', ALL_ROLES, env);
    daemons.push(daemon);
    let last: unknown = null;
    await waitFor(`/healthz 200 (last: ${JSON.stringify(last)})`, async () => {
      if (daemon.pid === undefined) throw new Error(`mailroom start exited:\n${daemon.stderrTail}`);
      const h = await health();
      last = h?.body ?? null;
      return h?.status === 200 ? true : undefined;
    }, timeoutMs, 100);
    return { daemon };
  }

  /** Waits until `n` emails are at rest, as `mailroom status` shows them. */
  async function atRest(n: number, timeoutMs: number) {
    return waitFor(`${n} emails at rest`, async () => {
      const status = JSON.parse(await mailroom(['status', '--json'])) as { recent: Array<{ emailId: string; state: string }> };
      const resting = status.recent.filter((r) => (RESTING_STATES as readonly string[]).includes(r.state));
      return resting.length >= n ? status.recent : undefined;
    }, timeoutMs, 250);
  }

  const mail = (file: string) => readFileSync(path.join(EXAMPLES, 'mailbox', file));
  const redisAddress = () => EmbeddedRedisAddress.parse(JSON.parse(readFileSync(path.join(dir, 'redis', ADDRESS_FILE), 'utf8')));

  let first: RoleProcess;
  it('`mailroom report` from a second shell prints the report while `mailroom start` holds the embedded Redis', { timeout: 150_000 }, async () => {
    first = (await start(90_000)).daemon;
    await dovecot.append(mail('01-invoice-copy-request.eml'));
    await atRest(1, 60_000);
    // The README's shadow workflow runs this during `start`, as status and pending do.
    const report = await mailroom(['report', '--since', '1h']);
    expect(report).toContain('Mailroom report');
    expect(report).toMatch(/all mailboxes\n\s+emails 1:/);
  });

  it('after SIGKILL its redis-server goes too, and `mailroom start` again serves with no manual step, IMAP ingest resumed within seconds', { timeout: 120_000 }, async () => {
    const { pid: redisPid } = redisAddress();
    expect(isProcessAlive(redisPid)).toBe(true);
    await first.kill();
    // The embedded redis-server dies with its owner (the watch helper's pipe closed).
    await waitFor("the killed daemon's redis-server to stop", async () => (isProcessAlive(redisPid) ? undefined : true), 10_000, 50);

    // No manual step; the folder is watched within seconds, not after the killed process's
    // 3-minute lease (on the code this replaces: /healthz 503 "standby", nothing logged).
    const began = Date.now();
    const { daemon: second } = await start(30_000);
    // /healthz alone cannot tell: the killed process's "connected" is still fresh for a while.
    await waitFor('the restarted watcher to watch the folder', async () => (second.stderrTail.includes('"msg":"watching folder"') ? true : undefined), 30_000, 100);
    expect(Date.now() - began).toBeLessThan(20_000);
    expect(second.stderrTail).toContain('took over the folder lease this installation held before its restart');
    await dovecot.append(mail('02-card-declined-renewal.eml'));
    const recent = await atRest(2, 30_000);
    expect(new Set(recent.map((r) => r.emailId)).size).toBe(2);
    // The first email survived the kill (the AOF in the data folder), and the report counts both.
    expect(await mailroom(['report', '--since', '1h'])).toMatch(/all mailboxes\n\s+emails 2:/);

    expect(await second.stop()).toBe(0);
    // A clean stop leaves no server and no address file behind.
    expect(existsSync(path.join(dir, 'redis', ADDRESS_FILE))).toBe(false);
  });
});

describe('the imap role after kill -9, against a Redis of its own (REDIS_URL)', () => {
  let dovecot: DovecotServer;
  let redis: TestRedis;
  const daemons: RoleProcess[] = [];
  beforeAll(async () => {
    [dovecot, redis] = await Promise.all([startDovecot(), startTestRedis()]);
  });
  afterAll(async () => {
    await Promise.all(daemons.map((d) => d.stop()));
    await Promise.all([dovecot?.close(), redis?.close()]);
  });

  it('watches the folder again within seconds of a restart, and a second installation says whose lease it waits for', { timeout: 120_000 }, async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-restart-imap-'));
    const config = path.join(dataDir, 'mailroom.config.json');
    writeFileSync(config, JSON.stringify({ mailbox: { address: 'support@acme.example', name: 'Acme Support' }, imap: [imapAccount(dovecot, 'SUPPORT_IMAP_PASSWORD')] }));
    const port = await freePort();
    const env = { REDIS_URL: redis.url, MAILROOM_PREFIX: redis.prefix(), MAILROOM_CONFIG: config, MAILROOM_DATA_DIR: dataDir, MAILROOM_HTTP_PORT: String(port), MAILROOM_REVIEWERS: 'alice:pw', MAILROOM_LOG_LEVEL: 'info', SUPPORT_IMAP_PASSWORD: dovecot.password };
    const healthy = async () => {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null);
      return res?.status === 200 ? true : undefined;
    };
    const first = startRole('imap', 'imap,web', env);
    daemons.push(first);
    await waitFor('the first process to watch the folder', healthy, 60_000, 100);
    await first.kill();

    const began = Date.now();
    const second = startRole('imap', 'imap,web', env);
    daemons.push(second);
    // Its own log, not /healthz: the killed process's "connected" is still fresh for a while.
    await waitFor('the restarted process to watch the folder', async () => (second.stderrTail.includes('"msg":"watching folder"') ? true : undefined), 30_000, 100);
    expect(second.stderrTail).not.toContain('standing by');
    expect(Date.now() - began).toBeLessThan(20_000);

    // Another installation (its own data folder) on the same Redis stands by, and says for whom.
    const otherDir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-restart-other-'));
    const other = startRole('imap-2', 'imap', { ...env, MAILROOM_DATA_DIR: otherDir, MAILROOM_HTTP_PORT: String(await freePort()) });
    daemons.push(other);
    const line = await waitFor('the standby log line', async () => /^.*"msg":"standing by.*$/m.exec(other.stderrTail)?.[0], 30_000, 100);
    expect(line).toContain('"folder":"INBOX"');
    expect(line).toContain(`"holder":"installation`);
    expect(line).toContain(`pid ${second.pid ?? 0}"`);
    expect(line).toMatch(/"until":"\d{4}-\d\d-\d\dT/);
  });
});
