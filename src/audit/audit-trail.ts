import { z } from 'zod';
import type { EmailId } from '../kernel/ids.js';
import type { Redis } from '../queues/connection.js';
import type { RedisKeys } from '../queues/keys.js';

export const AuditType = z.enum([
  'ingested',
  'duplicate',
  'parsed',
  'sender_verified',
  'robot',
  /** Which case the email belongs to: a follow-up of an earlier one (by our record), or a new case, with why not linked. */
  'case',
  /** On the bounce itself: which of our replies (and so which emails) it reports on. */
  'bounce_linked',
  /** On the email whose reply bounced. */
  'bounced',
  'classified',
  'triaged',
  'planned',
  'validated',
  'gated',
  /** The autonomy level of each write and external step of a plan, with the rule and limit behind it. */
  'autonomy',
  'parked',
  'approved',
  'rejected',
  /** The reviewers were told a plan waits (webhook), or a try to tell them failed. */
  'notified',
  'notify_failed',
  'step_started',
  'step_finished',
  /** A step attempt failed with a retryable error (SMTP 4xx, a relay down): the cause, and when it runs again. */
  'step_retrying',
  'step_failed',
  'replanned',
  'completed',
  'escalated',
  'quarantined',
  /** Someone removed this email's dead letter (`mailroom dead-letters discard`): who, and which. */
  'dead_letter_discarded',
  /** Someone ran this email again from the stage that failed (`mailroom dead-letters requeue`): who, and which. */
  'dead_letter_requeued',
  /** Shadow mode: what a write or external step would have done (tool, control args, message refs). */
  'would_do',
  /** Shadow mode: the email's end, with what a live run would have done (`complete`, `park`, `escalate`). */
  'shadowed',
]);
export type AuditType = z.infer<typeof AuditType>;

/**
 * One entry of an email's append-only trail. `data` holds ids, tool names, control arguments,
 * codes and trusted facts; never email text.
 */
export const AuditEvent = z.object({
  ts: z.string(),
  type: AuditType,
  actor: z.string(),
  data: z.record(z.string(), z.unknown()),
});
export type AuditEvent = z.infer<typeof AuditEvent>;

/** An event to append, before it is stamped with the time. */
export interface AuditEntry {
  type: AuditType;
  actor: string;
  data?: Record<string, unknown>;
}

export interface AuditTrail {
  append(emailId: EmailId, type: AuditType, actor: string, data?: Record<string, unknown>): Promise<void>;
  /** Appends the events of one transition in order, in one write (one RPUSH). */
  appendAll(emailId: EmailId, entries: readonly AuditEntry[]): Promise<void>;
  read(emailId: EmailId): Promise<AuditEvent[]>;
}

export function createAuditTrail(redis: Redis, keys: RedisKeys, clock: () => Date = () => new Date()): AuditTrail {
  return {
    async append(emailId, type, actor, data = {}) {
      const event: AuditEvent = { ts: clock().toISOString(), type, actor, data };
      await redis.rpush(keys.audit(emailId), JSON.stringify(event));
    },
    async appendAll(emailId, entries) {
      if (entries.length === 0) return;
      const ts = clock().toISOString();
      await redis.rpush(keys.audit(emailId), ...entries.map(({ type, actor, data = {} }) => JSON.stringify({ ts, type, actor, data } satisfies AuditEvent)));
    },
    async read(emailId) {
      const raw = await redis.lrange(keys.audit(emailId), 0, -1);
      return raw.map((line) => AuditEvent.parse(JSON.parse(line)));
    },
  };
}
