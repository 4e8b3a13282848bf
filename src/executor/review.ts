import type { AppContext } from '../services/services.js';
import { MailroomError } from '../kernel/errors.js';
import { PlanId, type EmailId } from '../kernel/ids.js';
import type { Step } from '../model/plan.js';
import { keepForReview, loadOutputs, loadPlan, loadTriage } from '../store/run-store.js';
import type { ToolDescriptor } from '../tools/tool.js';
import { describeEffect, effectDigest } from './effects.js';
import type { RefSources } from './resolve-args.js';
import { approvalJobId } from './review-ids.js';
import { nextReviewSeq, readReview, writeReview, type ReviewRecord, type ReviewState } from './review-record.js';
import { buildReview } from './review-view.js';


/**
 * The review of a parked plan: what a human is shown, the record of it that only Mailroom writes,
 * and the checks an approved effect must pass. The transitions (parked, approved, rejected,
 * escalated at the deadline) are src/run/lifecycle.ts's; it calls these.
 */

export interface ReviewDecision {
  emailId: EmailId;
  /** Who decided: recorded in the audit trail. */
  reviewer: string;
  /** The park the reviewer saw (from the dashboard's job id); a decision on an older view is refused. */
  seq?: number;
}

/**
 * Opens the review of a plan parked at step `resumeAt`. What the reviewer will see (every effect
 * from there on, resolved now, with the full text of each message) is recorded where the
 * dashboard cannot write, with its digest; the approval job carries a copy for display, delayed
 * until the deadline, when the approval worker escalates it if nobody decided.
 */
export async function openReview(
  app: AppContext,
  emailId: EmailId,
  planId: PlanId,
  reasons: readonly string[],
  resumeAt: number,
): Promise<{ record: ReviewRecord; clipped: string[] }> {
  const clipped = reasons.map((r) => r.slice(0, 300));
  const stored = await loadPlan(app, planId);
  const triage = await loadTriage(app, emailId);
  const outputs = await loadOutputs(app, planId);
  const seq = await nextReviewSeq(app, planId);
  const { record, view } = await buildReview(app, {
    emailId,
    planId,
    seq,
    resumeAt,
    reasons: clipped,
    stored,
    trusted: triage.trusted,
    emailRef: triage.emailRef,
    outputs,
  });
  await writeReview(app, record);
  await keepForReview(app, emailId, planId);
  await app.queues.add('approval', view, { jobId: approvalJobId(planId, seq), delay: app.config.approval.deadlineSeconds * 1000, name: record.title });
  return { record, clipped };
}

/** The pending review of an email, checked against the ledger (which the dashboard cannot write). */
export async function pendingReview(app: AppContext, decision: ReviewDecision): Promise<ReviewState> {
  const { emailId } = decision;
  const record = await app.ledger.get(emailId);
  if (!record) throw new MailroomError('INPUT_NOT_FOUND', `no email ${emailId}`);
  const planId = PlanId.safeParse(record.planId);
  if (record.state !== 'awaiting_approval' || !planId.success) {
    throw new MailroomError('INPUT_NOT_FOUND', `${emailId} is ${record.state}, not awaiting approval`);
  }
  const review = await readReview(app, planId.data);
  if (!review || review.record.emailId !== emailId) throw new MailroomError('INPUT_NOT_FOUND', `no parked plan for ${emailId}`);
  if (review.status !== 'pending') throw new MailroomError('INPUT_NOT_FOUND', `${emailId} was already ${review.status} by ${review.decidedBy ?? 'someone'}`);
  if (decision.seq !== undefined && decision.seq !== review.record.seq) {
    throw new MailroomError('INPUT_NOT_FOUND', `${emailId} parked again since that view; reload and decide on what it shows now`);
  }
  return review;
}

/** Removes a decided review's approval job from the queue (and so from Bull Board). */
export async function removeApprovalJob(app: AppContext, planId: PlanId, seq: number): Promise<void> {
  const job = await app.queues.get('approval').getJob(approvalJobId(planId, seq));
  await job?.remove().catch((err: unknown) => app.logger.warn({ err, planId }, 'approval job could not be removed'));
}

/**
 * Whether an effect may run as it stands now: its plan's review was approved and the effect, as
 * resolved now, is exactly what the reviewer was shown. Otherwise the reason it must wait again.
 */
export async function checkApprovedEffect(
  app: AppContext,
  planId: PlanId,
  step: Step,
  tool: ToolDescriptor,
  sources: RefSources,
): Promise<{ ok: true; reviewer: string } | { ok: false; reason: string }> {
  const review = await readReview(app, planId);
  if (!review || review.status !== 'approved' || !review.decidedBy) {
    return { ok: false, reason: `step ${step.id}: ${tool.name} has no recorded approval` };
  }
  const shown = review.record.effectDigests[step.id];
  if (!shown) return { ok: false, reason: `step ${step.id}: ${tool.name} was not shown to the reviewer when the plan was approved` };
  const now = await describeEffect(app, step, tool, sources);
  if (now.pending !== null || effectDigest(now) !== shown) {
    return { ok: false, reason: `step ${step.id}: ${tool.name} differs from what ${review.decidedBy} approved` };
  }
  return { ok: true, reviewer: review.decidedBy };
}
