import { z } from 'zod';
import { CategoryName } from '../config.js';
import { sha256Hex, SummaryRef, UntrustedRef } from '../ids.js';
import { effectOnce } from './effect-once.js';
import { AccountId } from './own-account.js';
import { defineTool } from './tool.js';
import { postWebhook, webhookNotDone } from './webhook.js';

export const TicketId = z.string().regex(/^T-[a-f0-9]{10}$/);
export const TicketPriority = z.enum(['low', 'normal', 'high', 'urgent']);

/** A ticket as stored in Redis (internal data: it may hold a tainted summary, marked as such). */
export const StoredTicket = z.object({
  ticketId: TicketId,
  emailId: z.string(),
  planId: z.string(),
  category: CategoryName,
  priority: TicketPriority,
  account: AccountId.nullable(),
  summaryRef: UntrustedRef.nullable(),
  createdAt: z.string(),
});
export type StoredTicket = z.infer<typeof StoredTicket>;

const Created = z.object({ ticketId: TicketId }).strict();

/**
 * Opens a ticket in Redis (and posts it to the tickets webhook when one is configured). Category,
 * priority and account are control parameters; the summary is the one input that may be tainted,
 * and it travels only to internal readers, marked untrusted.
 */
export const createTicket = defineTool({
  name: 'create_ticket',
  description:
    'Opens an internal ticket for the email with a category, a priority and an optional (untrusted) summary ref; posts it to the configured tickets webhook.',
  risk: 'write',
  input: z
    .object({ category: CategoryName, priority: TicketPriority, account: AccountId.nullable(), summary: SummaryRef.nullable() })
    .strict(),
  output: z.object({ ticketId: TicketId, duplicate: z.boolean() }).strict(),
  untrustedInputs: ['summary'],
  taintedOutputs: [],
  outputLabel: 'internal',
  audience: 'internal',
  sideEffect: true,
  async run(input, ctx) {
    const ticketId = ticketIdFor(ctx.idempotencyKey);
    const { value, duplicate } = await effectOnce(ctx, { result: Created, resumable: true, notDone: webhookNotDone }, async () => {
      const ticket: StoredTicket = {
        ticketId,
        emailId: ctx.emailId,
        planId: ctx.planId,
        category: input.category,
        priority: input.priority,
        account: input.account,
        summaryRef: input.summary,
        createdAt: ctx.clock().toISOString(),
      };
      await ctx.redis.hset(ctx.keys.tickets(), ticketId, JSON.stringify(ticket));
      const url = ctx.config.webhooks.tickets;
      if (url) {
        const summary = input.summary ? await ctx.content.getText(input.summary) : null;
        const { summaryRef: _ref, ...fields } = ticket;
        await postWebhook(url, 'ticket.created', { ...fields, untrusted: { summary } }, ctx.idempotencyKey);
      }
      return { ticketId };
    });
    return { ...value, duplicate };
  },
  async preview(_input, ctx) {
    return { output: { ticketId: ticketIdFor(ctx.idempotencyKey), duplicate: false }, messages: [] };
  },
});

/** A ticket's id follows from the step's idempotency key: a retry, and a preview, name the same ticket. */
function ticketIdFor(idempotencyKey: string): string {
  return `T-${sha256Hex(idempotencyKey).slice(0, 10)}`;
}
