/**
 * The outbound index: every reply we send, by its Message-ID, so that a bounce naming one links
 * back to the email we were answering (src/ingest/bounces.ts).
 */
import { z } from 'zod';
import { EmailId, PlanId } from '../kernel/ids.js';
import type { Redis } from '../queues/connection.js';
import type { RedisKeys } from '../queues/keys.js';

/** What the outbound index holds per Message-ID we sent. */
export const OutboundRecord = z
  .object({ emailId: EmailId, planId: PlanId, stepId: z.string().max(64), at: z.string() })
  .strict();
export type OutboundRecord = z.infer<typeof OutboundRecord>;

/** Bounces usually arrive within minutes; delayed-delivery reports within about five days. */
export const OUTBOUND_INDEX_TTL_SECONDS = 30 * 24 * 3600;

/** Records that `messageId` is our reply for an email. Call before sending, so no bounce can beat it. */
export async function recordOutbound(
  redis: Redis,
  keys: RedisKeys,
  messageId: string,
  record: OutboundRecord,
): Promise<void> {
  await redis.set(
    keys.outbound(messageId),
    JSON.stringify(OutboundRecord.parse(record)),
    'EX',
    OUTBOUND_INDEX_TTL_SECONDS,
  );
}

export async function lookupOutbound(
  redis: Redis,
  keys: RedisKeys,
  messageId: string,
): Promise<OutboundRecord | null> {
  const raw = await redis.get(keys.outbound(messageId));
  if (raw === null) return null;
  const parsed = OutboundRecord.safeParse(JSON.parse(raw));
  return parsed.success ? parsed.data : null;
}
