import { z } from 'zod';
import type { Redis } from '../queues/connection.js';
import type { RedisKeys } from '../queues/keys.js';

/**
 * At-most-once claims of side effects (design invariant 6), part of the run store's Redis layout
 * (src/store/run-store.ts re-exports these). A leaf module so that tools (src/tools/effect-once.ts)
 * can claim their effects without importing the planner or the executor.
 *
 * One string key per claim, `{prefix}:idem:{planId}.{stepId}[:{part}]`: `pending` while the
 * effect runs, `done:{json}` once it did (the first result, returned to any repeat).
 */

/** How long a claimed effect is remembered: longer than any retry or replay of a step. */
export const EFFECT_CLAIM_TTL_SECONDS = 90 * 24 * 3600;

type ClaimDeps = { redis: Redis; keys: RedisKeys };

const DONE = 'done:';

/** What Redis holds for a claim: running, or done with its first result (JSON text). */
const StoredClaim = z.union([z.literal('pending'), z.string().startsWith(DONE)]);

/** The claim's state as the claimer sees it. */
export type EffectClaim = { status: 'claimed' } | { status: 'pending' } | { status: 'done'; result: unknown };

/**
 * Claims an effect before acting: first writer wins. A claim already held answers `pending` (an
 * earlier attempt stopped mid-effect, or runs now) or `done` with its recorded result.
 */
export async function claimEffect(deps: ClaimDeps, claimKey: string): Promise<EffectClaim> {
  const key = deps.keys.idempotency(claimKey);
  if ((await deps.redis.set(key, 'pending', 'EX', EFFECT_CLAIM_TTL_SECONDS, 'NX')) !== null) return { status: 'claimed' };
  const parsed = StoredClaim.safeParse(await deps.redis.get(key));
  if (parsed.success && parsed.data.startsWith(DONE)) return { status: 'done', result: JSON.parse(parsed.data.slice(DONE.length)) as unknown };
  return { status: 'pending' };
}

/** Records the effect's result: repeats of the step get it back instead of acting again. */
export async function recordEffectDone(deps: ClaimDeps, claimKey: string, result: unknown): Promise<void> {
  await deps.redis.set(deps.keys.idempotency(claimKey), `${DONE}${JSON.stringify(result)}`, 'EX', EFFECT_CLAIM_TTL_SECONDS);
}

/** Releases a claim whose effect provably did not happen, so a retry may act. */
export async function releaseEffect(deps: ClaimDeps, claimKey: string): Promise<void> {
  await deps.redis.del(deps.keys.idempotency(claimKey));
}
