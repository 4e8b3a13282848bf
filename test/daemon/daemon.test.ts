import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRoles } from '../../src/daemon/daemon.js';
import { loadConfig } from '../../src/config/config.js';
import { connectImap, startDovecot, type DovecotServer } from '../harness/dovecot.js';
import { customerMail, waitFor } from '../harness/mail.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';

const BIN = path.resolve(import.meta.dirname, '../../bin/mailroom.js');

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string } | undefined> {
  try {
    const res = await fetch(url, { headers });
    return { status: res.status, body: await res.text() };
  } catch {
    return undefined;
  }
}

describe('mailroom start (a real daemon process)', () => {
  let dovecot: DovecotServer;
  let redis: TestRedis;
  let child: ChildProcess | undefined;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-daemon-'));

  beforeAll(async () => {
    [dovecot, redis] = await Promise.all([startDovecot(), startTestRedis()]);
    const admin = await connectImap(dovecot);
    await admin.mailboxCreate('Daemon').finally(() => admin.logout());
  });
  afterAll(async () => {
    child?.kill('SIGKILL');
    await Promise.all([dovecot?.close(), redis?.close()]);
  });

  it('runs every role, reports health and metrics, processes new mail, and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const config = path.join(dir, 'mailroom.config.json');
    writeFileSync(
      config,
      JSON.stringify({
        mailbox: { address: 'support@acme.example' },
        // Asked for every interface, but with no reviewers configured only loopback may listen.
        http: { host: '0.0.0.0' },
        imap: [{ name: 'support', host: dovecot.host, port: dovecot.port, tls: 'none', user: dovecot.user, password: { env: 'SUPPORT_IMAP_PASSWORD' }, folders: ['Daemon'] }],
      }),
    );
    let stderr = '';
    child = spawn(process.execPath, [BIN, 'start', '--config', config], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        REDIS_URL: redis.url,
        MAILROOM_PREFIX: redis.prefix(),
        MAILROOM_HTTP_PORT: String(port),
        MAILROOM_DATA_DIR: dir,
        SUPPORT_IMAP_PASSWORD: dovecot.password,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));

    const health = await waitFor('healthy', async () => {
      const res = await get(`http://127.0.0.1:${port}/healthz`);
      return res?.status === 200 ? res : undefined;
    });
    expect(JSON.parse(health.body)).toEqual({ ok: true, redis: 'ok', imap: { 'support/Daemon': 'connected' } });

    // No reviewers configured: a password generated for this run is printed once, and only loopback listens.
    const login = /sign in as "admin" with password (\S+)/.exec(stderr);
    const password = login?.[1] ?? '';
    expect(password).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(stderr.split(password).length - 1).toBe(1);
    expect(stderr).toContain(`Bull Board is at http://127.0.0.1:${port}/admin/queues`);
    expect((await get(`http://127.0.0.1:${port}/metrics`))?.status).toBe(401);
    const auth = { authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}` };
    expect((await get(`http://127.0.0.1:${port}/admin/queues`, auth))?.status).toBe(200);

    await dovecot.append(customerMail('daemon-1'), 'Daemon');
    const metrics = await waitFor('the email in the metrics', async () => {
      const res = await get(`http://127.0.0.1:${port}/metrics`, auth);
      return res && /mailroom_emails\{state="escalated",app="mailroom"\} 1/.test(res.body) ? res.body : undefined;
    });
    expect(metrics).toMatch(/mailroom_queue_jobs\{queue="ingest",state="completed",app="mailroom"\} 1/);
    expect(metrics).toMatch(/mailroom_imap_ingested_total\{account="support",folder="Daemon",app="mailroom"\} 1/);
    expect(metrics).toMatch(/mailroom_step_duration_seconds_count\{[^}]*tool="apply_label"[^}]*\} 1/);
    // No autonomy section: today's policy, so the label ran at level auto.
    expect(metrics).toMatch(/mailroom_autonomy_steps_total\{[^}]*tool="apply_label"[^}]*level="auto"[^}]*\} 1/);
    // Offline playbooks never look up the plan cache; the metric shows what `mailroom status` shows.
    expect(metrics).toMatch(/mailroom_plan_cache_total\{result="miss",app="mailroom"\} 0/);
    expect(metrics).toMatch(/mailroom_emails\{state="quarantined",app="mailroom"\} 0/);
    expect((await dovecot.listMailbox('Daemon'))[0]?.flags).toContain('$MailroomHandled');

    const signalledAt = Date.now();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const stopMs = Date.now() - signalledAt;
    console.info(`[measure] SIGTERM → exit 0 in ${stopMs} ms`);
    expect(stopMs).toBeLessThan(10_000);
    expect(stderr).toContain('"msg":"stopped"');
    expect(stderr).not.toContain(dovecot.password);
  });

  it('reads the old role name ingest as imap, with one deprecation warning (deployed units keep working)', () => {
    const warnings: string[] = [];
    expect(parseRoles('ingest,web', (m) => warnings.push(m))).toEqual(['imap', 'web']);
    expect(warnings).toEqual(['role "ingest" is now called "imap"; the old name still works but is deprecated']);
    expect(parseRoles('imap,triage', (m) => warnings.push(m))).toEqual(['imap', 'triage']);
    expect(warnings).toHaveLength(1);
  });

  it('refuses an unknown role and a missing secret with one clear error each', () => {
    expect(() => parseRoles('ingest,mailman')).toThrow(/unknown role mailman/);
    expect(parseRoles('web, executor')).toEqual(['executor', 'web']);
    const config = path.join(dir, 'broken.config.json');
    writeFileSync(
      config,
      JSON.stringify({
        imap: [
          { name: 'a', host: 'imap.example.com', user: 'a@example.com', password: { env: 'NOT_SET_ANYWHERE' } },
          { name: 'b', host: 'imap.example.com', user: 'b@example.com', tls: 'none' , accessToken: { file: 'token' } },
        ],
      }),
    );
    expect(() => loadConfig({ env: {}, configPath: config })).toThrow(/imap\.1: tls "none" sends the password in clear/);
    writeFileSync(config, JSON.stringify({ imap: [{ name: 'a', host: 'imap.example.com', user: 'a@example.com', password: { env: 'NOT_SET_ANYWHERE' } }] }));
    expect(() => loadConfig({ env: {}, configPath: config })).toThrow(/imap\.0\.password: environment variable NOT_SET_ANYWHERE is not set/);
  });
});
