import { createHmac, randomBytes } from 'node:crypto';
import { MailroomError } from '../kernel/errors.js';
import type { Redis } from '../queues/connection.js';
import type { RedisKeys } from '../queues/keys.js';

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

/**
 * The Message-ID of a message of ours: a keyed hash of its idempotency key, so a resend would be
 * recognisable, and of this installation's secret, so nobody outside can compute it. Plan ids,
 * and so idempotency keys, follow from an email's Message-ID: without the secret, whoever knew a
 * customer's Message-ID could name our reply to it, and a follow-up link, a bounce link or a
 * loop check would believe them.
 */
export function outboundMessageId(secret: string, idempotencyKey: string, mailbox: string): string {
  const mac = createHmac('sha256', secret).update(idempotencyKey).digest('hex').slice(0, 32);
  return `<mr.${mac}@${mailbox.slice(mailbox.lastIndexOf('@') + 1)}>`;
}

const secrets = new WeakMap<Redis, Promise<string>>();

/**
 * This installation's Message-ID secret: 256 random bits made once (`SET NX`) by whichever process
 * needs it first and kept in Redis, so every process and every machine mints the same id for one
 * message; read once per connection.
 */
export function messageIdSecret(redis: Redis, keys: Pick<RedisKeys, 'mintSecret'>): Promise<string> {
  let secret = secrets.get(redis);
  if (!secret) {
    secret = (async () => {
      await redis.set(keys.mintSecret(), randomBytes(32).toString('hex'), 'NX');
      const value = await redis.get(keys.mintSecret());
      if (!value) throw new MailroomError('REDIS_UNREACHABLE', 'the Message-ID secret could not be read back from Redis');
      return value;
    })();
    // A failed read is not remembered: the next message tries again.
    secret.catch(() => secrets.delete(redis));
    secrets.set(redis, secret);
  }
  return secret;
}

/** The Message-ID of the message sent under `idempotencyKey` (see {@link outboundMessageId}). */
export async function mintedMessageId(
  deps: { redis: Redis; keys: Pick<RedisKeys, 'mintSecret'>; config: { mailbox: { address: string } } },
  idempotencyKey: string,
): Promise<string> {
  return outboundMessageId(await messageIdSecret(deps.redis, deps.keys), idempotencyKey, deps.config.mailbox.address);
}

/** Only these SMTP failures prove the message was not accepted; anything else may have gone out. */
export function mailNotDelivered(err: unknown): boolean {
  // src/mail/mailer.ts sorts SMTP failures by what they prove; these two prove nothing left.
  return err instanceof MailroomError && (err.code === 'SMTP_REJECTED' || err.code === 'SMTP_TRANSIENT');
}
