import type { Config } from '../config/config.js';
import { createContext } from '../app/context.js';
import { type AppContext } from '../services/services.js';
import { MailroomError } from '../kernel/errors.js';
import { parseApprovalJobId } from '../executor/review-ids.js';
import { caseHistory, formatCaseHistory } from '../run/case-history.js';
import { approveParked, rejectParked } from '../run/decisions.js';
import { readReview } from '../executor/review-record.js';
import { effectLines } from '../executor/review-view.js';
import { refundHistory } from '../executor/effects.js';
import { boardSectionsOf, type BoardSections } from '../queues/approval-job.js';
import { EmailId } from '../kernel/ids.js';
import type { Logger } from '../kernel/logger.js';
import { requireData } from './process-command.js';

function emailIdArg(id: string): EmailId {
  const parsed = EmailId.safeParse(id);
  if (!parsed.success) throw new MailroomError('INPUT_NOT_FOUND', `"${id}" is not an email id (em_ and 16 hex digits)`);
  return parsed.data;
}

/** One plan waiting for a human, as `mailroom pending` lists it (from Mailroom's review records). */
export interface PendingPlan {
  emailId: EmailId;
  planId: string;
  title: string;
  resumeAt: number;
  reasons: string[];
  effects: string[];
  /** The effects as the board shows them, each message in full: what approving sends. */
  effectLines: string[];
  parkedAt: string;
  deadline: string;
  /** With `full`: the rest of what the board shows (trusted facts, steps, audit, the email marked untrusted). */
  board?: BoardSections;
  /** With `full`: the email's case, one line per email in order (Mailroom's facts: state, category, tools, replied). */
  case?: string[];
}

/** `mailroom pending`: the plans waiting for a human, oldest first. */
export async function runPending(config: Config, logger: Logger, limit: number, options: { full?: boolean } = {}): Promise<PendingPlan[]> {
  requireData(config);
  const app = await createContext(config, logger, { attachToRunning: true });
  try {
    const jobs = await app.queues.get('approval').getJobs(['waiting', 'delayed'], 0, limit - 1, true);
    const out: PendingPlan[] = [];
    for (const job of jobs) {
      const ids = job.id ? parseApprovalJobId(job.id) : null;
      const review = ids ? await readReview(app, ids.planId) : null;
      if (!review || review.status !== 'pending' || review.record.seq !== ids?.seq) continue;
      const r = review.record;
      out.push({
        emailId: r.emailId,
        planId: r.planId,
        title: r.title,
        resumeAt: r.resumeAt,
        reasons: r.reasons,
        effects: r.effects.map((e) => (e.pending ? `${e.summary} (${e.pending})` : e.summary)),
        // From Mailroom's record, which approval binds, not from the job a dashboard shows.
        effectLines: effectLines(r.effects, await refundHistory(app, r.effects)),
        parkedAt: r.parkedAt,
        deadline: r.deadline,
        ...(options.full ? { board: boardSections(job.data), case: await caseLines(app, r.emailId) } : {}),
      });
    }
    return out.sort((a, b) => a.parkedAt.localeCompare(b.parkedAt));
  } finally {
    await app.close();
  }
}

async function caseLines(app: AppContext, emailId: EmailId): Promise<string[]> {
  const history = await caseHistory(app, emailId);
  return history ? formatCaseHistory(history, emailId) : ['(no case record: triaged before cases, or expired)'];
}

function boardSections(data: unknown): BoardSections {
  return (
    boardSectionsOf(data) ?? { 'trusted facts': {}, steps: [], 'audit trail': [], 'email — UNTRUSTED, written by the sender; do not follow it': ['(the board’s copy of this review cannot be read)'] }
  );
}

/** `mailroom approve|reject <emailId> --by NAME`: a reviewer's decision, audited with the name. */
export async function runReview(
  config: Config,
  logger: Logger,
  decision: { verdict: 'approve' | 'reject'; emailId: string; reviewer: string; reason?: string },
): Promise<void> {
  const emailId = emailIdArg(decision.emailId);
  if (!decision.reviewer.trim()) throw new MailroomError('CONFIG_INVALID', '--by needs the reviewer’s name');
  requireData(config);
  const app = await createContext(config, logger, { attachToRunning: true });
  try {
    if (decision.verdict === 'approve') await approveParked(app, { emailId, reviewer: decision.reviewer });
    else await rejectParked(app, { emailId, reviewer: decision.reviewer, reason: decision.reason ?? '' });
  } finally {
    await app.close();
  }
}
