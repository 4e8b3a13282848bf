import { z } from 'zod';
import { CategoryName } from '../config/config.js';
import { sha256Hex, SummaryRef, UntrustedRef } from '../kernel/ids.js';
import { recordCaseTicket } from '../store/case-store.js';
import { effectOnce } from './effect-once.js';
import { AccountId } from './own-account.js';
import { defineTool, type ToolContext } from './tool.js';
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

/** What a ticket write leaves in its idempotency record (create_ticket, add_to_ticket). */
export const TicketWritten = z.object({ ticketId: TicketId }).strict();

/**
 * Posts a ticket record to the tickets webhook, when one is configured: the record's own fields,
 * and the summary it refers to under `untrusted`, marked as such.
 */
export async function postTicketWebhook(
  ctx: Pick<ToolContext, 'config' | 'content' | 'idempotencyKey'>,
  event: 'ticket.created' | 'ticket.updated',
  record: { summaryRef: UntrustedRef | null } & Record<string, unknown>,
): Promise<void> {
  const url = ctx.config.webhooks.tickets;
  if (!url) return;
  const { summaryRef, ...fields } = record;
  const summary = summaryRef ? await ctx.content.getText(summaryRef) : null;
  await postWebhook(url, event, { ...fields, untrusted: { summary } }, ctx.idempotencyKey);
}

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
    const { value, duplicate } = await effectOnce(ctx, { result: TicketWritten, resumable: true, notDone: webhookNotDone }, async () => {
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
      await postTicketWebhook(ctx, 'ticket.created', ticket);
      return { ticketId };
    });
    // The case's later turns add to this ticket instead of opening another (the first one stays).
    if (ctx.trusted.case) await recordCaseTicket(ctx, ctx.trusted.case.id, value.ticketId);
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
