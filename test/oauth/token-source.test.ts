import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MailroomError } from '../../src/kernel/errors.js';
import { createLogger } from '../../src/kernel/logger.js';
import type { OAuth2Client } from '../../src/config/oauth-config.js';
import { createTokenSource, createTokenSources, type OAuthState } from '../../src/oauth/token-source.js';
import { startOAuthServer, type OAuthServer } from '../harness/oauth-server.js';

const SECRET = 'client-secret-LOGCANARY-30';
const USER = 'support@acme.example';

describe('an OAuth2 token source against a real token endpoint', () => {
  let oauth: OAuthServer;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-oauth-'));
  const lines: string[] = [];
  const logger = createLogger({
    level: 'debug',
    destination: new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    }),
  });
  beforeAll(async () => {
    oauth = await startOAuthServer({ clientSecret: SECRET });
  });
  afterAll(async () => {
    await oauth?.close();
  });

  function source(refreshToken: OAuth2Client['refreshToken'], now?: () => number) {
    const states: OAuthState[] = [];
    const client: OAuth2Client = { provider: 'generic', clientId: oauth.clientId, clientSecret: { value: SECRET }, refreshToken, tokenUrl: oauth.tokenUrl, scopes: ['mail'] };
    const s = createTokenSource({ client, label: 'imap account support', loginHint: 'mailroom auth login --provider microsoft --account support', logger, onState: (_l, st) => states.push(st), ...(now ? { now } : {}) });
    return { s, states };
  }
  const fileWith = (name: string, value: string) => {
    const file = path.join(dir, name);
    writeFileSync(file, `${value}\n`, { mode: 0o600 });
    return file;
  };

  it('caches a token, refreshes it ahead of its expiry, and shares one request between callers', async () => {
    oauth.setAccessTtl(100);
    let clock = Date.now();
    const { s } = source({ file: fileWith('cache', oauth.issueRefreshToken(USER)) }, () => clock);
    const before = oauth.counts.refresh;
    const [a, b] = await Promise.all([s.token(), s.token()]);
    expect(a.token).toBe(b.token);
    expect(oauth.counts.refresh - before).toBe(1);
    expect(oauth.check(a.token)).toEqual({ active: true, user: USER });
    clock += 60_000; // 40 s left of 100: above the margin (a quarter of the life)
    expect((await s.token()).token).toBe(a.token);
    clock += 20_000; // 20 s left: inside the margin, a new one comes before the old one dies
    const c = await s.token();
    expect(c.token).not.toBe(a.token);
    expect(oauth.counts.refresh - before).toBe(2);
    // The client secret went in the form, as the provider needs it; scopes as asked.
    expect(oauth.tokenRequests.at(-1)).toMatchObject({ grant_type: 'refresh_token', client_secret: SECRET, scope: 'mail' });
    oauth.setAccessTtl(3600);
  });

  it('renews once for many reports of the same refused token', async () => {
    const { s } = source({ file: fileWith('renew', oauth.issueRefreshToken(USER)) });
    const first = await s.token();
    const before = oauth.counts.refresh;
    const [x, y] = await Promise.all([s.renew(first.token), s.renew(first.token)]);
    expect(x.token).toBe(y.token);
    expect(x.token).not.toBe(first.token);
    expect((await s.renew(first.token)).token).toBe(x.token);
    expect(oauth.counts.refresh - before).toBe(1);
  });

  it('writes a rotated refresh token back to its file, atomically and 0600, and uses it next', async () => {
    oauth.setRotate(true);
    try {
      const original = oauth.issueRefreshToken(USER);
      const file = fileWith('rotating', original);
      const { s } = source({ file });
      const first = await s.token();
      const rotated = readFileSync(file, 'utf8').trim();
      expect(rotated).not.toBe(original);
      expect(rotated).toMatch(/^rt-/);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
      // The old one is dead at the provider; the next refresh must use the new one.
      const second = await s.renew(first.token);
      expect(oauth.check(second.token).active).toBe(true);
      expect(readFileSync(file, 'utf8').trim()).not.toBe(rotated);
    } finally {
      oauth.setRotate(false);
    }
  });

  it('two processes on one file: the one that lost the race to rotate reads the winner\'s token and carries on', async () => {
    const old = oauth.issueRefreshToken(USER);
    const file = fileWith('two-processes', old);
    const { s, states } = source({ file });
    // While our request with the old token is in flight, another process rotates it: the
    // provider retired the old one, the file holds the new one.
    const winner = oauth.issueRefreshToken(USER);
    oauth.onTokenRequest((form) => {
      if (form.refresh_token !== old) return;
      oauth.revoke(old);
      writeFileSync(file, winner);
    });
    try {
      const got = await s.token();
      expect(oauth.check(got.token).active).toBe(true);
      expect(oauth.tokenRequests.slice(-2).map((f) => f.refresh_token)).toEqual([old, winner]);
      expect(states.map((x) => x.state)).toEqual(['ok']);
    } finally {
      oauth.onTokenRequest(null);
    }
  });

  it('a rotated token from an environment variable is kept in memory, with a warning', async () => {
    oauth.setRotate(true);
    try {
      const { s } = source({ value: oauth.issueRefreshToken(USER), env: 'RT' });
      const first = await s.token();
      const second = await s.renew(first.token);
      expect(oauth.check(second.token).active).toBe(true);
      expect(lines.join('')).toContain('kept in memory only');
    } finally {
      oauth.setRotate(false);
    }
  });

  it('a revoked refresh token: one typed error naming what to do, never sent again, and a new file is picked up', async () => {
    const revoked = oauth.issueRefreshToken(USER);
    const file = fileWith('revoked', revoked);
    const { s, states } = source({ file });
    oauth.revoke(revoked);
    const err = await s.token().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MailroomError);
    expect((err as MailroomError).code).toBe('OAUTH_REFRESH_REJECTED');
    expect((err as MailroomError).message).toContain('auth failed: refresh token rejected');
    expect((err as MailroomError).message).toContain('mailroom auth login --provider microsoft --account support');
    expect((err as MailroomError).message).toContain(file);
    const rejectedBefore = oauth.counts.refreshRejected;
    await expect(s.token()).rejects.toMatchObject({ code: 'OAUTH_REFRESH_REJECTED' });
    expect(oauth.counts.refreshRejected).toBe(rejectedBefore); // not asked again with the same token
    expect(states.map((x) => x.state)).toEqual(['refresh token rejected']);
    writeFileSync(file, oauth.issueRefreshToken(USER));
    expect(oauth.check((await s.token()).token).active).toBe(true);
    expect(states.map((x) => x.state)).toEqual(['refresh token rejected', 'ok']);
  });

  it('no refresh token on file yet: one typed error that says to run auth login', async () => {
    const missing = path.join(dir, 'never-written');
    const { s, states } = source({ file: missing });
    await expect(s.token()).rejects.toMatchObject({
      code: 'OAUTH_NO_REFRESH_TOKEN',
      message: `imap account support: auth failed: no refresh token in ${missing}; run \`mailroom auth login --provider microsoft --account support\` to sign in and store one`,
    });
    expect(states.map((x) => x.state)).toEqual(['no refresh token']);
  });

  it('a wrong client secret is a client error, not a rejected refresh token', async () => {
    const client: OAuth2Client = { provider: 'generic', clientId: oauth.clientId, clientSecret: { value: 'wrong' }, refreshToken: { value: oauth.issueRefreshToken(USER) }, tokenUrl: oauth.tokenUrl, scopes: [] };
    const s = createTokenSource({ client, label: 'smtp', loginHint: 'x', logger });
    await expect(s.token()).rejects.toMatchObject({ code: 'OAUTH_CLIENT_REJECTED' });
  });

  it('IMAP and SMTP on the same credentials share one source: one refresh, each sees the state under its own name', async () => {
    const states: Array<[string, string]> = [];
    const sources = createTokenSources({ logger, onState: (l, st) => states.push([l, st.state]) });
    const file = fileWith('shared', oauth.issueRefreshToken(USER));
    const client: OAuth2Client = { provider: 'microsoft365', clientId: oauth.clientId, clientSecret: { value: SECRET }, refreshToken: { file }, tokenUrl: oauth.tokenUrl, scopes: ['a', 'b'] };
    const smtp = sources.get(client, 'smtp', 'mailroom auth login --provider microsoft --account smtp');
    const before = oauth.counts.refresh;
    const a = await smtp.token();
    const imap = sources.get({ ...client, scopes: ['b', 'a'] }, 'imap account support', 'mailroom auth login --provider microsoft --account support');
    expect(imap).toBe(smtp);
    expect((await imap.token()).token).toBe(a.token);
    expect(oauth.counts.refresh - before).toBe(1);
    expect(states).toEqual([['smtp', 'ok'], ['imap account support', 'ok']]);
    writeFileSync(file, 'rt-revoked-000000000000000000000000');
    await expect(imap.renew(a.token)).rejects.toThrow(/^imap account support and smtp: auth failed: refresh token rejected .* run `mailroom auth login --provider microsoft --account support`/);
    expect(states.slice(2)).toEqual([['imap account support', 'refresh token rejected'], ['smtp', 'refresh token rejected']]);
  });

  it('no secret reaches the log, even at debug level', () => {
    const all = lines.join('');
    expect(all).not.toContain(SECRET);
    expect(all).not.toMatch(/rt-[0-9a-f]{24}/);
    expect(all).not.toMatch(/at-[0-9a-f]{24}/);
  });
});
