import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/queues/embedded-redis.js';

export interface TestRedis extends EmbeddedRedis {
  /** A fresh hash-tagged prefix, so tests sharing one server never see each other's keys. */
  prefix(): string;
}

/** A real redis-server on loopback, a random port and a temp dir (no persistence). */
export async function startTestRedis(): Promise<TestRedis> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-redis-'));
  const redis = await startEmbeddedRedis({ dir, persistent: false });
  return {
    ...redis,
    prefix: () => `{t${randomBytes(5).toString('hex')}}`,
    async close() {
      await redis.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
