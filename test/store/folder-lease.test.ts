import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { folderLease, INSTANCE_FILE, instanceId, type LeaseHolder } from '../../src/store/folder-lease.js';
import { processIdentity } from '../../src/kernel/process-alive.js';
import { createRedis, type Redis } from '../../src/queues/connection.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';

describe('the IMAP folder lease', () => {
  let server: TestRedis;
  let redis: Redis;
  beforeAll(async () => {
    server = await startTestRedis();
    redis = createRedis(server.url, 'lease-test');
  });
  afterAll(async () => {
    await redis?.quit();
    await server?.close();
  });
  const key = () => `${server.prefix()}:imap:lease:support:INBOX`;
  /** Puts a holder's value under `k` as another process would have (a previous life of `instance`, say). */
  const planted = async (k: string, holder: Partial<LeaseHolder> & { instance: string }) => {
    const value: LeaseHolder = { host: os.hostname(), pid: process.pid, life: 'an-earlier-life', lease: 'x', ...holder };
    await redis.set(k, JSON.stringify(value), 'PX', 180_000);
  };

  it('keeps the installation id in the data folder, the same on every start', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-instance-'));
    const id = instanceId(dir);
    expect(instanceId(dir)).toBe(id);
    expect(JSON.parse(readFileSync(path.join(dir, INSTANCE_FILE), 'utf8'))).toEqual({ id });
  });

  it("reclaims at once the lease this installation's previous life left (a restart with the same pid, as in a container)", async () => {
    const k = key();
    await planted(k, { instance: 'inst-a' });
    const lease = folderLease(redis, k, 30_000, 'inst-a');
    expect(await lease.hold()).toBe('reclaimed');
    expect(await lease.hold()).toBe('held');
    expect(await redis.pttl(k)).toBeLessThanOrEqual(30_000);
  });

  it('reclaims one whose process is gone', async () => {
    const k = key();
    await planted(k, { instance: 'inst-a', pid: spawnSync('true').pid });
    expect(await folderLease(redis, k, 30_000, 'inst-a').hold()).toBe('reclaimed');
  });

  it('reclaims one whose pid now names a later process (the pid reused after a crash), and stands by for the same live process', async () => {
    const reused = key();
    await planted(reused, { instance: 'inst-a', pid: process.ppid, started: 'an-earlier-boot:12345' });
    expect(await folderLease(redis, reused, 30_000, 'inst-a').hold()).toBe('reclaimed');
    const same = `${key()}:same`;
    await planted(same, { instance: 'inst-a', pid: process.ppid, started: processIdentity(process.ppid) ?? '' });
    expect(await folderLease(redis, same, 30_000, 'inst-a').hold()).toBe(false);
  });

  it('stands by for a live process, another installation, another host, and a second watcher in this process; and says who holds it until when', async () => {
    const cases: Array<Partial<LeaseHolder>> = [
      { pid: process.ppid },
      { instance: 'inst-b', pid: spawnSync('true').pid },
      { host: 'elsewhere.example', pid: spawnSync('true').pid },
    ];
    for (const c of cases) {
      const k = key();
      await planted(k, { instance: 'inst-a', ...c });
      const lease = folderLease(redis, k, 30_000, 'inst-a');
      expect(await lease.hold()).toBe(false);
      const view = await lease.holder();
      expect(view?.holder).toMatchObject(c);
      expect(view?.expiresAt.getTime()).toBeGreaterThan(Date.now() + 170_000);
    }
    const k = key();
    const first = folderLease(redis, k, 30_000, 'inst-a');
    expect(await first.hold()).toBe('held');
    const second = folderLease(redis, k, 30_000, 'inst-a');
    expect(await second.hold()).toBe(false);
    await first.release();
    expect(await second.hold()).toBe('held');
  });
});
