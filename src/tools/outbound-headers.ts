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
