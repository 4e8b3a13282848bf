import { z } from 'zod';
import type { AppContext } from '../services/services.js';
import { EmailId, PlanId } from '../kernel/ids.js';
import { ShownEffect } from '../queues/approval-job.js';

/**
 * A parked plan's review as Mailroom keeps it, where no dashboard can write: what the reviewer
 * is shown, the digest of it, and (once decided) the verdict and who gave it. Approval reads this
 * record and the stored plan, never the approval job's data.
 */
export const ReviewRecord = z
  .object({
    emailId: EmailId,
    planId: PlanId,
    /** One more each time this plan parks; a decision names the park it decides. */
    seq: z.number().int().min(1),
    resumeAt: z.number().int().min(0),
    reasons: z.array(z.string()),
    parkedAt: z.string(),
    deadline: z.string(),
    effects: z.array(ShownEffect),
    /** Digest per effect step, and of them all. */
    effectDigests: z.record(z.string(), z.string()),
    digest: z.string(),
    registryVersion: z.string(),
    /** The category and account, for notifications (closed vocabulary and ids only). */
    category: z.string(),
    account: z.string().nullable(),
    title: z.string(),
  })
  .strict();
export type ReviewRecord = z.infer<typeof ReviewRecord>;

export const ReviewStatus = z.enum(['pending', 'approved', 'rejected', 'escalated']);
export type ReviewStatus = z.infer<typeof ReviewStatus>;

export interface ReviewState {
  record: ReviewRecord;
  status: ReviewStatus;
  decidedBy: string | null;
  decidedAt: string | null;
}

/**
 * Claims the decision on one park of a plan: only the first of concurrent approvals, rejections
 * and deadline escalations wins. ARGV: seq, new status, who, when, reason.
 */
const CLAIM = `
if redis.call('HGET', KEYS[1], 'status') ~= 'pending' then return 0 end
if redis.call('HGET', KEYS[1], 'seq') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'decidedBy', ARGV[3], 'decidedAt', ARGV[4], 'reason', ARGV[5])
return 1`;

type Ctx = Pick<AppContext, 'redis' | 'keys' | 'config'>;

/** The next park number of a plan (1 for its first park). */
export async function nextReviewSeq(app: Ctx, planId: PlanId): Promise<number> {
  return app.redis.hincrby(app.keys.review(planId), 'seq', 1);
}

/** Stores what a reviewer will be shown, as a fresh pending review. */
export async function writeReview(app: Ctx, record: ReviewRecord): Promise<void> {
  const key = app.keys.review(record.planId);
  await app.redis
    .multi()
    .hdel(key, 'decidedBy', 'decidedAt', 'reason')
    .hset(key, { record: JSON.stringify(record), status: 'pending', seq: String(record.seq) })
    .expire(key, app.config.contentTtlSeconds)
    .exec();
}

/** The review of a plan, or null when it never parked (or the record expired). */
export async function readReview(app: Pick<AppContext, 'redis' | 'keys'>, planId: PlanId): Promise<ReviewState | null> {
  const h = await app.redis.hgetall(app.keys.review(planId));
  if (!h.record) return null;
  const record = ReviewRecord.safeParse(JSON.parse(h.record));
  const status = ReviewStatus.safeParse(h.status);
  if (!record.success || !status.success) return null;
  return { record: record.data, status: status.data, decidedBy: h.decidedBy ?? null, decidedAt: h.decidedAt ?? null };
}

/** True when this call made the decision; false when someone (or the deadline) already had. */
export async function claimDecision(
  app: Pick<AppContext, 'redis' | 'keys' | 'clock'>,
  review: ReviewRecord,
  status: Exclude<ReviewStatus, 'pending'>,
  by: string,
  reason = '',
): Promise<boolean> {
  const res = await app.redis.eval(CLAIM, 1, app.keys.review(review.planId), String(review.seq), status, by, app.clock().toISOString(), reason);
  return res === 1;
}
