import type { Config, Team } from '../config/config.js';
import { MailroomError } from '../kernel/errors.js';
import type { ToolContext } from './tool.js';

/** The configured team of that name; a plan can name a team, never an address. */
export function teamByName(config: Pick<Config, 'teams'>, name: string): Team {
  const team = config.teams.find((t) => t.name === name);
  if (!team) throw new MailroomError('TEAM_UNKNOWN', `no team named "${name}" is configured`);
  return team;
}

/**
 * The trusted facts about the email, for a team member reading a forward or a notice. A verified
 * address is trusted as a value, not as text (its owner chose every character), so a notice that
 * carries no email text leaves it out (`withAddress: false`); a forward carries the email anyway.
 */
export function trustedFacts(ctx: Pick<ToolContext, 'emailId' | 'trusted'>, options: { withAddress: boolean } = { withAddress: true }): string[] {
  const t = ctx.trusted;
  const who = t.sender.verified ? `${options.withAddress ? `${t.sender.address} ` : ''}(verified, ${t.sender.method})` : `unverified (${t.sender.reason})`;
  return [
    `Email: ${ctx.emailId} (mailroom audit ${ctx.emailId})`,
    `Category: ${t.category.name} (${t.category.source})`,
    `Sender: ${who}`,
    `Account: ${t.account ? `${t.account.id} (${t.account.tier})` : 'none'}`,
  ];
}
