import { z } from 'zod';
import { MailroomError } from '../kernel/errors.js';
import { sha256Hex } from '../kernel/ids.js';
import { Order } from '../store/accounts.js';
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
  lookupInputs: ['order', 'amount'],
  outputLabel: 'sender',
  // The money goes back to the verified sender's own payment method.
  audience: 'sender',
  requiresApproval: 'moves money',
  sideEffect: true,
  async run(input, ctx) {
    const refund = checkedRefund(input, ctx);
    // A refusal over the order's total proves nothing happened, as a webhook's rejection does.
    const notDone = (err: unknown) => webhookNotDone(err) || (err instanceof MailroomError && err.code === 'REFUND_OVER_CAP');
    const { value, duplicate } = await effectOnce(ctx, { result: Refund, resumable: true, notDone }, async () => {
      await reserveOrderRefund(ctx, input.account, orderOf(ctx, input), refund);
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

/**
 * Adds a refund to what its order has had refunded, or refuses it when the sum would pass what
 * the order cost. One at a time per order (a Lua script): each refund passes the per-refund cap,
 * so without this, the same order asked for in several emails (or by several plans) was refunded
 * once per email, with no human when autonomy lets refunds run alone. Keyed by refund id, so a
 * retried step counts once.
 */
const RESERVE_REFUND = `
local total = 0
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  if entries[i] ~= ARGV[1] then total = total + tonumber(entries[i + 1]) end
end
if total + tonumber(ARGV[2]) > tonumber(ARGV[3]) then return total end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return -1
`;

const cents = (amount: number) => Math.round(amount * 100);

async function reserveOrderRefund(ctx: ToolContext, account: string, order: Order, refund: z.infer<typeof Refund>): Promise<void> {
  const res = Number(await ctx.redis.eval(RESERVE_REFUND, 1, ctx.keys.orderRefunds(account, order.id), refund.refundId, String(cents(refund.amount)), String(cents(order.amount))));
  if (res === -1) return;
  throw new MailroomError(
    'REFUND_OVER_CAP',
    `order ${order.id} has had ${(res / 100).toFixed(2)} ${order.currency} refunded already: a refund of ${refund.amount} ${order.currency} would pass the ${order.amount} ${order.currency} it cost`,
  );
}

/** The verified sender's order a refund names (checked to exist by {@link checkedRefund}). */
function orderOf(ctx: ToolContext, input: { account: string; order: string }): Order {
  const found = ownAccount(ctx, input.account).orders.find((o) => o.id === input.order);
  if (!found) throw new MailroomError('ORDER_NOT_FOUND', "the order is not one of the verified sender's orders");
  return found;
}

/** The refund `run` would make, after the checks it and `preview` share. */
function checkedRefund(input: { account: string; order: string; amount: number }, ctx: ToolContext): z.infer<typeof Refund> {
  // Checked again here, although the arguments are trusted: a reviewer may have edited the plan.
  const order = orderOf(ctx, input);
  const cap = Math.min(order.amount, ctx.config.refunds.maxAmount);
  if (input.amount > cap) {
    throw new MailroomError('REFUND_OVER_CAP', `a refund of ${input.amount} ${order.currency} is above the limit of ${cap} ${order.currency}`);
  }
  return { refundId: `R-${sha256Hex(ctx.idempotencyKey).slice(0, 12)}`, order: order.id, amount: input.amount, currency: order.currency };
}
