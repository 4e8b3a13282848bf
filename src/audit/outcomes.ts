import type { EmailId, PlanId } from '../ids.js';
import type { SourceInfo } from '../ingest/trusted-context.js';
import type { AppContext } from '../context.js';
import { toMailroomError } from '../errors.js';
import { jobIdFor } from '../queues/catalog.js';

type Ctx = Pick<AppContext, 'ledger' | 'audit' | 'queues' | 'logger'>;

/**
 * The ways an email comes to rest, each writing the ledger, the audit trail and, where a human
 * must look, a queue entry, so no email ends without a visible reason.
 */
export async function quarantine(
  app: Ctx,
  emailId: EmailId | null,
  stage: 'ingest' | 'plan' | 'steps' | 'source',
  err: unknown,
  source: SourceInfo | null,
): Promise<void> {
  const e = toMailroomError(err);
  // One entry per email: a second quarantine of the same email (a re-delivered job, the failed-job
  // sweep racing the 'failed' handler) must not show a human the same mail twice.
  await app.queues.add('deadLetter', { emailId, stage, code: e.publicCode, reason: e.message.slice(0, 500), source }, emailId ? { jobId: jobIdFor('dl', emailId) } : {});
  if (emailId) {
    await app.ledger.setState(emailId, 'quarantined', { reason: `${e.publicCode}: ${e.message.slice(0, 200)}` });
    await app.audit.append(emailId, 'quarantined', stage, { code: e.publicCode, reason: e.message.slice(0, 200) });
  }
  app.logger.warn({ emailId, stage, code: e.publicCode }, 'email quarantined');
}

export async function escalateEmail(app: Ctx, emailId: EmailId, actor: string, reason: string, data: Record<string, unknown> = {}) {
  await app.ledger.setState(emailId, 'escalated', { reason });
  await app.audit.append(emailId, 'escalated', actor, { reason, ...data });
}

/**
 * Parks a plan for a human at step `resumeAt`: the approval queue is the review seam (Bull Board
 * shows it; an approval enqueues that step with `approvedBy`).
 */
export async function park(app: Ctx, emailId: EmailId, planId: PlanId, actor: string, reasons: string[], resumeAt: number) {
  const clipped = reasons.map((r) => r.slice(0, 300));
  await app.queues.add('approval', { emailId, planId, reasons: clipped, resumeAt }, { jobId: `${planId}` });
  await app.ledger.setState(emailId, 'awaiting_approval', { reason: clipped.join('; ').slice(0, 300) });
  await app.audit.append(emailId, 'parked', actor, { planId, reasons: clipped, resumeAt });
}
