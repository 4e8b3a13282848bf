import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startDaemon, type Daemon } from '../../src/daemon/daemon.js';
import { createLogger } from '../../src/kernel/logger.js';
import { connectImap, startDovecot, type DovecotServer } from '../harness/dovecot.js';
import { customerMail, imapConfig, waitFor } from '../harness/mail.js';
import { startOAuthServer, type OAuthServer } from '../harness/oauth-server.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';

const run = promisify(execFile);
const BIN = path.resolve(import.meta.dirname, '../../bin/mailroom.js');
const SECRET = 'oauth-client-secret-LOGCANARY-30';
const LogLine = z.object({ level: z.number(), msg: z.string(), code: z.string().optional() });
const Health = z.object({ ok: z.boolean(), imap: z.record(z.string(), z.string()), oauth2: z.record(z.string(), z.string()).optional() });

describe('an IMAP mailbox connected with OAuth2, tokens refreshed by Mailroom (Dovecot checks them)', () => {
  let oauth: OAuthServer;
  let dovecot: DovecotServer;
  let redis: TestRedis;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-imap-oauth2-'));
  const running: Daemon[] = [];
  beforeAll(async () => {
    oauth = await startOAuthServer({ clientSecret: SECRET });
    [dovecot, redis] = await Promise.all([startDovecot({ oauth2: { introspectionUrl: oauth.introspectionUrl } }), startTestRedis()]);
  });
  afterAll(async () => {
    await Promise.all(running.map((d) => d.close().catch(() => undefined)));
    await Promise.all([dovecot?.close(), redis?.close(), oauth?.close()]);
  });

  async function start(folder: string, refreshTokenFile: string) {
    const admin = await connectImap(dovecot);
    await admin.mailboxCreate(folder).finally(() => admin.logout());
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    });
    const env = { REDIS_URL: redis.url, MAILROOM_PREFIX: redis.prefix(), TEST_OAUTH_SECRET: SECRET };
    const oauth2 = { clientId: oauth.clientId, clientSecret: { env: 'TEST_OAUTH_SECRET' }, refreshToken: { file: refreshTokenFile }, tokenUrl: oauth.tokenUrl, scopes: ['imap'] };
    const config = imapConfig(dovecot, env, { folders: [folder], password: undefined, oauth2 }, { http: { port: 0 } });
    const d = await startDaemon(config, createLogger({ level: 'debug', destination: sink }), { roles: ['imap', 'web'] });
    running.push(d);
    const health = async () => {
      const res = await fetch(`http://127.0.0.1:${d.http?.port ?? 0}/healthz`);
      return { status: res.status, body: Health.parse(await res.json()) };
    };
    const logs = () => lines.map((l) => LogLine.parse(JSON.parse(l)));
    const watcher = d.imap?.watchers[0];
    if (!watcher) throw new Error('no watcher');
    return { d, env, health, logs, lines, watcher };
  }

  it('keeps fetching mail through short-lived tokens: refreshed ahead of expiry or after a refusal, the rotated refresh token written to its file', async () => {
    oauth.setRotate(true);
    oauth.setAccessTtl(1);
    const original = oauth.issueRefreshToken(dovecot.user);
    const file = path.join(dir, 'support.refresh-token');
    writeFileSync(file, original, { mode: 0o600 });
    const { health, watcher, lines, logs } = await start('Refresh', file);
    await dovecot.append(customerMail('oauth-1'), 'Refresh');
    await waitFor('the first message taken in', async () => (watcher.stats.ingested >= 1 ? true : undefined));
    const rotated = readFileSync(file, 'utf8').trim();
    expect(rotated).not.toBe(original);
    expect((await health()).body.oauth2).toEqual({ 'imap account support': 'ok' });
    const renewals = () => logs().filter((l) => l.msg === 'imap refused the access token; fetching a new one and trying once more').length;

    // The 1 s token is dead by now; the server restarts and drops the session. The next login
    // uses a token fetched before it (the cached one had expired), so no login is refused.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    let refreshes = oauth.counts.refresh;
    oauth.setAccessTtl(3600);
    await dovecot.stop();
    await dovecot.start();
    await dovecot.append(customerMail('oauth-2'), 'Refresh');
    await waitFor('the message after the expiry taken in', async () => (watcher.stats.ingested >= 2 ? true : undefined), 30_000);
    expect(oauth.counts.refresh).toBeGreaterThan(refreshes);
    expect(renewals()).toBe(0);

    // Now the token Mailroom holds dies at the provider before its time (a revoked session, a
    // clock skew): the login is refused once, Mailroom fetches a new token and logs in.
    refreshes = oauth.counts.refresh;
    oauth.expireAccessTokens();
    await dovecot.stop();
    await dovecot.start();
    await dovecot.append(customerMail('oauth-3'), 'Refresh');
    await waitFor('the message after the refusal taken in', async () => (watcher.stats.ingested >= 3 ? true : undefined), 30_000);
    expect(oauth.counts.refresh).toBe(refreshes + 1);
    expect(renewals()).toBe(1);
    expect(watcher.stats.connects).toBe(3);
    // Rotated at each refresh; the file holds the one the provider accepts now.
    expect(readFileSync(file, 'utf8').trim()).not.toBe(rotated);
    const handled = await dovecot.listMailbox('Refresh');
    expect(handled).toHaveLength(3);
    expect(handled.every((m) => m.flags.includes('$MailroomHandled'))).toBe(true);
    expect((await health()).body.imap['support/Refresh']).toBe('connected');
    expect(logs().filter((l) => l.level >= 50)).toEqual([]);
    const all = lines.join('\n');
    expect(all).not.toContain(SECRET);
    expect(all).not.toMatch(/\b(rt|at)-[0-9a-f]{24}\b/);
    oauth.setRotate(false);
  });

  it('a revoked refresh token: one line at start, "auth failed: refresh token rejected" in /healthz and status, then a new token is picked up', async () => {
    const revoked = oauth.issueRefreshToken(dovecot.user);
    oauth.revoke(revoked);
    const file = path.join(dir, 'revoked.refresh-token');
    writeFileSync(file, revoked, { mode: 0o600 });
    const { health, logs, env, watcher } = await start('Revoked', file);
    const first = await waitFor('the rejected token in /healthz', async () => {
      const h = await health();
      return h.body.imap['support/Revoked'] === 'auth failed: refresh token rejected' ? h : undefined;
    });
    expect(first.status).toBe(503);
    expect(first.body.oauth2).toEqual({ 'imap account support': 'auth failed: refresh token rejected' });
    await waitFor('a retry refused again', async () => (logs().some((l) => l.msg === 'imap login still refused; retrying') ? true : undefined));
    const errors = logs().filter((l) => l.level >= 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.code).toBe('MAILROOM_OAUTH_REFRESH_REJECTED');
    expect(errors[0]?.msg).toContain('auth failed: refresh token rejected');
    expect(errors[0]?.msg).toContain('mailroom auth login --provider microsoft --account support');
    // Not a silent loop of refreshes: the rejected token went to the provider once.
    expect(oauth.tokenRequests.filter((f) => f.refresh_token === revoked)).toHaveLength(1);

    const status = await run(process.execPath, [BIN, 'status'], { env: { PATH: process.env.PATH, HOME: process.env.HOME, REDIS_URL: env.REDIS_URL, MAILROOM_PREFIX: env.MAILROOM_PREFIX }, timeout: 60_000 });
    expect(status.stdout).toContain('oauth2 logins:');
    expect(status.stdout).toMatch(/imap account support\s+auth failed: refresh token rejected/);
    expect(status.stdout).toContain('mailroom auth login');

    // What `mailroom auth login` does: a new refresh token in the file; no restart.
    writeFileSync(file, oauth.issueRefreshToken(dovecot.user), { mode: 0o600 });
    await dovecot.append(customerMail('after-login'), 'Revoked');
    await waitFor('mail taken in with the new token', async () => (watcher.stats.ingested >= 1 ? true : undefined), 30_000);
    const healed = await waitFor('/healthz ok again', async () => {
      const h = await health();
      return h.status === 200 ? h : undefined;
    });
    expect(healed.body.oauth2).toEqual({ 'imap account support': 'ok' });
  });
});
