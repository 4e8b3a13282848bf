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
