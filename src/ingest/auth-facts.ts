import addressparser from 'nodemailer/lib/addressparser';
import { z } from 'zod';
import { IndexedHeader, lastSmtpHop, SmtpHop } from './authentication-results.js';
import { DkimSignatureFacts, readDkimSignatures } from './dkim-signature.js';
import { lowerAscii, unfold } from '../mail/header-syntax.js';

/**
 * The header fields whose text reaches the readers, the category or the reply (what a person's
 * mail client shows, and the MIME headers that decide how the body is read). A verified sender
 * needs each present copy of each to be signed, and none to appear twice.
 */
export const BOUND_HEADERS = ['from', 'to', 'cc', 'subject', 'date', 'message-id', 'mime-version', 'content-type', 'content-transfer-encoding'] as const;
export const BoundHeader = z.enum(BOUND_HEADERS);
export type BoundHeader = z.infer<typeof BoundHeader>;

/**
 * The threading headers a follow-up is linked by (src/ingest/follow-up-link.ts). Not bound for
 * sender verification (unsigned References are common and harmless there), but a follow-up link
 * believes them only when the sender's verified signature covers their one copy each.
 */
export const THREAD_HEADERS = ['in-reply-to', 'references'] as const;
export const ThreadHeader = z.enum(THREAD_HEADERS);
export type ThreadHeader = z.infer<typeof ThreadHeader>;

/** Recipients read from To and Cc; more are not looked at. */
const MAX_RECIPIENTS = 500;

/**
 * What sender verification needs from a message's header block, read in the parse thread so the
 * main thread never parses a sender's addresses or tag lists: numbers, our own parses of header
 * values, and the positions of the trace headers.
 */
export const AuthFacts = z.object({
  /** Mailboxes named by all From header fields together (see countFromMailboxes). */
  fromMailboxes: z.number().int().nonnegative(),
  /** How often each bound header field occurs in the top-level header. */
  counts: z.partialRecord(BoundHeader, z.number().int().nonnegative()),
  /** How often each threading header occurs in the top-level header; absent where not counted (an older parse). */
  threadCounts: z.partialRecord(ThreadHeader, z.number().int().nonnegative()).optional(),
  /** The DKIM-Signature headers, topmost first. */
  signatures: z.array(DkimSignatureFacts),
  /** Addresses in To and Cc, lowercased ASCII. */
  recipients: z.array(z.string().max(998)).max(MAX_RECIPIENTS),
  /** The Date header in ms, when it parses. */
  date: z.number().nullable(),
  /** Authentication-Results values with their positions, topmost first. */
  authResults: z.array(IndexedHeader),
  /** The last SMTP hop (topmost Received with an SMTP `with`). */
  hop: SmtpHop.nullable(),
});
export type AuthFacts = z.infer<typeof AuthFacts>;

const valueOf = (line: string) => line.slice(line.indexOf(':') + 1);

/**
 * How many mailboxes the message's From header fields name together: every From field counts
 * (mailparser keeps only the first), and so does every entry of each, group members and entries
 * without an address included. A sender is verifiable only when this is exactly 1: with two From
 * fields, a group or a second entry, what a person's mail client shows need not be the address
 * that was authenticated.
 */
export function countFromMailboxes(headerLines: ReadonlyArray<{ key: string; line: string }>): number {
  let count = 0;
  for (const h of headerLines) {
    if (h.key !== 'from') continue;
    const entries = addressparser(unfold(valueOf(h.line)));
    if (entries.length === 0) count += 1;
    for (const e of entries) count += 'group' in e && e.group ? Math.max(1, e.group.length) : 1;
  }
  return count;
}

function addressesOf(value: string): string[] {
  return addressparser(unfold(value)).flatMap((e) =>
    'group' in e && e.group ? e.group.flatMap((g) => (g.address ? [g.address] : [])) : e.address ? [e.address] : [],
  );
}

/** Reads the AuthFacts of a parsed header block (`body` is called only when a signature has `l=`). */
export function readAuthFacts(headerLines: ReadonlyArray<{ key: string; line: string }>, body: () => Buffer): AuthFacts {
  const counts: Partial<Record<BoundHeader, number>> = {};
  const threadCounts: Partial<Record<ThreadHeader, number>> = {};
  const authResults: IndexedHeader[] = [];
  const received: IndexedHeader[] = [];
  const signatures: string[] = [];
  const recipients: string[] = [];
  let date: number | null = null;
  headerLines.forEach((h, index) => {
    const key = BoundHeader.safeParse(h.key);
    if (key.success) counts[key.data] = (counts[key.data] ?? 0) + 1;
    const thread = ThreadHeader.safeParse(h.key);
    if (thread.success) threadCounts[thread.data] = (threadCounts[thread.data] ?? 0) + 1;
    if (h.key === 'authentication-results') authResults.push({ index, value: valueOf(h.line).trim() });
    else if (h.key === 'received') received.push({ index, value: valueOf(h.line) });
    else if (h.key === 'dkim-signature') signatures.push(valueOf(h.line));
    else if ((h.key === 'to' || h.key === 'cc') && recipients.length < MAX_RECIPIENTS) {
      for (const a of addressesOf(valueOf(h.line))) if (recipients.length < MAX_RECIPIENTS) recipients.push(lowerAscii(a).slice(0, 998));
    } else if (h.key === 'date' && date === null) {
      const t = Date.parse(unfold(valueOf(h.line)).trim());
      date = Number.isFinite(t) ? t : null;
    }
  });
  return {
    fromMailboxes: countFromMailboxes(headerLines),
    counts,
    threadCounts,
    signatures: readDkimSignatures(signatures, body),
    recipients,
    date,
    authResults,
    hop: lastSmtpHop(received),
  };
}
