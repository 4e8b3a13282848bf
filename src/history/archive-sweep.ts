import type { Config } from '../config/config.js';
import type { Logger } from '../kernel/logger.js';
import type { Redis } from '../queues/connection.js';
import type { RedisKeys } from '../queues/keys.js';
import { archiveRested } from './archive.js';
import type { HistoryStore } from './history-store.js';
import { applyRetention, PRUNE_EVERY_MS } from './retention.js';

/** How often the daemon sweeps, and the most emails one sweep moves (so a backlog never stalls a process). */
export const SWEEP_EVERY_MS = 60_000;
export const SWEEP_MAX_EMAILS = 5_000;

/**
 * The daemon's continuous archive: every `everyMs`, one bounded `archiveRested` of the emails at
 * rest for `retention.archiveAfter`, and once a day (first at the first sweep) retention
 * (`applyRetention`). A sweep never overlaps the last; a failed one is logged (codes and counts
 * only) and the next tries again. `close()` stops the timer and waits for a sweep under way.
 */
export function startArchiveSweep(
  deps: { redis: Redis; keys: RedisKeys; store: HistoryStore; logger: Pick<Logger, 'info' | 'warn'>; config: Pick<Config, 'retention' | 'contentTtlSeconds'> },
  options: { everyMs?: number; maxEmails?: number; clock?: () => Date } = {},
): { close(): Promise<void> } {
  const clock = options.clock ?? (() => new Date());
  const { retention, contentTtlSeconds } = deps.config;
  let running: Promise<void> | null = null;
  let prunedAt = Number.NEGATIVE_INFINITY;
  const once = async () => {
    const now = clock();
    const r = await archiveRested(deps, { olderThanMs: retention.archiveAfterSeconds * 1000, now, maxEmails: options.maxEmails ?? SWEEP_MAX_EMAILS });
    if (r.archived > 0) deps.logger.info({ archived: r.archived, skipped: r.skipped }, 'archived rested emails');
    if (now.getTime() - prunedAt < PRUNE_EVERY_MS) return;
    const pruned = await applyRetention(deps, { historySeconds: retention.historySeconds, contentTtlSeconds }, now);
    prunedAt = now.getTime();
    deps.logger.info({ ...pruned }, 'applied retention');
  };
  const sweep = () => {
    if (running) return;
    running = once()
      .catch((err: unknown) => deps.logger.warn({ err }, 'archive sweep failed; retrying at the next'))
      .finally(() => {
        running = null;
      });
  };
  const timer = setInterval(sweep, options.everyMs ?? SWEEP_EVERY_MS);
  timer.unref();
  return {
    async close() {
      clearInterval(timer);
      await running;
    },
  };
}
