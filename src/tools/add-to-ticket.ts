import { z } from 'zod';
import { MailroomError } from '../kernel/errors.js';
import { SummaryRef, UntrustedRef } from '../kernel/ids.js';
import { postTicketWebhook, TicketId, TicketWritten } from './create-ticket.js';
import { effectOnce } from './effect-once.js';
import { defineTool } from './tool.js';
import { webhookNotDone } from './webhook.js';

/** One later email of a ticket's case, as stored on the ticket (internal data; the summary is a tainted ref). */
export const TicketNote = z
  .object({ ticketId: TicketId, emailId: z.string(), planId: z.string(), summaryRef: UntrustedRef.nullable(), at: z.string() })
  .strict();
export type TicketNote = z.infer<typeof TicketNote>;

/**
 * Adds a follow-up to the ticket its case already has, instead of opening a second one. The
 * ticket is a control parameter and must be the case's own (`{{context.case.ticketId}}`, from
 * Mailroom's case record): any other ticket is refused at run time, whatever the plan says.
 */
export const addToTicket = defineTool({
  name: 'add_to_ticket',
  description:
    "Adds this email (an optional, untrusted summary ref) to the ticket its case already has ({{context.case.ticketId}}); posts it to the tickets webhook when one is configured.",
  risk: 'write',
  // Nullable because `{{context.case.ticketId}}` is (a case may have no ticket); null is refused when it runs.
  input: z.object({ ticket: TicketId.nullable(), summary: SummaryRef.nullable() }).strict(),
  output: z.object({ ticketId: TicketId, duplicate: z.boolean() }).strict(),
  untrustedInputs: ['summary'],
  taintedOutputs: [],
  outputLabel: 'internal',
  audience: 'internal',
  sideEffect: true,
  async run(input, ctx) {
    const ticketId = ownTicket(input.ticket, ctx.trusted.case?.ticketId);
    const { value, duplicate } = await effectOnce(ctx, { result: TicketWritten, resumable: true, notDone: webhookNotDone }, async () => {
      const note: TicketNote = { ticketId, emailId: ctx.emailId, planId: ctx.planId, summaryRef: input.summary, at: ctx.clock().toISOString() };
      await ctx.redis.rpush(ctx.keys.ticketNotes(ticketId), JSON.stringify(note));
      await postTicketWebhook(ctx, 'ticket.updated', note);
      return { ticketId };
    });
    return { ...value, duplicate };
  },
  async preview(input, ctx) {
    return { output: { ticketId: ownTicket(input.ticket, ctx.trusted.case?.ticketId), duplicate: false }, messages: [] };
  },
});

/** The ticket, when it is the one of this email's own case; anything else is refused. */
function ownTicket(ticket: string | null, caseTicket: string | null | undefined): string {
  if (ticket === null || caseTicket !== ticket) throw new MailroomError('TAINT_VIOLATION', "add_to_ticket may only add to the ticket of this email's own case");
  return ticket;
}
