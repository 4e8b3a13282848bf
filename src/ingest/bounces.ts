/**
 * Bounces understood: every reply we send is indexed by its Message-ID, and a delivery status
 * notification that names one of those IDs is linked back to the email we were answering.
 *
 * A DSN is unauthenticated: anyone who learns one of our Message-IDs can send one. The link is
 * therefore only a record (audit event, bounce list); it never triggers an action by itself.
 */
import { z } from 'zod';
import type { AuditTrail } from '../audit/audit-trail.js';
import { EmailId } from '../kernel/ids.js';
import type { Logger } from '../kernel/logger.js';
import type { Redis } from '../queues/connection.js';
import type { RedisKeys } from '../queues/keys.js';
import { DsnAction, dsnOutcome, extractBouncedMessageIds } from './dsn-parser.js';
import { lookupOutbound, type OutboundRecord } from '../store/outbound-index.js';

/** One bounce recorded on the email whose reply it reports on. */
export const BounceRecord = z
  .object({
    bounceEmailId: EmailId,
    /** Our Message-ID the DSN names: it matched the index, so it is one we generated. */
    messageId: z.string().max(998),
    /** Parsed from the DSN and restricted to closed formats, so no sender text travels. */
    action: DsnAction.nullable(),
    status: z.string().regex(/^[245]\.\d{1,3}\.\d{1,3}$/).nullable(),
    at: z.string(),
  })
  .strict();
export type BounceRecord = z.infer<typeof BounceRecord>;

/**
 * Bytes of a bounce read to link it. A DSN names the original message in the headers of its
 * second or third part, near the top; whatever original content follows is not needed.
 */
export const MAX_DSN_SCAN_BYTES = 1024 * 1024;

export interface BounceDeps {
  redis: Redis;
  keys: RedisKeys;
  audit: AuditTrail;
  logger: Logger;
  clock: () => Date;
}

/**
 * Links a bounce (already classified `bounce`) to the email(s) whose reply it reports on: a
 * `bounced` event on that email's audit trail and an entry in its bounce list, and a
 * `bounce_linked` event on the bounce's own trail (with no link when it names none of ours).
 * Safe to run again for the same bounce: each original records it once.
 */
export async function linkBounce(deps: BounceDeps, bounceEmailId: EmailId, raw: Buffer): Promise<OutboundRecord[]> {
  // This runs on the event loop: a bounded prefix keeps it short on a 25 MiB "bounce".
  const text = raw.subarray(0, MAX_DSN_SCAN_BYTES).toString('utf8');
  const { action, status } = dsnOutcome(text);
  const linked: Array<OutboundRecord & { messageId: string }> = [];
  for (const messageId of extractBouncedMessageIds(text)) {
    const outbound = await lookupOutbound(deps.redis, deps.keys, messageId);
    if (outbound) linked.push({ ...outbound, messageId });
  }
  const at = deps.clock().toISOString();
  for (const link of linked) {
    const record: BounceRecord = { bounceEmailId, messageId: link.messageId, action, status, at };
    const fresh = await deps.redis.hsetnx(deps.keys.bounces(link.emailId), bounceEmailId, JSON.stringify(record));
    if (fresh === 1) {
      await deps.audit.append(link.emailId, 'bounced', 'ingest', { bounceEmailId, messageId: link.messageId, planId: link.planId, stepId: link.stepId, action, status });
      // Seam: once create_ticket lands (branch `tools`), attach this bounce to the email's ticket here.
    }
  }
  await deps.audit.append(bounceEmailId, 'bounce_linked', 'ingest', {
    linked: linked.map((l) => ({ emailId: l.emailId, messageId: l.messageId })),
    action,
    status,
  });
  deps.logger.info({ emailId: bounceEmailId, linked: linked.map((l) => l.emailId), action, status }, 'bounce recorded');
  return linked;
}

/** The bounces recorded on an email's replies, oldest first. */
export async function readBounces(redis: Redis, keys: RedisKeys, emailId: EmailId): Promise<BounceRecord[]> {
  const all = await redis.hvals(keys.bounces(emailId));
  return all.map((v) => BounceRecord.parse(JSON.parse(v))).sort((a, b) => a.at.localeCompare(b.at));
}
