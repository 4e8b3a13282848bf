import { hash, randomFillSync } from 'node:crypto';
import { z } from 'zod';
import { memoize } from './memo.js';

/**
 * Branded identifiers. A brand makes it a compile error to pass one kind of id (or raw text) where
 * another is expected; in particular the planner can hold an `UntrustedRef` but never its content.
 */
export const EmailId = z.string().regex(/^em_[a-f0-9]{16}$/).brand<'EmailId'>();
export type EmailId = z.infer<typeof EmailId>;

export const PlanId = z.string().regex(/^pl_[a-f0-9]{16}$/).brand<'PlanId'>();
export type PlanId = z.infer<typeof PlanId>;

/**
 * A case: the emails of one customer's conversation with us (the first email and its follow-ups).
 * Minted by Mailroom from the case's first email; never read from a message.
 */
export const CaseId = z.string().regex(/^cs_[a-f0-9]{16}$/).brand<'CaseId'>();
export type CaseId = z.infer<typeof CaseId>;

/** An opaque reference to untrusted content stored in Redis; only tools dereference it. */
export const ANY_REF_PATTERN = /^ur_[a-z]+_[a-f0-9]{16,32}$/;
export const UntrustedRef = z.string().regex(ANY_REF_PATTERN).brand<'UntrustedRef'>();
export type UntrustedRef = z.infer<typeof UntrustedRef>;

/**
 * What a ref points at: the raw message, the parsed email, a draft reply, a reader's summary. The
 * kind is part of the ref's text and of its type, so a summary cannot be passed where a draft is
 * expected — not by a plan (the validator compares the kinds in the schemas' patterns), not at run
 * time (the pattern is checked again), not in our own code (the brand differs per kind).
 */
/** `message`: the text of a message shadow mode would have sent (recorded, never sent, never a tool input). */
export const RefKind = z.enum(['raw', 'content', 'draft', 'summary', 'message']);
export type RefKind = z.infer<typeof RefKind>;

/** A ref of one kind: an `UntrustedRef` that also carries its kind's brand. */
export type RefOf<K extends RefKind> = UntrustedRef & z.$brand<`ref:${K}`>;

/** The pattern of a ref of `kind`; the validator and the planner schema read the kind back from it. */
export function refPattern(kind: RefKind): RegExp {
  return new RegExp(`^ur_${kind}_[a-f0-9]{16,32}$`);
}

const refSchema = (pattern: RegExp) => z.string().regex(pattern).brand<'UntrustedRef'>();

/** One schema (and one compiled pattern) per kind: building a zod schema costs more than parsing with it. */
const refEntry = memoize((kind: RefKind) => {
  const pattern = refPattern(kind);
  return { schema: refSchema(pattern), pattern };
});

/** The schema of a ref of one kind: the kind is checked by its regex and branded in its type. */
export function refOf<K extends RefKind>(kind: K): z.ZodType<RefOf<K>, string> {
  // zod cannot brand with a key that is still generic here; the kind is checked by the regex, and
  // this one assertion gives the value the brand the regex proves.
  return refEntry(kind).schema as unknown as z.ZodType<RefOf<K>, string>;
}

/** The kind a pattern (from a schema's JSON form) admits, or null when it is not a ref pattern. */
export function refKindsOfPattern(pattern: string): RefKind[] {
  // An untyped UntrustedRef admits every kind; typed refs name theirs.
  if (pattern === ANY_REF_PATTERN.source) return [...RefKind.options];
  return RefKind.options.filter((k) => refPattern(k).source === pattern);
}

/** The kind of a ref value, read from its text; null for anything that is not a well-formed ref. */
export function refKindOf(value: unknown): RefKind | null {
  if (typeof value !== 'string') return null;
  return RefKind.options.find((k) => refEntry(k).pattern.test(value)) ?? null;
}

/** An email's untrusted content, stored once (`emailRef` wherever it is held, `{{email.ref}}` in a plan; `ur_content_…` as text). */
export const EmailRef = refOf('content');
export type EmailRef = z.infer<typeof EmailRef>;
export const DraftRef = refOf('draft');
export type DraftRef = z.infer<typeof DraftRef>;
export const SummaryRef = refOf('summary');
export type SummaryRef = z.infer<typeof SummaryRef>;
export const MessageRef = refOf('message');
export type MessageRef = z.infer<typeof MessageRef>;

export function sha256Hex(input: string | Buffer): string {
  // One-shot: no Hash object per call (ids are hashed several times an email).
  return hash('sha256', input, 'hex');
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

/** A case is named after the email that opened it, so triaging that email again finds the same case. */
export function caseIdFor(firstEmailId: EmailId): CaseId {
  return CaseId.parse(`cs_${sha256Hex(`case\n${firstEmailId}`).slice(0, 16)}`);
}

/** Random bytes drawn from the OS a pool at a time: one system call serves 341 refs. */
const refPool = Buffer.alloc(12 * 341);
let refPoolAt = refPool.length;

/**
 * A fresh ref: 24 hex digits (96 random bits), as refs have always been. Taken from a pool filled
 * a batch at a time, since `randomBytes` per ref went to OpenSSL each time; not 32 digits of a
 * UUID, since every ref is stored several times an email (keys, job data, trail) and a backlog
 * pays for each byte.
 */
export function newUntrustedRef<K extends RefKind>(kind: K): RefOf<K> {
  if (refPoolAt + 12 > refPool.length) {
    randomFillSync(refPool);
    refPoolAt = 0;
  }
  const hex = refPool.toString('hex', refPoolAt, refPoolAt + 12);
  refPoolAt += 12;
  return refOf(kind).parse(`ur_${kind}_${hex}`);
}
