import { ApprovalJob, jobIdFor } from '../queues/catalog.js';
import type { AppContext } from '../context.js';
import { MailroomError } from '../errors.js';
import type { EmailId } from '../ids.js';
import { StoredPlan } from '../planner/stored-plan.js';

export interface ReviewDecision {
  emailId: EmailId;
  /** Who decided: recorded in the audit trail. */
  reviewer: string;
}

async function parkedPlan(app: AppContext, emailId: EmailId) {
  const record = await app.ledger.get(emailId);
  if (!record) throw new MailroomError('INPUT_NOT_FOUND', `no email ${emailId}`);
  if (record.state !== 'awaiting_approval' || !record.planId) {
    throw new MailroomError('INPUT_NOT_FOUND', `${emailId} is ${record.state}, not awaiting approval`);
  }
  const job = await app.queues.get('approval').getJob(record.planId);
  const parsed = job ? ApprovalJob.safeParse(job.data) : null;
  if (!job || !parsed?.success) throw new MailroomError('INPUT_NOT_FOUND', `no parked plan for ${emailId}`);
  return { job, parked: parsed.data };
}

/**
 * A human approves a parked plan: the plan resumes at its gate with `approvedBy`, which covers
 * the rest of the plan the reviewer saw. The decision and the reviewer are audited. Review UIs
 * (the CLI today, Bull Board later) call this, never the queues directly.
 */
export async function approveParked(app: AppContext, decision: ReviewDecision): Promise<void> {
  const { emailId, reviewer } = decision;
  const { job, parked } = await parkedPlan(app, emailId);
  const raw = await app.redis.get(app.keys.plan(parked.planId));
  if (!raw) throw new MailroomError('CONTENT_EXPIRED', `plan ${parked.planId} is gone`);
  const step = StoredPlan.parse(JSON.parse(raw)).plan.steps[parked.resumeAt];
  if (!step) throw new MailroomError('PLAN_INVALID', `plan ${parked.planId} has no step ${parked.resumeAt}`);
  await app.audit.append(emailId, 'approved', reviewer, { planId: parked.planId, resumeAt: parked.resumeAt, reasons: parked.reasons });
  await app.ledger.setState(emailId, 'running', { reason: `approved by ${reviewer}` });
  await app.queues.add(
    'steps',
    { emailId, planId: parked.planId, stepIndex: parked.resumeAt, approvedBy: reviewer },
    { jobId: jobIdFor(parked.planId, step.id, 'approved') },
  );
  await job.remove();
}

/** A human rejects a parked plan: the email ends `rejected`, nothing after the gate runs. */
export async function rejectParked(app: AppContext, decision: ReviewDecision & { reason: string }): Promise<void> {
  const { emailId, reviewer } = decision;
  const { job, parked } = await parkedPlan(app, emailId);
  const reason = decision.reason.slice(0, 200);
  await app.ledger.setState(emailId, 'rejected', { reason: `rejected by ${reviewer}${reason ? `: ${reason}` : ''}` });
  await app.audit.append(emailId, 'rejected', reviewer, { planId: parked.planId, reason });
  await job.remove();
}
