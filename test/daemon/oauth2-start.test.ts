import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig } from '../../src/config/config.js';
import { startDaemon, type Daemon } from '../../src/daemon/daemon.js';
import { createLogger } from '../../src/kernel/logger.js';
import { startOAuthServer, type OAuthServer } from '../harness/oauth-server.js';
import { startSmtpCapture, type SmtpCapture } from '../harness/smtp-capture.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';

const LogLine = z.object({ level: z.number(), msg: z.string(), code: z.string().optional() });
const Health = z.object({ ok: z.boolean(), oauth2: z.record(z.string(), z.string()).optional() });

describe('the daemon names a rejected SMTP refresh token at start', () => {
  let oauth: OAuthServer;
  let smtp: SmtpCapture;
  let redis: TestRedis;
  let daemon: Daemon | undefined;
  beforeAll(async () => {
    oauth = await startOAuthServer();
    [smtp, redis] = await Promise.all([startSmtpCapture({ oauth2: { check: (t) => oauth.check(t) } }), startTestRedis()]);
  });
  afterAll(async () => {
    await daemon?.close();
    await Promise.all([smtp?.close(), redis?.close(), oauth?.close()]);
  });

  it('one error line with what to run, and /healthz 503 with "auth failed: refresh token rejected" for smtp', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-oauth2-start-'));
    const revoked = oauth.issueRefreshToken('support@acme.example');
    oauth.revoke(revoked);
    writeFileSync(path.join(dir, 'smtp.rt'), revoked, { mode: 0o600 });
    const configPath = path.join(dir, 'mailroom.config.json');
    writeFileSync(
      configPath,
      JSON.stringify({
        http: { port: 0 },
        smtp: { provider: 'microsoft365', host: smtp.host, port: smtp.port, tls: 'none', user: 'support@acme.example', oauth2: { clientId: oauth.clientId, refreshToken: { file: 'smtp.rt' }, tokenUrl: oauth.tokenUrl } },
      }),
    );
    const config = loadConfig({ env: { REDIS_URL: redis.url, MAILROOM_PREFIX: redis.prefix(), MAILROOM_DATA_DIR: dir }, configPath });
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    });
    daemon = await startDaemon(config, createLogger({ level: 'info', destination: sink }), { roles: ['executor', 'web'], onWebReady: () => undefined });
    const errors = lines.map((l) => LogLine.parse(JSON.parse(l))).filter((l) => l.level >= 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.code).toBe('MAILROOM_OAUTH_REFRESH_REJECTED');
    expect(errors[0]?.msg).toMatch(/^smtp: auth failed: refresh token rejected .*run `mailroom auth login --provider microsoft --account smtp`/);
    const res = await fetch(`http://127.0.0.1:${daemon.http?.port ?? 0}/healthz`);
    expect(res.status).toBe(503);
    expect(Health.parse(await res.json()).oauth2).toEqual({ smtp: 'auth failed: refresh token rejected' });
  });
});
