import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Redis } from '../queues/connection.js';
import type { RedisKeys } from '../queues/keys.js';

/** Where catch-up resumes in one folder: the UIDVALIDITY the UIDs belong to and the last handled UID. */
export const ImapCheckpoint = z.object({ uidValidity: z.string().regex(/^\d+$/), lastUid: z.coerce.number().int().min(0) });
export type ImapCheckpoint = z.infer<typeof ImapCheckpoint>;

export interface CheckpointStore {
  load(): Promise<ImapCheckpoint | null>;
  save(cp: ImapCheckpoint): Promise<void>;
}

export function checkpointStore(redis: Redis, keys: RedisKeys, account: string, folder: string): CheckpointStore {
  const key = keys.imapCheckpoint(account, folder);
  return {
    async load() {
      const parsed = ImapCheckpoint.safeParse(await redis.hgetall(key));
      return parsed.success ? parsed.data : null;
    },
    async save(cp) {
      await redis.hset(key, { uidValidity: cp.uidValidity, lastUid: String(cp.lastUid) });
    },
  };
}

const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * One watcher per folder across every process: several `imap`-role processes against one Redis
 * stand by for each other instead of fetching the same mail twice.
 */
export interface Lease {
  /** Takes the lease if free or renews it if ours; false while another process holds it. */
  hold(): Promise<boolean>;
  release(): Promise<void>;
}

export function folderLease(redis: Redis, key: string, ttlMs: number): Lease {
  const token = randomBytes(8).toString('hex');
  return {
    async hold() {
      if ((await redis.eval(RENEW, 1, key, token, String(ttlMs))) === 1) return true;
      return (await redis.set(key, token, 'PX', ttlMs, 'NX')) === 'OK';
    },
    async release() {
      await redis.eval(RELEASE, 1, key, token);
    },
  };
}
