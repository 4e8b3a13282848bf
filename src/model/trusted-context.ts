import { z } from 'zod';
import { CaseId, EmailId } from '../kernel/ids.js';

/** What kind of machine (if any) wrote a message. */
export const AutoKind = z.enum(['none', 'autoreply', 'bulk', 'list', 'bounce', 'loop']);
export type AutoKind = z.infer<typeof AutoKind>;

/** How the sender was established, `unverified` included: the one list of these names. */
export const Verification = z.enum(['dmarc', 'dkim', 'trusted-sender', 'trusted-mailbox', 'unverified']);
export type Verification = z.infer<typeof Verification>;
/** How a verified sender was verified. */
export const VerifiedBy = Verification.exclude(['unverified']);
export type VerifiedBy = z.infer<typeof VerifiedBy>;

/** The sender's account tier as policy sees it: `none` when no account was found. */
export const SenderTier = z.enum(['free', 'pro', 'enterprise', 'none']);
export type SenderTier = z.infer<typeof SenderTier>;
/** A customer account's tier: the one list of tiers (the accounts file, the account lookup, the facts). */
export const Tier = SenderTier.exclude(['none']);
export type Tier = z.infer<typeof Tier>;

/** How a sender address was established. Only a verified sender may receive an automatic reply. */
export const Sender = z.discriminatedUnion('verified', [
  z.object({
    verified: z.literal(true),
    address: z.string().email(),
    method: VerifiedBy,
  }),
  z.object({ verified: z.literal(false), reason: z.string().max(80) }),
]);
export type Sender = z.infer<typeof Sender>;

/** The customer account looked up from the verified address only. */
export const Account = z.object({
  id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  tier: Tier,
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
 * What became of the case's previous email, from Mailroom's own records (its ledger state and
 * whether a reply of ours went out): `none` when this email opened the case.
 */
export const CaseOutcome = z.enum([
  'none',
  'open',
  'replied',
  'no_reply',
  'robot',
  'awaiting_human',
  'escalated',
  'rejected',
  'quarantined',
]);
export type CaseOutcome = z.infer<typeof CaseOutcome>;

/**
 * The case an email belongs to, as Mailroom's records (src/store/case-store.ts) say: never text
 * from the email. `followUp` only when the email names, in signed threading headers, a
 * Message-ID we minted for that case, and its verified sender is the case's customer
 * (src/ingest/follow-up-link.ts).
 */
export const CaseFacts = z
  .object({
    id: CaseId,
    followUp: z.boolean(),
    /** Earlier emails of the case (0 for the one that opened it). */
    turns: z.number().int().min(0),
    previous: CaseOutcome,
    /** The case's ticket, opened by create_ticket on an earlier turn (a TicketId). */
    ticketId: z
      .string()
      .regex(/^T-[a-f0-9]{10}$/)
      .nullable(),
    /** Why the email is not a follow-up although it names an earlier message (our words, for the audit). */
    notLinked: z.string().max(80).nullable(),
  })
  .strict();
export type CaseFacts = z.infer<typeof CaseFacts>;

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
    /** Absent on records triaged before cases existed; such an email counts as opening its own case. */
    case: CaseFacts.optional(),
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
  /** As the sender wrote it (topmost copy): a lookup key for the follow-up link at most, never a fact. */
  inReplyTo: z.string().max(998).nullable().optional(),
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

