import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startDaemon, type Daemon } from '../../src/daemon/daemon.js';
import { createLogger } from '../../src/kernel/logger.js';
import { connectImap, startDovecot, type DovecotServer } from '../harness/dovecot.js';
import { imapConfig, waitFor } from '../harness/mail.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';

const WRONG_PASSWORD = 'wrong-pw-LOGCANARY-31';
const LogLine = z.object({ level: z.number(), msg: z.string(), code: z.string().optional() });
const Health = z.object({ ok: z.boolean(), imap: z.record(z.string(), z.string()) });

describe('a refused IMAP login or a wrong tls mode is named as such', () => {
  let dovecot: DovecotServer;
  let redis: TestRedis;
  const running: Daemon[] = [];
  beforeAll(async () => {
    [dovecot, redis] = await Promise.all([startDovecot(), startTestRedis()]);
    const admin = await connectImap(dovecot);
    await admin.mailboxCreate('Auth').finally(() => admin.logout());
  });
  afterAll(async () => {
    await Promise.all(running.map((d) => d.close().catch(() => undefined)));
    await Promise.all([dovecot?.close(), redis?.close()]);
  });

  /** Starts ingest + web with `imap` settings; returns its log lines and a /healthz reader. */
  async function start(imap: Record<string, unknown>) {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    });
    // The wrong password comes from the environment, as a real one would.
    const env = { REDIS_URL: redis.url, MAILROOM_PREFIX: redis.prefix(), WRONG_IMAP_PASSWORD: WRONG_PASSWORD };
    const config = imapConfig(dovecot, env, { folders: ['Auth'], ...imap }, { http: { port: 0 } });
    const d = await startDaemon(config, createLogger({ level: 'info', destination: sink }), { roles: ['imap', 'web'] });
    running.push(d);
    const health = async () => {
      const res = await fetch(`http://127.0.0.1:${d.http?.port ?? 0}/healthz`);
      return { status: res.status, body: Health.parse(await res.json()) };
    };
    const logs = () => lines.map((l) => LogLine.parse(JSON.parse(l)));
    return { d, health, logs, lines };
  }

  it('a wrong password: one error line at start, /healthz says "auth failed", and later refusals keep saying so', async () => {
    const { health, logs, lines } = await start({ password: { env: 'WRONG_IMAP_PASSWORD' } });
    const first = await waitFor('the first refusal in /healthz', async () => {
      const h = await health();
      return h.body.imap['support/Auth'] === 'auth failed' ? h : undefined;
    });
    expect(first.status).toBe(503);
    // A second refusal (the retry backs off to reconnectMaxMs, 1 s here) is a warning, not a second error.
    await waitFor('a retry refused again', async () => (logs().some((l) => l.msg === 'imap login still refused; retrying') ? true : undefined));
    const errors = logs().filter((l) => l.level >= 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'MAILROOM_IMAP_AUTH_FAILED' });
    expect(errors[0]?.msg).toMatch(/auth failed.*password/);
    expect((await health()).body.imap['support/Auth']).toBe('auth failed');
    expect(lines.join('\n')).not.toContain(WRONG_PASSWORD);
  });

  it('TLS on a plaintext port: one error line naming the tls setting, /healthz says "tls failed"', async () => {
    const { health, logs } = await start({ tls: 'implicit' });
    await waitFor('"tls failed" in /healthz', async () => ((await health()).body.imap['support/Auth'] === 'tls failed' ? true : undefined));
    const errors = logs().filter((l) => l.level >= 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'MAILROOM_IMAP_TLS_FAILED' });
    expect(errors[0]?.msg).toMatch(/"tls" setting/);
  });

  it('STARTTLS required from a server that does not offer it: named as a tls problem too', async () => {
    const { health, logs } = await start({ tls: 'starttls' });
    await waitFor('"tls failed" in /healthz', async () => ((await health()).body.imap['support/Auth'] === 'tls failed' ? true : undefined));
    expect(logs().find((l) => l.level >= 50)?.msg).toMatch(/does not offer STARTTLS/);
  });
});
