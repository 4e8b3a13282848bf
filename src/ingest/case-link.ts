import type { AppContext } from '../services/services.js';
import { caseIdFor, type CaseId, type EmailId } from '../kernel/ids.js';
import type { EmailRecord } from '../audit/email-ledger.js';
import { caseOfMessage, readCase, recordTurn, type CaseRecord } from '../store/case-store.js';
import { decideFollowUp, namedMessageIds, type MintedReference } from './follow-up-link.js';
import { CaseFacts, type CaseOutcome, type TrustedContext, type UntrustedContent } from '../model/trusted-context.js';

type CaseDeps = Pick<AppContext, 'redis' | 'keys' | 'ledger' | 'history'>;

/**
 * What became of an earlier email of a case, from our own records: its ledger state (in Redis,
 * or in the history store once archived), whether we replied, whether a robot wrote it.
 */
export function caseOutcome(record: Pick<EmailRecord, 'state'> | null, turn: { replied: boolean; robot: boolean }): CaseOutcome {
  if (turn.robot) return 'robot';
  if (turn.replied) return 'replied';
  switch (record?.state) {
    case 'completed':
    case 'shadowed':
      return 'no_reply';
    case 'awaiting_approval':
      return 'awaiting_human';
    case 'escalated':
    case 'rejected':
    case 'quarantined':
      return record.state;
    default:
      return 'open';
  }
}

async function recordOf(deps: CaseDeps, emailId: EmailId): Promise<EmailRecord | null> {
  return (await deps.ledger.get(emailId)) ?? (await deps.history.get(emailId))?.record ?? null;
}

/**
 * Finds the case of a triaged email (a follow-up's, by {@link decideFollowUp}; else a new one
 * named after this email), records the email as its latest turn, and returns the case's facts.
 * The ids the email names are only looked up; none is kept.
 */
export async function linkCase(
  deps: CaseDeps,
  input: { trusted: TrustedContext; content: Pick<UntrustedContent, 'inReplyTo' | 'references'>; headerProblem: string | null },
): Promise<CaseFacts> {
  const { trusted } = input;
  const named = namedMessageIds(input.content);
  const cases = new Map<CaseId, CaseRecord | null>();
  const minted: MintedReference[] = [];
  for (const id of named) {
    const caseId = await caseOfMessage(deps, id);
    if (!caseId) continue;
    if (!cases.has(caseId)) cases.set(caseId, await readCase(deps, caseId));
    minted.push({ caseId, customer: cases.get(caseId)?.customer ?? null });
  }
  const decision = decideFollowUp({ sender: trusted.sender, headerProblem: input.headerProblem, named: named.length, minted });
  const found = decision.followUp ? cases.get(decision.caseId) : null;
  const caseId = found ? found.caseId : caseIdFor(trusted.emailId);
  const earlier = (found?.turns ?? []).filter((t) => t.emailId !== trusted.emailId && t.at <= trusted.receivedAt);
  const last = earlier.at(-1);
  await recordTurn(deps, {
    caseId,
    customer: trusted.sender.verified ? trusted.sender.address : null,
    turn: { emailId: trusted.emailId, at: trusted.receivedAt, robot: trusted.auto.kind !== 'none' },
  });
  return CaseFacts.parse({
    id: caseId,
    followUp: found !== null && found !== undefined,
    turns: earlier.length,
    previous: last ? caseOutcome(await recordOf(deps, last.emailId), last) : 'none',
    ticketId: found?.ticketId ?? null,
    notLinked: decision.followUp ? null : decision.reason,
  });
}
