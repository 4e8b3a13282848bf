import { z } from 'zod';
import { MailroomError } from '../kernel/errors.js';
import { effectOnce } from './effect-once.js';
import { AccountId, ownAccount } from './own-account.js';
import { defineTool } from './tool.js';

export const AccountStatus = z.enum(['active', 'cancelled', 'suspended']);

const Change = z.object({ account: AccountId, changed: z.array(z.enum(['status', 'billingEmail'])) }).strict();

/**
 * Changes the verified sender's own account. Every value is a control parameter: a new contact
 * address typed in an email is exactly what an account takeover looks like, so it can only come
 * from trusted data, and a human approves every change. Changes are recorded in Redis for the
 * account system to apply; the accounts file itself is read-only.
 */
export const updateAccount = defineTool({
  name: 'update_account',
  description:
    "Changes the verified sender's own account (status, billing contact). Account changes always wait for a human; " +
    'no value may come from the email.',
  risk: 'write',
  input: z.object({ account: AccountId, status: AccountStatus.nullable(), billingEmail: z.string().email().max(254).nullable() }).strict(),
  output: Change.extend({ duplicate: z.boolean() }).strict(),
  untrustedInputs: [],
  taintedOutputs: [],
  outputLabel: 'sender',
  requiresApproval: 'changes a customer account',
  sideEffect: true,
  async run(input, ctx) {
    const changed = checkedChange(input, ctx);
    const { value, duplicate } = await effectOnce(ctx, { result: Change, resumable: true, notDone: () => false }, async () => {
      const record = { account: input.account, status: input.status, billingEmail: input.billingEmail, emailId: ctx.emailId, planId: ctx.planId, at: ctx.clock().toISOString() };
      // Keyed by plan + step, so a repeat overwrites the same entry instead of adding one.
      await ctx.redis.hset(ctx.keys.accountChanges(), ctx.idempotencyKey, JSON.stringify(record));
      return { account: input.account, changed };
    });
    return { ...value, duplicate };
  },
  async preview(input, ctx) {
    return { output: { account: input.account, changed: checkedChange(input, ctx), duplicate: false }, messages: [] };
  },
});

/** What the change touches, after the checks `run` and `preview` share. */
function checkedChange(input: { account: string; status: string | null; billingEmail: string | null }, ctx: Parameters<typeof ownAccount>[0]) {
  ownAccount(ctx, input.account);
  const changed = [...(input.status !== null ? (['status'] as const) : []), ...(input.billingEmail !== null ? (['billingEmail'] as const) : [])];
  if (changed.length === 0) throw new MailroomError('TOOL_INPUT_INVALID', 'update_account needs at least one change');
  return changed;
}
