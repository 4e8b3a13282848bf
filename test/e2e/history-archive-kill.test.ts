import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { EMAIL_ID_COUNT_FOR_KILL, seedRested } from '../harness/history-seed.js';
import { createRedis, type Redis } from '../../src/queues/connection.js';
import { redisKeys } from '../../src/queues/keys.js';
import { describeEachBackend, type StorePlace } from '../harness/history-backends.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';

const BIN = path.resolve(import.meta.dirname, '../../bin/mailroom.js');

describeEachBackend('SIGKILL during mailroom archive (real Redis, the real CLI)', (backend) => {
  let server: TestRedis;
  let redis: Redis;
  let dataDir: string;
  let place: StorePlace;
  const prefix = '{killarchive}';
  const keys = redisKeys(prefix);
  const env = () => ({ PATH: process.env.PATH, HOME: process.env.HOME, REDIS_URL: server.url, MAILROOM_PREFIX: prefix, MAILROOM_DATA_DIR: dataDir, MAILROOM_LOG_LEVEL: 'error', ...place.env });

  beforeAll(async () => {
    server = await startTestRedis();
    redis = createRedis(server.url, 'kill-test');
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-kill-archive-'));
    place = await backend.place(dataDir);
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Runs `mailroom archive --older-than 0s`; with `killAfter`, SIGKILLs it after that many progress lines. */
  function archive(killAfter?: number): Promise<{ killed: boolean; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, 'archive', '--older-than', '0s'], { env: env(), stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      let killed = false;
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (killAfter !== undefined && !killed && (stderr.match(/mailroom: archived \d+, left/g) ?? []).length >= killAfter) {
          killed = child.kill('SIGKILL');
        }
      });
      child.once('error', reject);
      child.once('exit', () => resolve({ killed, stderr }));
    });
  }

  it('loses nothing and doubles nothing, however often it is killed; a re-run finishes the move', async () => {
    const seeded = await seedRested(redis, keys, EMAIL_ID_COUNT_FOR_KILL);
    // Killed at different points of the run: after the first batch, then later ones.
    for (const killAfter of [1, 3, 2]) {
      const { killed } = await archive(killAfter);
      expect(killed).toBe(true);
      const store = await place.open();
      try {
        let inStore = 0;
        for (const [id, events] of seeded) {
          const [stored, redisEvents] = await Promise.all([store.get(id), redis.llen(keys.audit(id))]);
          // In Redis, in the store or both; never neither, and a stored trail never doubled.
          expect(stored !== null || redisEvents === events).toBe(true);
          if (stored) {
            inStore++;
            expect(stored.events).toHaveLength(events);
          }
        }
        expect(inStore).toBe(await store.count());
        expect(inStore).toBeGreaterThan(0);
      } finally {
        await store.close();
      }
    }
    const done = await archive();
    expect(done.stderr).not.toMatch(/MAILROOM_/);
    const store = await place.open();
    try {
      expect(await store.count()).toBe(seeded.size);
      for (const [id, events] of seeded) expect((await store.get(id))?.events).toHaveLength(events);
      expect(await redis.zcard(keys.emailsByTime())).toBe(0);
      expect(await redis.keys(`${prefix}:audit:*`)).toEqual([]);
    } finally {
      await store.close();
    }
  }, 180_000);
});
