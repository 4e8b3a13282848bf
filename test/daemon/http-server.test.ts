import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContext } from '../../src/app/context.js';
import { type AppContext } from '../../src/services/services.js';
import { HTTP_BODY_LIMIT_BYTES, startHttpServer } from '../../src/daemon/http-server.js';
import { createMetrics } from '../../src/daemon/metrics.js';
import { MailroomError } from '../../src/kernel/errors.js';
import { createLogger } from '../../src/kernel/logger.js';
import { exampleConfig } from '../harness/example-config.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';

/** One reviewer: every route but /healthz needs a login (src/web/auth.ts). */
const auth = { reviewers: [{ name: 'alice', password: 'pw' }], generated: false };
const login = { authorization: `Basic ${Buffer.from('alice:pw').toString('base64')}` };

describe('the web role’s HTTP server', () => {
  let redis: TestRedis;
  let app: AppContext;
  beforeAll(async () => {
    redis = await startTestRedis();
    app = await createContext(exampleConfig({ redis }), createLogger({ level: 'silent' }));
  });
  afterAll(async () => {
    await app?.close();
    await redis?.close();
  });

  it('a busy port is one error that names the setting to change', async () => {
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    const address = squatter.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const err = await startHttpServer({ ...app, config: { ...app.config, http: { ...app.config.http, host: '127.0.0.1', port } } }, createMetrics(app), [], { auth }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(MailroomError);
      expect(err).toMatchObject({ code: 'CONFIG_INVALID' });
      expect(String((err as MailroomError).message)).toMatch(new RegExp(`127\\.0\\.0\\.1:${port} is already in use.*MAILROOM_HTTP_PORT`));
    } finally {
      squatter.close();
    }
  });

  it('refuses a request body over the limit with 413 before any route reads it', async () => {
    let reached = 0;
    const http = await startHttpServer({ ...app, config: { ...app.config, http: { ...app.config.http, host: '127.0.0.1', port: 0 } } }, createMetrics(app), [
      // A write route as a plugin (Bull Board's, a review decision) would mount it.
      (server) => {
        server.post('/echo', async () => {
          reached += 1;
          return { ok: true };
        });
      },
    ], { auth });
    try {
      const post = (bytes: number) =>
        fetch(`http://127.0.0.1:${http.port}/echo`, { method: 'POST', headers: { 'content-type': 'application/json', ...login }, body: JSON.stringify({ pad: 'x'.repeat(bytes) }) });
      expect((await post(1_000)).status).toBe(200);
      expect((await post(HTTP_BODY_LIMIT_BYTES + 1)).status).toBe(413);
      expect((await post(5 * 1024 * 1024)).status).toBe(413);
      expect(reached).toBe(1);
    } finally {
      await http.close();
    }
  });
});
