import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';

/**
 * Branded identifiers. A brand makes it a compile error to pass one kind of id (or raw text) where
 * another is expected; in particular the planner can hold an `UntrustedRef` but never its content.
 */
export const EmailId = z.string().regex(/^em_[a-f0-9]{16}$/).brand<'EmailId'>();
export type EmailId = z.infer<typeof EmailId>;

export const PlanId = z.string().regex(/^pl_[a-f0-9]{16}$/).brand<'PlanId'>();
export type PlanId = z.infer<typeof PlanId>;

/** An opaque reference to untrusted content stored in Redis; only tools dereference it. */
export const UntrustedRef = z.string().regex(/^ur_[a-z]+_[a-f0-9]{16,32}$/).brand<'UntrustedRef'>();
export type UntrustedRef = z.infer<typeof UntrustedRef>;

export function sha256Hex(input: string | Buffer): string {
  return createHash('sha256').update(input).digest('hex');
}

/** The email id is derived from where the mail arrived and what it is, so re-ingesting dedups. */
export function emailIdFor(mailbox: string, messageKey: string): EmailId {
  return EmailId.parse(`em_${sha256Hex(`${mailbox.toLowerCase()}\n${messageKey}`).slice(0, 16)}`);
}

/**
 * A plan id is derived from the email and the plan's generation (0, then one per replan), so a
 * re-delivered plan job finds the plan it already made instead of making a second one.
 */
export function planIdFor(emailId: EmailId, generation: number): PlanId {
  return PlanId.parse(`pl_${sha256Hex(`${emailId}\n${generation}`).slice(0, 16)}`);
}

export function newUntrustedRef(kind: 'raw' | 'content' | 'draft' | 'summary'): UntrustedRef {
  return UntrustedRef.parse(`ur_${kind}_${randomBytes(12).toString('hex')}`);
}
