import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachBackend } from '../harness/history-backends.js';
import { loadConfig } from '../../src/config/config.js';
import type { ArchivedEmail } from '../../src/history/history-store.js';
import { applyRetention } from '../../src/history/retention.js';
import { EmailId } from '../../src/kernel/ids.js';
import { createRedis, type Redis } from '../../src/queues/connection.js';
import { redisKeys } from '../../src/queues/keys.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';

const DAY = 86_400_000;

function archived(n: number, updatedAt: Date): ArchivedEmail {
  const emailId = EmailId.parse(`em_${n.toString(16).padStart(16, '0')}`);
  const at = updatedAt.toISOString();
  return {
    record: { emailId, state: 'completed', reason: '', source: 'file', createdAt: at, updatedAt: at, planId: '', category: 'billing', sender: 'verified', robot: '', tools: '', mailbox: 'help@example.com', mode: 'live' },
    events: [{ ts: at, type: 'completed', actor: 'executor', data: {} }],
    labels: [],
  };
}

describeEachBackend('retention', (backend) => {
  let server: TestRedis;
  let redis: Redis;
  beforeAll(async () => {
    server = await startTestRedis();
    redis = createRedis(server.url, 'retention');
  });
  afterAll(async () => {
    redis.disconnect();
    await server.close();
  });

  it('deletes history past retention.history and cuts longer-lived content down to retention.content', async () => {
    const now = new Date('2026-12-01T00:00:00Z');
    const store = await (await backend.place()).open();
    const keys = redisKeys(server.prefix());
    try {
      await store.put([archived(1, new Date(now.getTime() - 401 * DAY)), archived(2, new Date(now.getTime() - 399 * DAY)), archived(3, now)]);
      await redis.set(keys.match('content:ur_raw_old'), 'text', 'EX', 30 * 86_400);
      await redis.set(keys.match('ctx:em_0000000000000009'), '{}', 'EX', 3_600);
      await redis.set(keys.match('stats'), 'x');
      const r = await applyRetention({ redis, keys, store }, { historySeconds: 400 * 86_400, contentTtlSeconds: 86_400 }, now);
      expect(r).toEqual({ historyDeleted: 1, contentCapped: 1 });
      expect(await store.count()).toBe(2);
      expect(await store.get(archived(1, now).record.emailId)).toBeNull();
      const ttl = await redis.ttl(keys.match('content:ur_raw_old'));
      expect(ttl).toBeGreaterThan(86_000);
      expect(ttl).toBeLessThanOrEqual(86_400);
      // A key that expires sooner keeps its expiry; keys that are not content are not touched.
      expect(await redis.ttl(keys.match('ctx:em_0000000000000009'))).toBeLessThanOrEqual(3_600);
      expect(await redis.ttl(keys.match('stats'))).toBe(-1);
      // A second pass finds nothing more to do.
      expect(await applyRetention({ redis, keys, store }, { historySeconds: 400 * 86_400, contentTtlSeconds: 86_400 }, now)).toEqual({ historyDeleted: 0, contentCapped: 0 });
    } finally {
      await store.close();
    }
  });
});

describe('retention config', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-retention-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('is configured as retention.history, retention.content and retention.archiveAfter, with contentTtlSeconds as the older name of retention.content', () => {
    const write = (body: object) => {
      const file = path.join(dir, `c${Math.random().toString(16).slice(2)}.json`);
      writeFileSync(file, JSON.stringify({ mailbox: { address: 'help@example.com' }, ...body }));
      return file;
    };
    const defaults = loadConfig({ env: {}, configPath: write({}), withoutSecrets: true });
    expect(defaults.retention).toEqual({ historySeconds: 400 * 86_400, archiveAfterSeconds: 14 * 86_400 });
    expect(defaults.contentTtlSeconds).toBe(14 * 86_400);
    const set = loadConfig({ env: {}, configPath: write({ retention: { history: '90d', content: '3d', archiveAfter: '2d' } }), withoutSecrets: true });
    expect(set.retention).toEqual({ historySeconds: 90 * 86_400, archiveAfterSeconds: 2 * 86_400 });
    expect(set.contentTtlSeconds).toBe(3 * 86_400);
    expect(() => loadConfig({ env: {}, configPath: write({ retention: { content: '3d' }, contentTtlSeconds: 100 }), withoutSecrets: true })).toThrow(/retention.content and contentTtlSeconds: set one/);
    expect(() => loadConfig({ env: {}, configPath: write({ retention: { history: 'a year' } }), withoutSecrets: true })).toThrow(/retention/);
  });
});
