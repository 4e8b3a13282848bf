import type { EmailRecord } from '../audit/email-ledger.js';
import type { AppContext } from '../services/services.js';
import type { CaseId, EmailId } from '../kernel/ids.js';
import { caseOfEmail, readCase } from '../store/case-store.js';

/**
 * One email of a case as a reviewer or an operator sees it: Mailroom's own facts about it (when
 * it came in, where it rests, its category, the tools its plan ran, whether we replied), never
 * its text.
 */
export interface CaseStep {
  emailId: EmailId;
  at: string;
  state: EmailRecord['state'] | 'unknown';
  category: string;
  tools: string[];
  replied: boolean;
  robot: boolean;
}

export interface CaseHistory {
  caseId: CaseId;
  ticketId: string | null;
  /** Oldest first; the email asked about is among them. */
  steps: CaseStep[];
}

type HistoryDeps = Pick<AppContext, 'redis' | 'keys' | 'ledger' | 'history'>;

/**
 * The case of an email with each of its emails in the order Mailroom took them in, from the case
 * record and each email's ledger record (in Redis, or in the history store once archived). Null
 * when the email has no case record (triaged before cases, or the case expired).
 */
export async function caseHistory(app: HistoryDeps, emailId: EmailId): Promise<CaseHistory | null> {
  const caseId = await caseOfEmail(app, emailId);
  const record = caseId ? await readCase(app, caseId) : null;
  if (!caseId || !record) return null;
  const steps: CaseStep[] = [];
  for (const turn of record.turns) {
    const ledger = (await app.ledger.get(turn.emailId)) ?? (await app.history.get(turn.emailId))?.record ?? null;
    steps.push({
      emailId: turn.emailId,
      at: turn.at,
      state: ledger?.state ?? 'unknown',
      category: ledger?.category ?? '',
      tools: (ledger?.tools ?? '').split(',').filter(Boolean),
      replied: turn.replied,
      robot: turn.robot,
    });
  }
  return { caseId, ticketId: record.ticketId, steps };
}

/** The case as text lines, one per email (`→` marks the one asked about); for `mailroom audit` and `pending --full`. */
export function formatCaseHistory(history: CaseHistory, current: EmailId): string[] {
  const head = `case ${history.caseId}: ${history.steps.length} email(s)${history.ticketId ? `, ticket ${history.ticketId}` : ''}`;
  return [
    head,
    ...history.steps.map(
      (s, i) =>
        `${s.emailId === current ? '→' : ' '} ${i + 1}. ${s.at}  ${s.emailId}  ${s.state.padEnd(17)} ${(s.category || '-').padEnd(15)} ${s.robot ? 'robot' : s.replied ? 'replied' : 'no reply'}${s.tools.length ? `  ${s.tools.join(' → ')}` : ''}`,
    ),
  ];
}
