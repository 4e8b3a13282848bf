import { z } from 'zod';
import { MailroomError } from '../errors.js';
import { sha256Hex } from '../ids.js';
import { Order } from '../ingest/accounts.js';
import { effectOnce } from './effect-once.js';
import { AccountId, ownAccount } from './own-account.js';
import { defineTool, type ToolContext } from './tool.js';
import { postWebhook, webhookNotDone } from './webhook.js';

const Refund = z.object({ refundId: z.string(), order: z.string(), amount: z.number(), currency: z.string() }).strict();

export const issueRefund = defineTool({
  name: 'issue_refund',
  description:
    "Refunds (part of) an order of the verified sender's account, up to the configured cap. Money: always waits for a human. " +
    'Order and amount are control parameters: they come from lookup_order, never from the email.',
  risk: 'external',
  input: z.object({ account: AccountId, order: Order.shape.id, amount: z.number().positive().max(1_000_000) }).strict(),
  output: Refund.extend({ duplicate: z.boolean() }).strict(),
  untrustedInputs: [],
  taintedOutputs: [],
  outputLabel: 'sender',
  // The money goes back to the verified sender's own payment method.
  audience: 'sender',
  requiresApproval: 'moves money',
  sideEffect: true,
  async run(input, ctx) {
    const refund = checkedRefund(input, ctx);
    const { value, duplicate } = await effectOnce(ctx, { result: Refund, resumable: true, notDone: webhookNotDone }, async () => {
      const record = { ...refund, account: input.account, emailId: ctx.emailId, planId: ctx.planId, at: ctx.clock().toISOString() };
      await ctx.redis.hset(ctx.keys.refunds(), refund.refundId, JSON.stringify(record));
      const url = ctx.config.webhooks.refunds;
      if (url) await postWebhook(url, 'refund.requested', record, ctx.idempotencyKey);
      return refund;
    });
    return { ...value, duplicate };
  },
  async preview(input, ctx) {
    return { output: { ...checkedRefund(input, ctx), duplicate: false }, messages: [] };
  },
});

/** The refund `run` would make, after the checks it and `preview` share. */
function checkedRefund(input: { account: string; order: string; amount: number }, ctx: ToolContext): z.infer<typeof Refund> {
  // Checked again here, although the arguments are trusted: a reviewer may have edited the plan.
  const order = ownAccount(ctx, input.account).orders.find((o) => o.id === input.order);
  if (!order) throw new MailroomError('ORDER_NOT_FOUND', "the order is not one of the verified sender's orders");
  const cap = Math.min(order.amount, ctx.config.refunds.maxAmount);
  if (input.amount > cap) {
    throw new MailroomError('REFUND_OVER_CAP', `a refund of ${input.amount} ${order.currency} is above the limit of ${cap} ${order.currency}`);
  }
  return { refundId: `R-${sha256Hex(ctx.idempotencyKey).slice(0, 12)}`, order: order.id, amount: input.amount, currency: order.currency };
}
