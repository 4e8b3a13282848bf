import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { MailroomError } from '../../src/kernel/errors.js';
import { createLogger } from '../../src/kernel/logger.js';
import { createTokenSources } from '../../src/oauth/token-source.js';
import { createMailer, type OutboundMail } from '../../src/mail/mailer.js';
import { startOAuthServer, type OAuthServer } from '../harness/oauth-server.js';
import { startSmtpCapture, type SmtpCapture } from '../harness/smtp-capture.js';

const USER = 'support@acme.example';
const SECRET = 'smtp-client-secret-LOGCANARY-30';

const mail = (n: number): OutboundMail => ({
  to: 'customer@example.com',
  from: { name: 'Acme Support', address: USER },
  subject: `Re: case ${n}`,
  text: 'Thanks for writing.',
  messageId: `<reply-${n}-${Date.now()}@acme.example>`,
  headers: {},
});

describe('replies over SMTP with OAuth2 (nodemailer XOAUTH2, tokens from Mailroom)', () => {
  let oauth: OAuthServer;
  let smtp: SmtpCapture;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-smtp-oauth2-'));
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
    oauth = await startOAuthServer({ clientSecret: SECRET, rotate: true });
    smtp = await startSmtpCapture({ oauth2: { check: (t) => oauth.check(t) } });
  });
  afterAll(async () => {
    await smtp?.close();
    await oauth?.close();
  });

  /** The `smtp` section as a user writes it, loaded as the daemon loads it. */
  function smtpConfig(refreshToken: string) {
    const file = path.join(dir, `smtp-${Math.random().toString(36).slice(2)}.rt`);
    writeFileSync(file, refreshToken, { mode: 0o600 });
    const configPath = path.join(dir, 'mailroom.config.json');
    writeFileSync(
      configPath,
      JSON.stringify({
        smtp: { host: smtp.host, port: smtp.port, tls: 'none', user: USER, oauth2: { clientId: oauth.clientId, clientSecret: { file: 'client-secret' }, refreshToken: { file }, tokenUrl: oauth.tokenUrl } },
      }),
    );
    writeFileSync(path.join(dir, 'client-secret'), SECRET);
    return { config: loadConfig({ env: {}, configPath }), file };
  }

  it('signs in with a fresh token, and after the server refuses a token gets a new one once and sends', async () => {
    const { config, file } = smtpConfig(oauth.issueRefreshToken(USER));
    const original = readFileSync(file, 'utf8');
    const tokens = createTokenSources({ logger });
    const first = createMailer(config.smtp, { tokens, logger });
    expect(first.kind).toBe('smtp');
    expect(await first.checkAuth?.()).toBeNull();
    await first.send(mail(1));
    first.close();
    expect(smtp.logins).toEqual({ accepted: 1, refused: 0 });
    expect(readFileSync(file, 'utf8')).not.toBe(original); // rotated, written back

    // The token dies at the provider while Mailroom's clock says it is good; the next
    // connection's login is refused and nodemailer asks again with renew.
    oauth.expireAccessTokens();
    const refreshes = oauth.counts.refresh;
    const second = createMailer(config.smtp, { tokens, logger });
    await second.send(mail(2));
    second.close();
    expect(smtp.logins).toEqual({ accepted: 2, refused: 1 });
    expect(oauth.counts.refresh).toBe(refreshes + 1);
    expect(smtp.messages.map((m) => m.parsed.subject)).toEqual(['Re: case 1', 'Re: case 2']);
  });

  it('a revoked refresh token: named at start by checkAuth, and a send fails with that code, not as a transient SMTP error', async () => {
    const revoked = oauth.issueRefreshToken(USER);
    oauth.revoke(revoked);
    const { config } = smtpConfig(revoked);
    const mailer = createMailer(config.smtp, { tokens: createTokenSources({ logger }), logger });
    const atStart = await mailer.checkAuth?.();
    expect(atStart?.code).toBe('OAUTH_REFRESH_REJECTED');
    expect(atStart?.message).toContain('mailroom auth login --provider microsoft --account smtp');
    const err = await mailer.send(mail(3)).catch((e: unknown) => e);
    mailer.close();
    expect(err).toBeInstanceOf(MailroomError);
    expect((err as MailroomError).code).toBe('OAUTH_REFRESH_REJECTED');
    expect(smtp.messages).toHaveLength(2);
  });

  it('a password login from a file (the fastmail/generic recipe): read at the first reply, fixed without a restart', async () => {
    const capture = await startSmtpCapture({ password: { user: USER, pass: 'app-password' } });
    try {
      const pwFile = path.join(dir, 'smtp-password');
      const configPath = path.join(dir, 'password.config.json');
      writeFileSync(configPath, JSON.stringify({ smtp: { provider: 'fastmail', host: capture.host, port: capture.port, tls: 'none', user: USER, password: { file: 'smtp-password' } } }));
      const config = loadConfig({ env: {}, configPath });
      const mailer = createMailer(config.smtp, { tokens: createTokenSources({ logger }), logger });
      await expect(mailer.send(mail(4))).rejects.toMatchObject({ code: 'CONFIG_INVALID' }); // no file yet
      writeFileSync(pwFile, 'app-password');
      await mailer.send(mail(5));
      mailer.close();
      expect(capture.logins).toEqual({ accepted: 1, refused: 0 });
      expect(capture.messages.map((m) => m.parsed.subject)).toEqual(['Re: case 5']);
    } finally {
      await capture.close();
    }
  });

  it('no secret reaches the log', () => {
    const all = lines.join('');
    expect(all).not.toContain(SECRET);
    expect(all).not.toMatch(/\b(rt|at)-[0-9a-f]{24}\b/);
  });
});
