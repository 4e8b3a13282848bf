import { z } from 'zod';
import { MailroomError } from '../kernel/errors.js';
import { Order } from '../store/accounts.js';
import { AccountId, ownAccount } from './own-account.js';
import { defineTool } from './tool.js';

/**
 * The endorser of order ids. The customer typed `orderRef` (tainted); this tool returns an order
 * only if one with exactly that id belongs to the verified sender's own account, and what it
 * returns comes from the accounts directory, not from the email. That is why its output is
 * trusted and may feed issue_refund's control parameters.
 */
export const lookupOrder = defineTool({
  name: 'lookup_order',
  description:
    "Endorser: checks an order id the customer typed against the verified sender's own orders and returns that order (trusted) " +
    "or fails with ORDER_NOT_FOUND. The only way an order id from an email reaches a control parameter.",
  risk: 'read',
  input: z.object({ account: AccountId, orderRef: z.string().max(64).nullable() }).strict(),
  output: z.object({ orderId: Order.shape.id, amount: z.number().nonnegative(), currency: z.string().length(3), date: z.string().nullable() }).strict(),
  untrustedInputs: ['orderRef'],
  taintedOutputs: [],
  endorses: { input: 'orderRef', against: "the verified sender's own orders in the accounts directory" },
  outputLabel: 'sender',
  sideEffect: false,
  async run(input, ctx) {
    const account = ownAccount(ctx, input.account);
    const wanted = (input.orderRef ?? '').trim().toUpperCase();
    const order = wanted ? account.orders.find((o) => o.id === wanted) : undefined;
    // The reference is the sender's text: it stays out of the message, the audit and the logs.
    if (!order) throw new MailroomError('ORDER_NOT_FOUND', "no order of the verified sender's account matches the reference");
    return { orderId: order.id, amount: order.amount, currency: order.currency, date: order.date ?? null };
  },
});
