import { type AppContext } from '../services/services.js';
import type { MailroomError } from '../kernel/errors.js';
import { toMailroomError } from '../kernel/errors.js';
import { type EmailId, type PlanId } from '../kernel/ids.js';
import type { SourceInfo } from '../model/trusted-context.js';
import { jobIdFor, type RerunJob } from '../queues/catalog.js';
import { type ShadowOutcome } from '../model/would-do.js';

/**
 * Resting states an email reaches from anywhere in its run: quarantined (with the reason, in the
 * dead-letter queue), escalated to a human, or shadowed. Light on purpose: the sources and the
 * job handlers quarantine without loading the planner or the executor.
 */

type RestDeps = Pick<AppContext, 'ledger' | 'audit' | 'queues' | 'logger'>;

/** Where a failure was seen; recorded with a quarantined email. */
export type Stage = 'ingest' | 'plan' | 'steps' | 'source';

/**
 * Quarantined: the email (or, without an id, the job) goes to the dead-letter queue with the
 * reason, and the ledger and the audit trail say so, so no email ends without a visible reason.
 */
export async function quarantine(
  app: RestDeps,
  emailId: EmailId | null,
  stage: Stage,
  err: unknown,
  source: SourceInfo | null,
  rerun?: RerunJob,
): Promise<void> {
  const e = toMailroomError(err);
  // One entry per email: a second quarantine of the same email (a re-delivered job, the failed-job
  // sweep racing the 'failed' handler) must not show a human the same mail twice.
  const letter = {
    emailId,
    stage,
    code: e.publicCode,
    reason: e.message.slice(0, 500),
    source,
    ...(rerun ? { rerun } : {}),
  };
  await app.queues.add('deadLetter', letter, emailId ? { jobId: jobIdFor('dl', emailId) } : {});
  if (emailId) {
    await app.ledger.setState(emailId, 'quarantined', {
      reason: `${e.publicCode}: ${e.message.slice(0, 200)}`,
    });
    await app.audit.append(emailId, 'quarantined', stage, {
      code: e.publicCode,
      reason: e.message.slice(0, 200),
    });
  }
  app.logger.warn({ emailId, stage, code: e.publicCode }, 'email quarantined');
}

/**
 * Quarantines a message that was never read (too large to fetch or to open), under an id its
 * source minted: its ledger record, its `ingested` event and the quarantine, once per id (a second
 * sight of the same message changes nothing). Answers whether this call recorded it.
 */
export async function quarantineUnread(
  app: RestDeps,
  unread: {
    emailId: EmailId;
    label: string;
    mailbox: string;
    mode: 'live' | 'shadow';
    sizeBytes: number;
    source: SourceInfo;
  },
  err: unknown,
): Promise<boolean> {
  if (
    !(await app.ledger.create(unread.emailId, unread.label, { mailbox: unread.mailbox, mode: unread.mode }))
  )
    return false;
  await app.audit.append(unread.emailId, 'ingested', 'ingest', {
    source: unread.source.kind,
    sizeBytes: unread.sizeBytes,
  });
  await quarantine(app, unread.emailId, 'source', err, unread.source);
  return true;
}

/** Escalated: a human takes the email over (from the plan's own `escalate` step, a failure, or a deadline). */
export async function escalateEmail(
  app: Pick<AppContext, 'ledger' | 'audit'>,
  emailId: EmailId,
  actor: string,
  reason: string,
  data: Record<string, unknown> = {},
): Promise<void> {
  await app.ledger.setState(emailId, 'escalated', { reason });
  await app.audit.append(emailId, 'escalated', actor, { reason, ...data });
}

/**
 * Shadowed: an email handled in shadow (src/executor/shadow.ts) ends here with what a live run
 * would have done. A plan a live run would park is not parked: nothing of a shadow email may wait
 * for a reviewer whose approval would then act on it. The reasons it would have parked with are
 * kept, so the report can say how much policy would have auto-approved.
 */
export async function shadowed(
  app: Pick<AppContext, 'ledger' | 'audit'>,
  emailId: EmailId,
  planId: PlanId,
  would: ShadowOutcome,
  reasons: readonly string[] = [],
): Promise<void> {
  const clipped = reasons.map((r) => r.slice(0, 300));
  const reason = `would ${would}${clipped.length ? `: ${clipped.join('; ')}` : ''}`.slice(0, 300);
  await app.ledger.setState(emailId, 'shadowed', { reason });
  await app.audit.append(emailId, 'shadowed', 'shadow', { planId, would, reasons: clipped });
}

/**
 * Why a step failed, for the audit and the log: our own message, which names causes in codes;
 * an error we did not make (INTERNAL) may carry anything, so only its code.
 */
export function failureReason(e: MailroomError): string | undefined {
  return e.code === 'INTERNAL' ? undefined : e.message.slice(0, 300);
}
