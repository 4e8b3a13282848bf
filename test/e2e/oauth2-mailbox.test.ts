import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmailRecord } from '../../src/audit/email-ledger.js';
import { startDaemon, type Daemon } from '../../src/daemon/daemon.js';
import { emailIdOf } from '../../src/ingest/submit.js';
import { createLogger } from '../../src/kernel/logger.js';
import { EXAMPLE_CONFIG_FILE, EXAMPLES } from '../fixtures/examples.js';
import { connectImap, startDovecot, type DovecotServer } from '../harness/dovecot.js';
import { imapConfig, waitFor } from '../harness/mail.js';
import { startOAuthServer, type OAuthServer } from '../harness/oauth-server.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';
import { startSmtpCapture, type SmtpCapture } from '../harness/smtp-capture.js';

const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const FOLDER = 'OAuth';
const MAIL = ['02-card-declined-renewal.eml', '01-invoice-copy-request.eml'];
const raw = (file: string) => readFileSync(path.join(EXAMPLES, 'mailbox', file));

describe('a mailbox on OAuth2 end to end: IMAP in and SMTP out on one login, 1-second tokens, rotation on', () => {
  let oauth: OAuthServer;
  let dovecot: DovecotServer;
  let redis: TestRedis;
  let smtp: SmtpCapture;
  let daemon: Daemon | undefined;
  beforeAll(async () => {
    oauth = await startOAuthServer({ clientSecret: 'e2e-secret', rotate: true, accessTtlSeconds: 1 });
    [dovecot, redis, smtp] = await Promise.all([
      startDovecot({ oauth2: { introspectionUrl: oauth.introspectionUrl } }),
      startTestRedis(),
      startSmtpCapture({ oauth2: { check: (t) => oauth.check(t) } }),
    ]);
    const admin = await connectImap(dovecot);
    await admin.mailboxCreate(FOLDER).finally(() => admin.logout());
  });
  afterAll(async () => {
    await daemon?.close();
    await Promise.all([dovecot?.close(), redis?.close(), smtp?.close(), oauth?.close()]);
  });

  it('takes the mail in, answers it over XOAUTH2, and the refresh token on file keeps working', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-e2e-oauth2-'));
    const file = path.join(dir, 'support.refresh-token');
    const original = oauth.issueRefreshToken(dovecot.user);
    writeFileSync(file, original, { mode: 0o600 });
    writeFileSync(path.join(dir, 'client-secret'), 'e2e-secret');
    const oauth2 = { clientId: oauth.clientId, clientSecret: { file: path.join(dir, 'client-secret') }, refreshToken: { file }, tokenUrl: oauth.tokenUrl };
    const example: Record<string, unknown> = JSON.parse(readFileSync(EXAMPLE_CONFIG_FILE, 'utf8'));
    const { mailbox: _m, authservId: _a, ...rest } = example;
    const config = imapConfig(
      dovecot,
      { REDIS_URL: redis.url, MAILROOM_PREFIX: redis.prefix() },
      { folders: [FOLDER], password: undefined, oauth2 },
      {
        ...rest,
        accountsFile: path.join(EXAMPLES, 'accounts.json'),
        kbDir: path.join(EXAMPLES, 'kb'),
        smtp: { host: smtp.host, port: smtp.port, tls: 'none', user: dovecot.user, oauth2 },
      },
    );
    daemon = await startDaemon(config, logger, { roles: ['imap', 'triage', 'planner', 'executor'] });
    const d = daemon;
    await d.imap?.watchers[0]?.firstSync;

    const ids = MAIL.map((f) => emailIdOf(raw(f), 'support@acme.example'));
    for (const f of MAIL) {
      await dovecot.append(raw(f), FOLDER);
      // Each message after the last token is dead: the reply needs a new one.
      await new Promise((r) => setTimeout(r, 1_100));
    }
    const recs = await waitFor(
      'both emails to complete',
      async () => {
        const got = (await d.app.ledger.getMany(ids)).filter((r): r is EmailRecord => r !== null);
        return got.length === ids.length && got.every((r) => r.state === 'completed') ? got : undefined;
      },
      30_000,
    );
    expect(recs).toHaveLength(2);
    const replies = await smtp.waitFor(2, 10_000);
    expect(replies.map((m) => m.envelope.to[0]).sort()).toEqual(['dana.whitfield@brightleaf.example', 'marco.rossi@pastaworks.example']);
    expect(smtp.logins.accepted).toBeGreaterThanOrEqual(1);
    // Tokens live 1 s, so the logins (IMAP, SMTP, the start check) each needed a refresh, and each refresh rotated the token on file.
    expect(oauth.counts.refresh).toBeGreaterThanOrEqual(2);
    const now = readFileSync(file, 'utf8').trim();
    expect(now).not.toBe(original);
    const works = await fetch(oauth.tokenUrl, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: now, client_id: oauth.clientId, client_secret: 'e2e-secret' }) });
    expect(works.status).toBe(200);
    console.info(`[measure] oauth2 e2e: ${oauth.counts.refresh} refreshes, ${smtp.logins.accepted} SMTP logins accepted, ${smtp.logins.refused} refused`);
  });
});
