import { escalateEmail } from '../audit/outcomes.js';
import type { AppContext } from '../context.js';
import { MailroomError } from '../errors.js';
import { PlanId, type EmailId } from '../ids.js';
import { approvalJobId, parseApprovalJobId } from './review-ids.js';
import { queueParkedNotice } from './notify.js';
import { recordSuggestions } from './suggest.js';

export { approvalJobId, parseApprovalJobId };
import { loadTriage } from '../planner/plan-worker.js';
import { validatePlan } from '../planner/plan-validator.js';
import type { Step } from '../planner/plan.js';
import { jobIdFor } from '../queues/catalog.js';
import type { ToolDescriptor } from '../tools/tool.js';
import { describeEffect, effectDigest } from './effects.js';
import { loadOutputs, loadPlan } from './plan-store.js';
import type { LabelledOutput } from './resolve-args.js';
import { claimDecision, nextReviewSeq, readReview, writeReview, type ReviewState } from './review-record.js';
import { buildReview } from './review-view.js';
import type { TrustedContext } from '../ingest/trusted-context.js';
import type { ContentRef } from '../ids.js';

export interface ReviewDecision {
  emailId: EmailId;
  /** Who decided: recorded in the audit trail. */
  reviewer: string;
  /** The park the reviewer saw (from the dashboard's job id); a decision on an older view is refused. */
  seq?: number;
}

/**
 * Parks a plan for a human at step `resumeAt`. What the reviewer will see (every effect from
 * there on, resolved now, with the full text of each message) is recorded where the dashboard
 * cannot write, with its digest; the approval job carries a copy for display, delayed until the
 * deadline, when the approval worker escalates it if nobody decided.
 */
export async function parkForReview(app: AppContext, emailId: EmailId, planId: PlanId, actor: string, reasons: string[], resumeAt: number): Promise<void> {
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
    context: triage.context,
    emailRef: triage.contentRef,
    outputs,
  });
  await writeReview(app, record);
  await recordSuggestions(app, emailId, planId, stored, record.effects);
  // What the review needs must outlive the wait.
  const ttl = app.config.contentTtlSeconds;
  await Promise.all([app.keys.plan(planId), app.keys.planOutputs(planId), app.keys.context(emailId)].map((k) => app.redis.expire(k, ttl)));
  await app.queues.add('approval', view, { jobId: approvalJobId(planId, seq), delay: app.config.approval.deadlineSeconds * 1000, name: record.title });
  await app.ledger.setState(emailId, 'awaiting_approval', { reason: clipped.join('; ').slice(0, 300) });
  await app.audit.append(emailId, 'parked', actor, { planId, reasons: clipped, resumeAt, seq, digest: record.digest, deadline: record.deadline });
  await queueParkedNotice(app, { emailId, planId, seq });
  app.logger.info({ emailId, planId, seq }, 'plan parked for review');
}

/** The pending review of an email, checked against the ledger (which the dashboard cannot write). */
async function pendingReview(app: AppContext, decision: ReviewDecision): Promise<ReviewState> {
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

async function removeApprovalJob(app: AppContext, planId: PlanId, seq: number): Promise<void> {
  const job = await app.queues.get('approval').getJob(approvalJobId(planId, seq));
  await job?.remove().catch((err: unknown) => app.logger.warn({ err, planId }, 'approval job could not be removed'));
}

/**
 * A human approves a parked plan: it resumes at its gate. The approval binds the effects shown
 * (their digests are in the review record); each effect is checked against them before it runs.
 * The plan is validated again against today's tools first. Only the first of concurrent
 * decisions counts. Review UIs (the CLI, Bull Board) call this, never the queues directly.
 */
export async function approveParked(app: AppContext, decision: ReviewDecision): Promise<'approved' | 'escalated'> {
  const { emailId, reviewer } = decision;
  const review = await pendingReview(app, decision);
  const { planId, resumeAt, seq } = review.record;
  const stored = await loadPlan(app, planId);
  const validation = validatePlan(stored.plan, app.registry);
  const step = stored.plan.steps[resumeAt];
  if (!validation.ok || !step) {
    const why = validation.errors.map((e) => e.message).join('; ').slice(0, 200) || `no step ${resumeAt}`;
    if (!(await claimDecision(app, review.record, 'escalated', reviewer, why))) throw new MailroomError('INPUT_NOT_FOUND', `${emailId} was decided meanwhile`);
    await app.audit.append(emailId, 'approved', reviewer, { planId, seq, digest: review.record.digest, valid: false });
    await escalateEmail(app, emailId, 'review', `approved by ${reviewer}, but the plan no longer validates against the current tools: ${why}`, { planId });
    await removeApprovalJob(app, planId, seq);
    return 'escalated';
  }
  if (!(await claimDecision(app, review.record, 'approved', reviewer))) throw new MailroomError('INPUT_NOT_FOUND', `${emailId} was decided meanwhile`);
  await app.audit.append(emailId, 'approved', reviewer, { planId, resumeAt, seq, reasons: review.record.reasons, digest: review.record.digest });
  await app.ledger.setState(emailId, 'running', { reason: `approved by ${reviewer}` });
  await app.queues.add('steps', { emailId, planId, stepIndex: resumeAt, approvedBy: reviewer }, { jobId: jobIdFor(planId, step.id, 'approved', String(seq)) });
  await removeApprovalJob(app, planId, seq);
  return 'approved';
}

/** A human rejects a parked plan: the email ends `rejected`, nothing after the gate runs. */
export async function rejectParked(app: AppContext, decision: ReviewDecision & { reason: string }): Promise<void> {
  const { emailId, reviewer } = decision;
  const review = await pendingReview(app, decision);
  const { planId, seq } = review.record;
  const reason = decision.reason.slice(0, 200);
  if (!(await claimDecision(app, review.record, 'rejected', reviewer, reason))) throw new MailroomError('INPUT_NOT_FOUND', `${emailId} was decided meanwhile`);
  await app.ledger.setState(emailId, 'rejected', { reason: `rejected by ${reviewer}${reason ? `: ${reason}` : ''}` });
  await app.audit.append(emailId, 'rejected', reviewer, { planId, seq, reason });
  await removeApprovalJob(app, planId, seq);
}

/**
 * The approval worker's job: a parked plan's job becomes due at its deadline. If nobody decided
 * by then, the email escalates with that reason. A job promoted early by anything but Mailroom's
 * own review route is not an approval and changes nothing.
 */
export async function escalateIfOverdue(app: AppContext, jobId: string): Promise<'escalated' | 'decided' | 'early'> {
  const ids = parseApprovalJobId(jobId);
  const review = ids ? await readReview(app, ids.planId) : null;
  if (!ids || !review || review.record.seq !== ids.seq || review.status !== 'pending') return 'decided';
  if (app.clock().getTime() < Date.parse(review.record.deadline)) {
    app.logger.warn({ planId: ids.planId, jobId }, 'approval job ran before its deadline (promoted outside Mailroom); ignored');
    return 'early';
  }
  const reason = `no decision before the approval deadline (${review.record.deadline})`;
  if (!(await claimDecision(app, review.record, 'escalated', 'deadline', reason))) return 'decided';
  await escalateEmail(app, review.record.emailId, 'deadline', reason, { planId: ids.planId, seq: ids.seq });
  return 'escalated';
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
  sources: { context: TrustedContext; emailRef: ContentRef; outputs: Record<string, LabelledOutput> },
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
