import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../src/daemon/daemon.js';
import { createLogger } from '../../src/kernel/logger.js';
import { connectImap, startDovecot, type DovecotServer } from '../harness/dovecot.js';
import { customerMail, imapConfig, waitFor } from '../harness/mail.js';
import { startOAuthServer, type OAuthServer } from '../harness/oauth-server.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';

/** Seconds to run; unset: skipped (it is a measurement, not part of the suite). */
const SOAK_S = Number(process.env.MAILROOM_OAUTH2_SOAK_S ?? 0);
const FOLDER = 'Soak';

describe.skipIf(!SOAK_S)('soak: an OAuth2 mailbox through 20-second tokens, killed tokens and a server restart every 5 s', () => {
  let oauth: OAuthServer;
  let dovecot: DovecotServer;
  let redis: TestRedis;
  let daemon: Daemon | undefined;
  beforeAll(async () => {
    oauth = await startOAuthServer({ rotate: true, accessTtlSeconds: 20 });
    [dovecot, redis] = await Promise.all([startDovecot({ oauth2: { introspectionUrl: oauth.introspectionUrl } }), startTestRedis()]);
    const admin = await connectImap(dovecot);
    await admin.mailboxCreate(FOLDER).finally(() => admin.logout());
  });
  afterAll(async () => {
    await daemon?.close();
    await Promise.all([dovecot?.close(), redis?.close(), oauth?.close()]);
  });

  it('loses nothing', { timeout: (SOAK_S + 120) * 1000 }, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-soak-'));
    const file = path.join(dir, 'rt');
    writeFileSync(file, oauth.issueRefreshToken(dovecot.user), { mode: 0o600 });
    const oauth2 = { clientId: oauth.clientId, refreshToken: { file }, tokenUrl: oauth.tokenUrl };
    const config = imapConfig(dovecot, { REDIS_URL: redis.url, MAILROOM_PREFIX: redis.prefix() }, { folders: [FOLDER], password: undefined, oauth2, reconnectMinMs: 50, reconnectMaxMs: 500 });
    let renewals = 0;
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        if (chunk.toString('utf8').includes('imap refused the access token')) renewals += 1;
        done();
      },
    });
    daemon = await startDaemon(config, createLogger({ level: 'info', destination: sink }), { roles: ['imap'] });
    const watcher = daemon.imap?.watchers[0];
    if (!watcher) throw new Error('no watcher');
    await watcher.firstSync;
    const end = Date.now() + SOAK_S * 1000;
    let sent = 0;
    let restarts = 0;
    const downMs: number[] = [];
    let nextRestart = Date.now() + 5_000;
    while (Date.now() < end) {
      await dovecot.append(customerMail(`soak-${sent}`), FOLDER);
      sent += 1;
      if (Date.now() > nextRestart) {
        // Half the time the held token is killed too (a refusal, then one renewal).
        if (restarts % 2 === 0) oauth.expireAccessTokens();
        const connects = watcher.stats.connects;
        const t0 = Date.now();
        await dovecot.stop();
        await dovecot.start();
        await waitFor('the watcher back', async () => (watcher.stats.connects > connects && watcher.stats.connected ? true : undefined), 30_000, 10);
        downMs.push(Date.now() - t0);
        restarts += 1;
        nextRestart = Date.now() + 5_000;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    await waitFor('every message taken in', async () => (watcher.stats.ingested >= sent ? true : undefined), 60_000);
    expect(watcher.stats.ingested).toBe(sent);
    const onServer = await dovecot.listMailbox(FOLDER);
    expect(onServer.filter((m) => !m.flags.includes('$MailroomHandled'))).toEqual([]);
    downMs.sort((a, b) => a - b);
    console.info(
      `[measure] oauth2 soak ${SOAK_S} s: ${sent} messages, ${restarts} restarts (${Math.ceil(restarts / 2)} with the held token killed), ` +
        `${oauth.counts.refresh} refreshes (${renewals} after a refused login), 0 lost; restart → watching again: median ${downMs[Math.floor(downMs.length / 2)] ?? 0} ms, max ${downMs.at(-1) ?? 0} ms`,
    );
  });
});
