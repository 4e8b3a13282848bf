import { MailroomError } from '../errors.js';
import { sha256Hex } from '../ids.js';

/**
 * Headers every automatic message of ours carries, so that well-behaved software (RFC 3834)
 * does not answer it and our own robot detection recognises it if it comes back.
 *
 * - `Auto-Submitted: auto-replied` for replies to a message, `auto-generated` for notifications
 *   Mailroom sends on its own initiative (RFC 3834 §5).
 * - `X-Mailroom-Id`: the idempotency key; `detectRobot` treats any message carrying it as a loop.
 *
 * The envelope sender stays our mailbox, not the null sender RFC 3834 §3.3 suggests by default:
 * the RFC allows a real return path when the responder wants delivery reports, and we do — they
 * are how a bounce gets linked to the email we answered (src/ingest/bounces.ts).
 */
export function automaticHeaders(kind: 'reply' | 'notification', idempotencyKey: string): Record<string, string> {
  return {
    'Auto-Submitted': kind === 'reply' ? 'auto-replied' : 'auto-generated',
    'X-Mailroom-Id': idempotencyKey,
  };
}

/** RFC 5322 `atext` (§3.2.3) plus `.`: the characters of a msg-id's left side and dot-atom right side. */
const ID_TEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]";
/** RFC 5322 §3.6.4 `msg-id`: `<` id-left `@` (dot-atom-text / no-fold-literal) `>`, ASCII only. */
const MSG_ID = new RegExp(`^<${ID_TEXT}{1,450}@(?:${ID_TEXT}{1,450}|\\[[\\x21-\\x5a\\x5e-\\x7e]{0,450}\\])>$`);
/**
 * RFC 5322 `unstructured` text as RFC 6532 widens it to UTF-8: printable ASCII and space, and
 * beyond ASCII only letters, marks, numbers, punctuation, symbols and space separators. Admitted by
 * class, so C0, DEL, C1 (U+0085 NEL among them), U+2028/U+2029, bidi and other format characters,
 * private-use and unassigned code points are all out without being listed.
 */
const UNSTRUCTURED = /^[\x20-\x7e\p{L}\p{M}\p{N}\p{P}\p{S}\p{Zs}]{1,998}$/u;

/** What kind of header value is being copied, which decides the characters it may hold. */
export type CopiedHeaderKind = 'msg-id' | 'unstructured';

/**
 * The one gate for a header value Mailroom copies from an email into mail it sends (Message-ID into
 * In-Reply-To and References, text into a Subject): the value itself when every character is one
 * RFC 5322 admits in that kind of header, otherwise `null`, and the caller leaves it out. A value
 * is never repaired, because a repaired id would thread to a message that does not exist.
 */
export function copyableHeader(kind: CopiedHeaderKind, value: string): string | null {
  if (value.length > 998) return null;
  return (kind === 'msg-id' ? MSG_ID : UNSTRUCTURED).test(value) ? value : null;
}

/** The Message-ID of a message of ours, derived from its idempotency key so a resend would be recognisable. */
export function outboundMessageId(idempotencyKey: string, mailbox: string): string {
  return `<mr.${sha256Hex(idempotencyKey).slice(0, 24)}@${mailbox.slice(mailbox.lastIndexOf('@') + 1)}>`;
}

/** Only these SMTP failures prove the message was not accepted; anything else may have gone out. */
export function mailNotDelivered(err: unknown): boolean {
  // src/tools/mailer.ts sorts SMTP failures by what they prove; these two prove nothing left.
  return err instanceof MailroomError && (err.code === 'SMTP_REJECTED' || err.code === 'SMTP_TRANSIENT');
}
