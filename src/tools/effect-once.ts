import type { z } from 'zod';
import { MailroomError } from '../kernel/errors.js';
import { claimEffect, recordEffectDone, releaseEffect } from '../store/effect-claims.js';
import type { ToolContext } from './tool.js';

export interface EffectOptions<T> {
  /** Which effect of the step this is, when a step has more than one (e.g. `webhook`, `mail`). */
  part?: string;
  /** How the result is stored, so a repeated step answers with the first result. */
  result: z.ZodType<T>;
  /**
   * True when a half-finished earlier attempt may simply be repeated because the receiver
   * deduplicates by our idempotency key (a webhook with an `Idempotency-Key` header). False for
   * mail: nobody deduplicates a person's inbox, so a half-finished send needs a human.
   */
  resumable: boolean;
  /** True when an error proves the effect did not happen, so the claim is released for a retry. */
  notDone: (err: unknown) => boolean;
}

/**
 * Runs a side effect at most once per idempotency key (plan id + step id): the claim is recorded
 * in the run store (src/store/effect-claims.ts) before acting, and the result after. A repeated
 * step gets the first result back with `duplicate: true`.
 */
export async function effectOnce<T>(
  ctx: Pick<ToolContext, 'redis' | 'keys' | 'idempotencyKey'>,
  options: EffectOptions<T>,
  act: () => Promise<T>,
): Promise<{ value: T; duplicate: boolean }> {
  const claimKey = options.part ? `${ctx.idempotencyKey}:${options.part}` : ctx.idempotencyKey;
  const claim = await claimEffect(ctx, claimKey);
  if (claim.status === 'done') return { value: options.result.parse(claim.result), duplicate: true };
  if (claim.status === 'pending' && !options.resumable) {
    throw new MailroomError('DELIVERY_UNKNOWN', 'an earlier attempt of this step stopped mid-effect; a human must check');
  }
  let value: T;
  try {
    value = await act();
  } catch (err) {
    if (options.notDone(err)) await releaseEffect(ctx, claimKey);
    throw err;
  }
  await recordEffectDone(ctx, claimKey, value);
  return { value, duplicate: false };
}
