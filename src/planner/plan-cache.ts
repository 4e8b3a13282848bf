import { sha256Hex } from '../ids.js';
import type { TrustedContext } from '../ingest/trusted-context.js';
import type { Redis } from '../queues/connection.js';
import type { RedisKeys } from '../queues/keys.js';
import { Plan } from './plan.js';

/**
 * The fields of the context that may change a plan. Ids, addresses, times and sizes do not:
 * plans refer to them through placeholders, so one plan serves every email of the same shape.
 */
export function planningKey(context: TrustedContext, registryVersion: string, promptVersion: string): string {
  const facts = {
    mailbox: context.mailbox,
    folder: context.folder,
    sender: context.sender.verified ? { verified: true, method: context.sender.method } : { verified: false },
    account: context.account ? { tier: context.account.tier, openTickets: Math.min(context.account.openTickets, 3) } : null,
    category: context.category,
    attachments: { any: context.attachments.count > 0, types: [...context.attachments.types].sort() },
    auto: context.auto.kind,
  };
  return sha256Hex(JSON.stringify({ facts, registryVersion, promptVersion })).slice(0, 32);
}

export interface PlanCache {
  get(key: string): Promise<Plan | null>;
  set(key: string, plan: Plan): Promise<void>;
  stats(): Promise<{ hits: number; misses: number }>;
}

export function createPlanCache(redis: Redis, keys: RedisKeys, ttlSeconds = 24 * 3600): PlanCache {
  return {
    async get(key) {
      const raw = await redis.get(keys.planCache(key));
      const parsed = raw ? Plan.safeParse(JSON.parse(raw)) : null;
      await redis.hincrby(keys.stats(), parsed?.success ? 'plan_cache_hits' : 'plan_cache_misses', 1);
      return parsed?.success ? parsed.data : null;
    },
    async set(key, plan) {
      await redis.set(keys.planCache(key), JSON.stringify(plan), 'EX', ttlSeconds);
    },
    async stats() {
      const h = await redis.hgetall(keys.stats());
      return { hits: Number(h.plan_cache_hits ?? 0), misses: Number(h.plan_cache_misses ?? 0) };
    },
  };
}
