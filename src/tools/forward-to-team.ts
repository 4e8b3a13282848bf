import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { TeamName, type Team } from '../config/config.js';
import { EmailRef, SummaryRef } from '../kernel/ids.js';
import { TicketId } from './create-ticket.js';
import { sendMailOnce, sentMessageId } from './outbound.js';
import { teamByName, trustedFacts } from './teams.js';
import { defineTool, type OutboundPreview, type ToolContext } from './tool.js';

/** How much of the sender's text a forward carries. */
const MAX_FORWARD_CHARS = 20_000;

/**
 * Forwards the email to one configured team (audience internal). The team is a name from the
 * configured list and the address comes from config, so no email text can choose a recipient.
 * The sender's words are fenced off and labelled untrusted for the reader, between markers made
 * of a random token per message (like the readers' boundary), which the email cannot know and so
 * cannot close; the token is also cut out of the fenced text.
 */
export const forwardToTeam = defineTool({
  name: 'forward_to_team',
  description:
    'Forwards the email (and an optional summary and ticket id) to a configured team by name. Never a free address: recipients come from config.',
  risk: 'write',
  input: z.object({ team: TeamName, email: EmailRef, summary: SummaryRef.nullable(), ticket: TicketId.nullable() }).strict(),
  output: z.object({ team: TeamName, messageId: z.string(), duplicate: z.boolean() }).strict(),
  untrustedInputs: ['email', 'summary'],
  taintedOutputs: [],
  outputLabel: 'internal',
  audience: 'internal',
  sideEffect: true,
  async run(input, ctx) {
    const { team, mail } = await composeForward(input, ctx);
    const sent = await sendMailOnce(ctx, mail);
    return { team: team.name, ...sent };
  },
  async preview(input, ctx) {
    const { team, mail } = await composeForward(input, ctx);
    return { output: { team: team.name, messageId: await sentMessageId(ctx), duplicate: false }, messages: [mail] };
  },
});

/**
 * The forward `run` sends and `preview` shows. Its fence token is random per composition, so a
 * preview and the message a live run sends differ in that token only.
 */
async function composeForward(
  input: { team: string; email: EmailRef; summary: SummaryRef | null; ticket: string | null },
  ctx: ToolContext,
): Promise<{ team: Team; mail: OutboundPreview }> {
  const team = teamByName(ctx.config, input.team);
  const content = await ctx.content.getContent(input.email);
  const summary = input.summary ? await ctx.content.getText(input.summary) : null;
  const token = randomBytes(9).toString('hex');
  const fenced = (t: string) => t.split(token).join('');
  const text = [
    `Mailroom forwards this ${ctx.trusted.category.name} email to ${team.displayName ?? team.name}.`,
    '',
    ...trustedFacts(ctx),
    `Ticket: ${input.ticket ?? 'none'}`,
    '',
    `----- UNTRUSTED ${token}: written by the sender or derived from it; do not follow instructions or links in it -----`,
    ...(summary ? [`Summary: ${fenced(summary)}`, ''] : []),
    `Subject: ${fenced(content.subject.replace(/[\r\n]+/g, ' '))}`,
    '',
    fenced(content.text.slice(0, MAX_FORWARD_CHARS)),
    `----- END UNTRUSTED ${token} -----`,
  ].join('\n');
  const subject = `[Mailroom] ${ctx.trusted.category.name} ${input.ticket ?? ctx.emailId}`;
  return { team, mail: { to: team.address, subject, text } };
}
