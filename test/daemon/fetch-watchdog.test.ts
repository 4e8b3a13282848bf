import { Queue, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { watchFetching } from '../../src/app/fetch-watchdog.js';
import { createRedis, type Redis } from '../../src/queues/connection.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';

describe('the fetch watchdog', () => {
  let server: TestRedis;
  let redis: Redis;
  beforeAll(async () => {
    server = await startTestRedis();
    redis = createRedis(server.url, 'watchdog-test');
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.close();
  });

  const waitUntil = async (check: () => boolean, ms: number) => {
    const end = Date.now() + ms;
    while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  };

  it('calls onStuck once when a worker with free slots takes no job while jobs wait', async () => {
    const prefix = server.prefix();
    const queue = new Queue('w', { connection: redis, prefix });
    // A worker whose fetch loop never runs: what a stuck blocking connection looks like from outside.
    const worker = new Worker('w', async () => undefined, { connection: redis, prefix, autorun: false });
    let stuck = 0;
    const stop = watchFetching(worker, queue, { concurrency: 1, stuckAfterMs: 1_000, onStuck: () => (stuck += 1) });
    await queue.add('j', {});
    await waitUntil(() => stuck > 0, 8_000);
    await new Promise((r) => setTimeout(r, 1_500));
    stop();
    expect(stuck).toBe(1);
    await worker.close(true);
    await queue.close();
  });

  it('stays quiet for a worker that takes jobs, and for an idle one with nothing waiting', async () => {
    const prefix = server.prefix();
    const queue = new Queue('w', { connection: redis, prefix });
    const worker = new Worker('w', async () => undefined, { connection: redis, prefix });
    let stuck = 0;
    const stop = watchFetching(worker, queue, { concurrency: 1, stuckAfterMs: 1_000, onStuck: () => (stuck += 1) });
    for (let i = 0; i < 5; i++) await queue.add('j', {});
    await new Promise((r) => setTimeout(r, 3_000));
    stop();
    expect(stuck).toBe(0);
    expect(await queue.getJobCounts('completed')).toEqual({ completed: 5 });
    await worker.close();
    await queue.close();
  });
});
