import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { MailroomError } from '../kernel/errors.js';
import { lowerAscii } from '../mail/header-syntax.js';
import { Tier, type Account } from '../model/trusted-context.js';

export const Order = z.object({
  id: z.string().regex(/^[A-Z0-9-]{3,40}$/),
  amount: z.number().nonnegative(),
  currency: z.string().length(3),
  date: z.string().optional(),
});
export type Order = z.infer<typeof Order>;

/** A customer account as stored in the accounts file (internal data). */
export const AccountRecord = z.object({
  id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  email: z.string().email(),
  /** Where invoices and billing notices go, when not the account's own address. */
  billingEmail: z.string().email().optional(),
  name: z.string().max(120),
  tier: Tier,
  openTickets: z.number().int().min(0).default(0),
  orders: z.array(Order).default([]),
});
export type AccountRecord = z.infer<typeof AccountRecord>;

export interface AccountsDirectory {
  /** Only ever called with a verified address. */
  byEmail(address: string): AccountRecord | undefined;
  byId(id: string): AccountRecord | undefined;
}

export function toAccount(rec: AccountRecord): Account {
  return { id: rec.id, tier: rec.tier, openTickets: rec.openTickets };
}

export function loadAccounts(file: string | undefined): AccountsDirectory {
  let records: AccountRecord[] = [];
  if (file) {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new MailroomError('CONFIG_INVALID', `accounts file ${file} cannot be read as JSON (${(err as Error).message})`);
    }
    const parsed = z.array(AccountRecord).safeParse(json);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      throw new MailroomError('CONFIG_INVALID', `accounts file ${file}: ${first?.path.join('.') ?? ''} ${first?.message ?? ''}`);
    }
    records = parsed.data;
  }
  // ASCII case only: a verified address must not reach another account through Unicode case folding.
  const byEmail = new Map(records.map((r) => [lowerAscii(r.email), r]));
  const byId = new Map(records.map((r) => [r.id, r]));
  return { byEmail: (a) => byEmail.get(lowerAscii(a)), byId: (id) => byId.get(id) };
}
