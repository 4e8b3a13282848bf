import type { Config } from '../config/config.js';
import { scanKeys, type Redis } from '../queues/connection.js';
import type { RedisKeys } from '../queues/keys.js';
import type { HistoryStore } from './history-store.js';

/** How often the daemon applies retention. */
export const PRUNE_EVERY_MS = 86_400_000;

export interface RetentionResult {
  /** Emails deleted from the store: their last change is older than `retention.history`. */
  historyDeleted: number;
  /** Keys holding email text or run records whose expiry was brought forward to `retention.content`. */
  contentCapped: number;
}

/**
 * The Redis keys that hold email text or what was made from it (parsed content, readings, drafts,
 * summaries), the run records with the sender's address, plans and their outputs, and reviews.
 * All are written with `contentTtlSeconds`; these patterns find them to shorten it.
 */
function contentPatterns(keys: RedisKeys): string[] {
  return ['content:*', 'ctx:*', 'plan:pl_*', 'review:*'].map((tail) => keys.match(tail));
}

/**
 * Applies retention once: deletes the store's emails whose last change is older than
 * `retention.history`, and caps the time to live of every content key at `contentTtlSeconds`
 * (`EXPIRE … LT`: a key that would expire sooner keeps its expiry), so that shortening
 * `retention.content` reaches what was stored under the longer one. Redis's own expiry does the
 * rest. Scans with `SCAN`, a page at a time.
 */
export async function applyRetention(
  deps: { redis: Redis; keys: RedisKeys; store: Pick<HistoryStore, 'prune'> },
  retention: Pick<Config, 'contentTtlSeconds'> & { historySeconds: number },
  now: Date = new Date(),
): Promise<RetentionResult> {
  const historyDeleted = await deps.store.prune(new Date(now.getTime() - retention.historySeconds * 1000));
  let contentCapped = 0;
  for (const match of contentPatterns(deps.keys)) {
    for await (const found of scanKeys(deps.redis, match)) {
      const pipe = deps.redis.pipeline();
      for (const key of found) pipe.expire(key, retention.contentTtlSeconds, 'LT');
      for (const [err, changed] of (await pipe.exec()) ?? []) if (!err && changed === 1) contentCapped++;
    }
  }
  return { historyDeleted, contentCapped };
}
