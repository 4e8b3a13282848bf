import { z } from 'zod';
import { AccountId, ownAccount } from './own-account.js';
import { defineTool } from './tool.js';
import { Tier } from '../model/trusted-context.js';

export const lookupAccount = defineTool({
  name: 'lookup_account',
  description:
    "Reads the verified sender's own account from the accounts directory (tier, open tickets, orders, billing contact). " +
    'Trusted, labelled sender: it may go back to the sender but not to anyone else.',
  risk: 'read',
  input: z.object({ account: AccountId }).strict(),
  output: z
    .object({
      id: AccountId,
      name: z.string(),
      tier: Tier,
      openTickets: z.number().int().min(0),
      orderCount: z.number().int().min(0),
      billingEmail: z.string().email(),
    })
    .strict(),
  untrustedInputs: [],
  taintedOutputs: [],
  outputLabel: 'sender',
  sideEffect: false,
  async run(input, ctx) {
    const rec = ownAccount(ctx, input.account);
    return {
      id: rec.id,
      name: rec.name,
      tier: rec.tier,
      openTickets: rec.openTickets,
      orderCount: rec.orders.length,
      billingEmail: rec.billingEmail ?? rec.email,
    };
  },
});
