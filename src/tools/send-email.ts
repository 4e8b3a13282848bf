import { z } from 'zod';
import { MailroomError } from '../kernel/errors.js';
import { DraftRef } from '../kernel/ids.js';
import { StoredDraft } from './draft-reply.js';
import { draftRefusal } from './send-reply.js';
import { sendMailOnce, sentMessageId } from './outbound.js';
import { defineTool, type OutboundPreview, type ToolContext } from './tool.js';

/**
 * Mail to any address: what an injected email wants most. The recipient and the subject are
 * control parameters (a literal in the plan or a trusted output such as an account's billing
 * contact); only the body, a drafted text, may derive from the email. Its audience is `anyone`,
 * so the validator parks a body that carries the sender's data, and a human approves every send.
 */
export const sendEmail = defineTool({
  name: 'send_email',
  description:
    'Sends a drafted text to a recipient other than the verified sender. Recipient and subject must be trusted; always waits for a human.',
  risk: 'external',
  input: z
    .object({
      to: z.string().email().max(254),
      subject: z.string().regex(/^[^\r\n]{1,200}$/, 'one line, at most 200 characters'),
      draft: DraftRef,
    })
    .strict(),
  output: z.object({ messageId: z.string(), to: z.string(), duplicate: z.boolean() }).strict(),
  untrustedInputs: ['draft'],
  taintedOutputs: [],
  outputLabel: 'internal',
  audience: 'anyone',
  requiresApproval: 'sends mail to a recipient other than the verified sender',
  sideEffect: true,
  async run(input, ctx) {
    const sent = await sendMailOnce(ctx, await composeEmail(input, ctx));
    return { ...sent, to: input.to };
  },
  async preview(input, ctx) {
    return { output: { messageId: await sentMessageId(ctx), to: input.to, duplicate: false }, messages: [await composeEmail(input, ctx)] };
  },
});

/** The message `run` sends and `preview` shows, after the draft's checks. */
async function composeEmail(input: { to: string; subject: string; draft: DraftRef }, ctx: ToolContext): Promise<OutboundPreview> {
  const draft = StoredDraft.parse(JSON.parse(await ctx.content.getText(input.draft)));
  const refusal = draftRefusal(draft, ctx.approvedBy);
  if (refusal) throw new MailroomError('NEEDS_REVIEW', refusal);
  return { to: input.to, subject: input.subject, text: draft.text };
}
