import { createHmac } from 'node:crypto';
import { MailroomError } from '../kernel/errors.js';

/** Webhook calls are bounded: a slow receiver must not hold a step worker. */
const WEBHOOK_TIMEOUT_MS = 10_000;

/** The signature header: `sha256=` + hex HMAC-SHA256 of `TIMESTAMP.BODY` under the shared secret. */
export const SIGNATURE_HEADER = 'x-mailroom-signature';
export const TIMESTAMP_HEADER = 'x-mailroom-timestamp';

/** `sha256=…` for a body sent at `timestamp` (seconds): what a receiver recomputes to trust a call. */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * POSTs one JSON event to a configured webhook, with an `Idempotency-Key` header so that the
 * receiver can drop a repeat. 4xx answers (but 408 and 429) are final; anything else may be
 * retried by BullMQ. The URL may hold a secret: it is never logged or put in an error message.
 * With `sign`, the exact body is signed (see {@link webhookSignature}).
 */
export async function postWebhook(
  url: string,
  event: string,
  payload: Record<string, unknown>,
  idempotencyKey: string,
  sign?: { secret: string; now?: Date },
): Promise<void> {
  const body = JSON.stringify({ event, idempotencyKey, ...payload });
  const timestamp = String(Math.floor((sign?.now ?? new Date()).getTime() / 1000));
  const signature: Record<string, string> = sign ? { [TIMESTAMP_HEADER]: timestamp, [SIGNATURE_HEADER]: webhookSignature(sign.secret, timestamp, body) } : {};
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKey, 'user-agent': 'mailroom', ...signature },
      body,
      signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
      redirect: 'error',
    });
  } catch (err) {
    throw new MailroomError('WEBHOOK_FAILED', `the ${event} webhook could not be reached`, { cause: err });
  }
  await res.body?.cancel();
  if (res.ok) return;
  if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
    throw new MailroomError('WEBHOOK_REJECTED', `the ${event} webhook refused the event (HTTP ${res.status})`);
  }
  throw new MailroomError('WEBHOOK_FAILED', `the ${event} webhook failed for now (HTTP ${res.status})`);
}

/** Whether a webhook error proves the receiver did not take the event. */
export function webhookNotDone(err: unknown): boolean {
  return err instanceof MailroomError && err.code === 'WEBHOOK_REJECTED';
}
