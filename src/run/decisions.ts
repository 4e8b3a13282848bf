import { type AppContext } from '../services/services.js';
import { MailroomError } from '../kernel/errors.js';
import { validatePlan } from '../planner/plan-validator.js';
import { jobIdFor } from '../queues/catalog.js';
import { pendingReview, removeApprovalJob, type ReviewDecision } from '../executor/review.js';
import { parseApprovalJobId } from '../executor/review-ids.js';
import { claimDecision, readReview } from '../executor/review-record.js';
import { loadPlan } from '../store/run-store.js';
import { escalateEmail } from './rest.js';

/**
 * A human's decision on a parked plan (from the CLI or Bull Board), and the deadline when nobody
 * decides: approved (the plan resumes at its gate), rejected, or escalated.
 */

/**
 * Approved: a human approves a parked plan and it resumes at its gate. The approval binds the
 * effects shown (their digests are in the review record); each effect is checked against them
 * before it runs. The plan is validated again against today's tools first. Only the first of
 * concurrent decisions counts. Review UIs (the CLI, Bull Board) call this, never the queues.
 */
export async function approveParked(
  app: AppContext,
  decision: ReviewDecision,
): Promise<'approved' | 'escalated'> {
  const { emailId, reviewer } = decision;
  const review = await pendingReview(app, decision);
  const { planId, resumeAt, seq } = review.record;
  const stored = await loadPlan(app, planId);
  const validation = validatePlan(stored.plan, app.registry);
  const step = stored.plan.steps[resumeAt];
  if (!validation.ok || !step) {
    const why =
      validation.errors
        .map((e) => e.message)
        .join('; ')
        .slice(0, 200) || `no step ${resumeAt}`;
    if (!(await claimDecision(app, review.record, 'escalated', reviewer, why)))
      throw new MailroomError('INPUT_NOT_FOUND', `${emailId} was decided meanwhile`);
    await app.audit.append(emailId, 'approved', reviewer, {
      planId,
      seq,
      digest: review.record.digest,
      valid: false,
    });
    await escalateEmail(
      app,
      emailId,
      'review',
      `approved by ${reviewer}, but the plan no longer validates against the current tools: ${why}`,
      { planId },
    );
    await removeApprovalJob(app, planId, seq);
    return 'escalated';
  }
  if (!(await claimDecision(app, review.record, 'approved', reviewer)))
    throw new MailroomError('INPUT_NOT_FOUND', `${emailId} was decided meanwhile`);
  await app.audit.append(emailId, 'approved', reviewer, {
    planId,
    resumeAt,
    seq,
    reasons: review.record.reasons,
    digest: review.record.digest,
  });
  await app.ledger.setState(emailId, 'running', { reason: `approved by ${reviewer}` });
  await app.queues.add(
    'steps',
    { emailId, planId, stepIndex: resumeAt, approvedBy: reviewer },
    { jobId: jobIdFor(planId, step.id, 'approved', String(seq)) },
  );
  await removeApprovalJob(app, planId, seq);
  return 'approved';
}

/** Rejected: a human rejects a parked plan; the email ends `rejected`, nothing after the gate runs. */
export async function rejectParked(
  app: AppContext,
  decision: ReviewDecision & { reason: string },
): Promise<void> {
  const { emailId, reviewer } = decision;
  const review = await pendingReview(app, decision);
  const { planId, seq } = review.record;
  const reason = decision.reason.slice(0, 200);
  if (!(await claimDecision(app, review.record, 'rejected', reviewer, reason)))
    throw new MailroomError('INPUT_NOT_FOUND', `${emailId} was decided meanwhile`);
  await app.ledger.setState(emailId, 'rejected', {
    reason: `rejected by ${reviewer}${reason ? `: ${reason}` : ''}`,
  });
  await app.audit.append(emailId, 'rejected', reviewer, { planId, seq, reason });
  await removeApprovalJob(app, planId, seq);
}

/**
 * Escalated at the deadline: the approval worker's job. A parked plan's job becomes due at its
 * deadline; if nobody decided by then, the email escalates with that reason. A job promoted early
 * by anything but Mailroom's own review route is not an approval and changes nothing.
 */
export async function escalateIfOverdue(
  app: AppContext,
  jobId: string,
): Promise<'escalated' | 'decided' | 'early'> {
  const ids = parseApprovalJobId(jobId);
  const review = ids ? await readReview(app, ids.planId) : null;
  if (!ids || !review || review.record.seq !== ids.seq || review.status !== 'pending') return 'decided';
  if (app.clock().getTime() < Date.parse(review.record.deadline)) {
    app.logger.warn(
      { planId: ids.planId, jobId },
      'approval job ran before its deadline (promoted outside Mailroom); ignored',
    );
    return 'early';
  }
  const reason = `no decision before the approval deadline (${review.record.deadline})`;
  if (!(await claimDecision(app, review.record, 'escalated', 'deadline', reason))) return 'decided';
  await escalateEmail(app, review.record.emailId, 'deadline', reason, { planId: ids.planId, seq: ids.seq });
  return 'escalated';
}
