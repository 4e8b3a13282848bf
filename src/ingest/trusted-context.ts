import { z } from 'zod';
import { EmailId, UntrustedRef } from '../ids.js';
import { AutoKind } from './robot-detector.js';

/** How a sender address was established. Only a verified sender may receive an automatic reply. */
export const Sender = z.discriminatedUnion('verified', [
  z.object({
    verified: z.literal(true),
    address: z.string().email(),
    method: z.enum(['dmarc', 'dkim', 'trusted-sender', 'trusted-mailbox']),
  }),
  z.object({ verified: z.literal(false), reason: z.string().max(80) }),
]);
export type Sender = z.infer<typeof Sender>;

/** The customer account looked up from the verified address only. */
export const Account = z.object({
  id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  tier: z.enum(['free', 'pro', 'enterprise']),
  openTickets: z.number().int().min(0),
});
export type Account = z.infer<typeof Account>;

export const CategorySource = z.enum(['route', 'classifier']);
export const Category = z.object({
  name: z.string().regex(/^[a-z][a-z0-9_]{0,39}$/),
  /** `classifier` categories are attacker-influenceable; policy must be safe for all of them. */
  source: CategorySource,
});
export type Category = z.infer<typeof Category>;


/**
 * Everything the system itself established about an email. No field here holds text a sender
 * wrote (subject, body, display name, file names are absent), but some hold values a verified
 * sender chose (its address, MIME types): tools get them at run time through placeholders, and
 * the planner sees only its closed-vocabulary `PlannerView` (src/planner/planner-view.ts).
 */
export const TrustedContext = z
  .object({
    emailId: EmailId,
    mailbox: z.string().email(),
    folder: z.string().max(200).nullable(),
    uid: z.number().int().positive().nullable(),
    sizeBytes: z.number().int().min(0),
    receivedAt: z.string().datetime(),
    sender: Sender,
    account: Account.nullable(),
    category: Category,
    attachments: z.object({
      count: z.number().int().min(0),
      /** MIME types, normalised to `type/subtype` and restricted to that syntax. */
      types: z.array(z.string().regex(/^[a-z0-9.+-]+\/[a-z0-9.+-]+$/)).max(50),
    }),
    auto: z.object({ kind: AutoKind, reason: z.string().max(80) }),
  })
  .strict();
export type TrustedContext = z.infer<typeof TrustedContext>;

/** Where an email came from; trusted (set by our own source code). */
export const SourceInfo = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('file'), path: z.string() }),
  z.object({
    kind: z.literal('imap'),
    account: z.string(),
    folder: z.string(),
    uid: z.number().int().positive(),
    uidValidity: z.string(),
  }),
]);
export type SourceInfo = z.infer<typeof SourceInfo>;

/**
 * The untrusted half of an email, stored once in Redis under an `UntrustedRef` and read only by
 * tools (sandboxed readers, send_reply's threading). Never part of job data or planner input.
 */
export const UntrustedContent = z.object({
  messageId: z.string().max(998).nullable(),
  references: z.array(z.string().max(998)).max(100),
  subject: z.string(),
  fromDisplayName: z.string(),
  fromAddress: z.string().nullable(),
  replyTo: z.string().nullable(),
  text: z.string(),
  html: z.string().nullable(),
  attachments: z.array(z.object({ filename: z.string(), contentType: z.string(), size: z.number() })),
});
export type UntrustedContent = z.infer<typeof UntrustedContent>;

export { UntrustedRef };
