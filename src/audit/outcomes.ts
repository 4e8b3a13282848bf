import type { EmailId, PlanId } from '../ids.js';
import type { SourceInfo } from '../ingest/trusted-context.js';
import type { AppContext } from '../context.js';
import { toMailroomError } from '../errors.js';
import { parkForReview } from '../executor/review.js';
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
 * shows it; see src/executor/review.ts for what is shown and recorded).
 */
export async function park(app: AppContext, emailId: EmailId, planId: PlanId, actor: string, reasons: string[], resumeAt: number) {
  await parkForReview(app, emailId, planId, actor, reasons, resumeAt);
}
