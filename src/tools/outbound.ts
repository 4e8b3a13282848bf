import { z } from 'zod';
import { MailroomError } from '../errors.js';
import { effectOnce } from './effect-once.js';
import type { OutboundMail } from './mailer.js';
import { replyMessageId } from './send-reply.js';
import type { ToolContext } from './tool.js';

/** Only these SMTP failures prove the message was not accepted; anything else may have gone out. */
export function mailNotDelivered(err: unknown): boolean {
  if (!(err instanceof MailroomError)) return false;
  if (err.code === 'SMTP_REJECTED') return true;
  const cause = err.cause;
  if (typeof cause !== 'object' || cause === null) return false;
  if ('responseCode' in cause && typeof cause.responseCode === 'number') return true;
  return 'code' in cause && (cause.code === 'ECONNREFUSED' || cause.code === 'ECONNECTION');
}

const Sent = z.object({ messageId: z.string() }).strict();

/**
 * Sends one message that is not a reply (a forward to a team, an escalation notice, an approved
 * outbound email) at most once: claimed in Redis before sending, with a Message-ID derived from
 * the idempotency key so a resend would be recognisable.
 */
export async function sendMailOnce(
  ctx: ToolContext,
  mail: Omit<OutboundMail, 'messageId' | 'from' | 'headers'>,
  part?: string,
): Promise<{ messageId: string; duplicate: boolean }> {
  const key = part ? `${ctx.idempotencyKey}:${part}` : ctx.idempotencyKey;
  const messageId = replyMessageId(key, ctx.config.mailbox.address);
  const { value, duplicate } = await effectOnce(ctx, { part, result: Sent, resumable: false, notDone: mailNotDelivered }, async () => {
    await ctx.mailer.send({
      ...mail,
      messageId,
      from: { name: ctx.config.mailbox.name, address: ctx.config.mailbox.address },
      // Marks our own mail, so a bounce or an auto-reply to it is recognised as robot mail.
      headers: { 'Auto-Submitted': 'auto-generated', 'X-Mailroom-Id': key },
    });
    return { messageId };
  });
  return { messageId: value.messageId, duplicate };
}

/** A header-safe one-line subject. */
export function oneLine(text: string, max = 200): string {
  return text.replace(/[\r\n\t]+/g, ' ').trim().slice(0, max);
}
