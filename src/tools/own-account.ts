import { MailroomError } from '../kernel/errors.js';
import type { AccountRecord } from '../store/accounts.js';
import { Account } from '../model/trusted-context.js';
import type { ToolContext } from './tool.js';

/** An account id as plans pass it: a control value, from `{{context.account.id}}` or a trusted output. */
export const AccountId = Account.shape.id;

/**
 * The account of the verified sender, and only that one. Tools that read or change account data
 * call this even though the id arrives as a trusted control value: an email can only ever concern
 * its own sender's account, whatever a planner wrote.
 */
export function ownAccount(ctx: Pick<ToolContext, 'trusted' | 'accounts'>, accountId: string): AccountRecord {
  const mine = ctx.trusted.sender.verified ? ctx.trusted.account : null;
  if (!mine || mine.id !== accountId) {
    throw new MailroomError('ACCOUNT_MISMATCH', "the account is not the verified sender's own account");
  }
  const record = ctx.accounts.byId(accountId);
  if (!record) throw new MailroomError('ACCOUNT_MISMATCH', 'the account is not in the accounts directory');
  return record;
}
