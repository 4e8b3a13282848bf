import { z } from 'zod';
import { MailroomError } from '../kernel/errors.js';
import { DraftRef } from '../kernel/ids.js';
import { recordOutbound } from '../store/outbound-index.js';
import { StoredDraft } from './draft-reply.js';
import { disallowedLinks } from './reply-links.js';
import { recordCaseMessage } from '../store/case-store.js';
import { automaticHeaders, copyableHeader, mailNotDelivered, mintedMessageId } from './outbound-headers.js';
import { describeRefusal, reserveReply } from './reply-rate-limit.js';
import { defineTool, type OutboundPreview, type ToolContext } from './tool.js';
import { effectOnce } from './effect-once.js';

/** What a sent reply leaves behind in its idempotency record. */
const Sent = z.object({ messageId: z.string() }).strict();

/**
 * A reply's subject is ours: made from the category (a configured name), never from the email's
 * subject, which the sender wrote. Threading rides on In-Reply-To and References.
 */
export function replySubject(category: string): string {
  const words = category.replace(/[^A-Za-z0-9]+/g, ' ').trim().slice(0, 60);
  return words && words !== 'unknown' ? `Re: your message about ${words}` : 'Re: your message';
}

/**
 * Why a draft may not go out without a human, or null when it may: a suggestion (a model read the
 * email to write it), or any link, address or phone number its trusted inputs do not name.
 */
export function draftRefusal(draft: StoredDraft, approvedBy: string | undefined): string | null {
  if (approvedBy) return null;
  if (draft.origin === 'suggested') return 'the draft is a suggestion written by a model that read the email; a human must approve it';
  if (draft.disallowed.length > 0) return `the draft names ${draft.disallowed.length} link(s), address(es) or phone number(s) its inputs do not`;
  return null;
}

export const sendReply = defineTool({
  name: 'send_reply',
  description:
    'Sends a drafted reply to the verified sender of the email, threaded to it. It has no recipient parameter: it can only answer the verified sender.',
  risk: 'external',
  input: z.object({ draft: DraftRef }).strict(),
  output: z.object({ messageId: z.string(), to: z.string(), duplicate: z.boolean() }).strict(),
  untrustedInputs: ['draft'],
  taintedOutputs: [],
  outputLabel: 'internal',
  audience: 'sender',
  sideEffect: true,
  async run(input, ctx) {
    const { to, subject, text } = await replyMessage(input.draft, ctx);
    const sender = { address: to };
    // Reserved under the idempotency key, so a retry of this step (even after the send) is not
    // counted again; done before the claim, so a refusal leaves nothing to clean up.
    const reservation = await reserveReply(ctx.redis, ctx.keys, {
      idempotencyKey: ctx.idempotencyKey,
      recipient: sender.address,
      caseId: ctx.trusted.case?.id,
      limits: ctx.config.replyLimits,
      nowMs: ctx.clock().getTime(),
    });
    // The limits bound automatic replies; a human who approved this reply (having read why it
    // waited) decided to send it, so it is not parked again on the same limit.
    if (!reservation.ok && !ctx.approvedBy) {
      ctx.logger.info({ limit: reservation.limit, max: reservation.max }, 'reply over a rate limit; parking');
      throw new MailroomError('NEEDS_REVIEW', describeRefusal(reservation));
    }
    const messageId = await mintedMessageId(ctx, ctx.idempotencyKey);
    // Indexed before sending, so even a bounce that arrives before this step finishes is linked,
    // and a customer's answer to it finds its case.
    await recordOutbound(ctx.redis, ctx.keys, messageId, {
      emailId: ctx.emailId,
      planId: ctx.planId,
      stepId: ctx.stepId,
      at: ctx.clock().toISOString(),
    });
    const caseFacts = ctx.trusted.case;
    if (caseFacts) await recordCaseMessage(ctx, { caseId: caseFacts.id, emailId: ctx.emailId, messageId, reply: true });
    const original = await ctx.content.getContent(ctx.emailRef);
    // Copied ids pass the one header gate; one that fails is left out, never repaired.
    const inReplyTo = (original.messageId && copyableHeader('msg-id', original.messageId)) || undefined;
    const references = [...original.references.flatMap((r) => copyableHeader('msg-id', r) ?? []).slice(-20), ...(inReplyTo ? [inReplyTo] : [])];
    // Claimed before acting: at most once, even if this worker dies mid-send (then a human checks).
    const { duplicate } = await effectOnce(ctx, { result: Sent, resumable: false, notDone: mailNotDelivered }, async () => {
      await ctx.mailer.send({
        to: sender.address,
        from: { name: ctx.config.mailbox.name, address: ctx.config.mailbox.address },
        subject,
        text,
        messageId,
        inReplyTo,
        references,
        headers: automaticHeaders('reply', ctx.idempotencyKey),
      });
      return { messageId };
    });
    return { messageId, to: sender.address, duplicate };
  },
  // The reply rate limits count replies sent: a preview neither reserves nor checks them.
  async preview(input, ctx) {
    const message = await replyMessage(input.draft, ctx);
    const messageId = await mintedMessageId(ctx, ctx.idempotencyKey);
    return { output: { messageId, to: message.to, duplicate: false }, messages: [message] };
  },
});

/** The reply `run` sends and `preview` shows, after every check that comes before sending. */
async function replyMessage(draftRef: DraftRef, ctx: ToolContext): Promise<OutboundPreview> {
  const sender = ctx.trusted.sender;
  if (!sender.verified) throw new MailroomError('SENDER_UNVERIFIED', 'send_reply needs a verified sender');
  // RFC 3834: never answer automatic mail. Robots normally never get a plan with this step;
  // this is the last line of defence if one ever does. A human who approved this reply (the park
  // reason named the robot kind) may still send it.
  if (ctx.trusted.auto.kind !== 'none' && !ctx.approvedBy) {
    throw new MailroomError('NEEDS_REVIEW', `robot mail (${ctx.trusted.auto.kind}) gets no automatic reply`);
  }
  const draft = StoredDraft.parse(JSON.parse(await ctx.content.getText(draftRef)));
  const refusal = draftRefusal(draft, ctx.approvedBy);
  if (refusal) throw new MailroomError('NEEDS_REVIEW', refusal);
  const subject = replySubject(ctx.trusted.category.name);
  // Defence in depth for the header we write: the same check as the body, with nothing allowed.
  if (disallowedLinks(subject, { urls: [], urlPrefixes: [], addresses: [] }).length > 0) {
    throw new MailroomError('NEEDS_REVIEW', 'the reply subject names a link, address or phone number');
  }
  return { to: sender.address, subject, text: draft.text };
}
