import { z } from 'zod';
import { effectOnce } from './effect-once.js';
import type { OutboundMail } from '../mail/mailer.js';
import { recordCaseMessage } from '../store/case-store.js';
import { automaticHeaders, mailNotDelivered, mintedMessageId } from './outbound-headers.js';
import type { ToolContext } from './tool.js';

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
  const messageId = await sentMessageId(ctx, part);
  // A team mail about the case is ours too: an answer to it from the customer links to the case.
  const caseFacts = ctx.trusted.case;
  if (caseFacts) await recordCaseMessage(ctx, { caseId: caseFacts.id, emailId: ctx.emailId, messageId, reply: false });
  const { value, duplicate } = await effectOnce(ctx, { part, result: Sent, resumable: false, notDone: mailNotDelivered }, async () => {
    await ctx.mailer.send({
      ...mail,
      messageId,
      from: { name: ctx.config.mailbox.name, address: ctx.config.mailbox.address },
      // Marks our own mail, so a bounce or an auto-reply to it is recognised as robot mail.
      headers: automaticHeaders('notification', key),
    });
    return { messageId };
  });
  return { messageId: value.messageId, duplicate };
}

/** The Message-ID `sendMailOnce` gives the message of this step (and part): known before sending. */
export function sentMessageId(ctx: Pick<ToolContext, 'idempotencyKey' | 'config' | 'redis' | 'keys'>, part?: string): Promise<string> {
  return mintedMessageId(ctx, part ? `${ctx.idempotencyKey}:${part}` : ctx.idempotencyKey);
}
