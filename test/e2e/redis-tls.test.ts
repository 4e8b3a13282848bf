import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { createContext } from '../../src/app/context.js';
import { MailroomError } from '../../src/kernel/errors.js';
import { EmailId } from '../../src/kernel/ids.js';
import { createLogger } from '../../src/kernel/logger.js';
import { startRedisProcess, type RedisProcess } from '../harness/redis-cluster.js';

/** A managed Redis as a cloud sells it: TLS only, a password, a certificate from a private CA. */
describe('a managed Redis with TLS and a password (rediss://)', () => {
  let dir: string;
  let redis: RedisProcess;
  const password = 'pw-1234567890';

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-tls-'));
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    // Self-signed, so the certificate is its own CA; it names 127.0.0.1, as hostname checks require.
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    redis = await startRedisProcess({ tls: { cert, key }, extraArgs: ['--requirepass', password] });
  });
  afterAll(async () => {
    await redis?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const env = (extra: Record<string, string>) => ({ REDIS_URL: `rediss://default:${password}@127.0.0.1:${redis.port}`, MAILROOM_PREFIX: '{tls}', MAILROOM_DATA_DIR: dir, ...extra });

  it('connects with REDIS_TLS_CA_FILE and runs queues and the ledger over it', async () => {
    const app = await createContext(loadConfig({ env: env({ REDIS_TLS_CA_FILE: path.join(dir, 'cert.pem') }) }), createLogger({ level: 'silent' }));
    try {
      const emailId = EmailId.parse('em_0123456789abcdef');
      expect(await app.ledger.create(emailId, 'tls-check')).toBe(true);
      await app.queues.add('plan', { emailId }, { jobId: 'tls-check' });
      expect(await app.queues.get('plan').getJobCounts('waiting')).toEqual({ waiting: 1 });
      expect(await app.ledger.countByState()).toEqual({ received: 1 });
      expect(app.embeddedRedis).toBeNull();
    } finally {
      await app.close();
    }
  });

  it('refuses a server whose certificate it cannot verify, and a wrong password, with one clear error', async () => {
    const logger = createLogger({ level: 'silent' });
    await expect(createContext(loadConfig({ env: env({}) }), logger)).rejects.toSatisfy(
      (e: unknown) => e instanceof MailroomError && e.code === 'REDIS_UNREACHABLE' && !e.message.includes(password),
    );
    const wrong = { ...env({ REDIS_TLS_CA_FILE: path.join(dir, 'cert.pem') }), REDIS_URL: `rediss://default:nope@127.0.0.1:${redis.port}` };
    await expect(createContext(loadConfig({ env: wrong }), logger)).rejects.toSatisfy((e: unknown) => e instanceof MailroomError && e.code === 'REDIS_UNREACHABLE');
  });
});
