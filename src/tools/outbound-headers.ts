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

/** The Message-ID of a message of ours, derived from its idempotency key so a resend would be recognisable. */
export function outboundMessageId(idempotencyKey: string, mailbox: string): string {
  return `<mr.${sha256Hex(idempotencyKey).slice(0, 24)}@${mailbox.slice(mailbox.lastIndexOf('@') + 1)}>`;
}

/** Only these SMTP failures prove the message was not accepted; anything else may have gone out. */
export function mailNotDelivered(err: unknown): boolean {
  if (!(err instanceof MailroomError)) return false;
  if (err.code === 'SMTP_REJECTED') return true;
  const cause = err.cause;
  if (typeof cause !== 'object' || cause === null) return false;
  if ('responseCode' in cause && typeof cause.responseCode === 'number') return true;
  return 'code' in cause && (cause.code === 'ECONNREFUSED' || cause.code === 'ECONNECTION');
}
