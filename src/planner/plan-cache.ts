import { sha256Hex } from '../kernel/ids.js';
import type { Redis } from '../queues/connection.js';
import type { RedisKeys } from '../queues/keys.js';
import { Plan } from '../model/plan.js';
import { PlannerView } from './planner-view.js';

/**
 * The cache key of a plan: exactly the planner's view, the registry version and the prompt
 * version. The view is all the planner sees, so two emails share a plan only when the planner
 * could not tell them apart, and a plan written for one email carries nothing another email's
 * sender chose. Addresses, ids and times are not in the view: plans reach them through
 * placeholders resolved at run time.
 */
export function planningKey(view: PlannerView, registryVersion: string, promptVersion: string): string {
  // Parsing rebuilds the object in the schema's key order (and rejects extra keys), so equal
  // views give equal keys whatever order their fields were written in.
  const parsed = PlannerView.parse(view);
  const canonical = { ...parsed, attachments: { ...parsed.attachments, kinds: [...parsed.attachments.kinds].sort() } };
  return sha256Hex(JSON.stringify({ view: canonical, registryVersion, promptVersion })).slice(0, 32);
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
