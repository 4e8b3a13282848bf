import type { AuditEntry } from '../audit/audit-trail.js';
import { toolServices, type AppContext } from '../app/context.js';
import { MailroomError, toMailroomError, type ErrorCode } from '../kernel/errors.js';
import { planIdFor, type EmailId, type PlanId } from '../kernel/ids.js';
import { mailboxActionsFor } from '../mail/mailbox-actions.js';
import type { SourceInfo, TrustedContext } from '../model/trusted-context.js';
import { lazyChild, type Logger } from '../kernel/logger.js';
import { decideApproval } from '../planner/approval-policy.js';
import { autonomyPolicy } from '../planner/autonomy.js';
import { outputLabelFor } from '../planner/labels.js';
import { createPlanCache } from '../planner/plan-cache.js';
import { validatePlan } from '../planner/plan-validator.js';
import { planEmail, replanEmail, type PlanOutcome, type PlannerDeps } from '../planner/planner.js';
import type { ReplanFacts } from '../planner/planner-prompt.js';
import { plannerView, plannerVocabulary, type PlannerView } from '../planner/planner-view.js';
import { hoistBeforeGate } from '../planner/pre-gate.js';
import type { StoredPlan } from '../model/stored-plan.js';
import { jobIdFor, type JobData, type RerunJob } from '../queues/catalog.js';
import type { ToolContext } from '../tools/tool.js';
import { isEffect } from '../executor/effects.js';
import { queueParkedNotice } from '../executor/notify.js';
import { resolveArgs } from '../executor/resolve-args.js';
import { checkApprovedEffect, openReview, pendingReview, removeApprovalJob, type ReviewDecision } from '../executor/review.js';
import { parseApprovalJobId } from '../executor/review-ids.js';
import { claimDecision, readReview } from '../executor/review-record.js';
import { actsOnTheWorld, previewStep, type ShadowOutcome } from '../executor/shadow.js';
import { moneyOverCeiling, recordHeld } from '../executor/autonomy-ceiling.js';
import { recordSuggestions } from '../executor/suggest.js';
import { claimPlan, hasPlan, loadOutputs, loadPlan, loadTriage, saveOutput, saveTriage, type LabelledOutput, type TriageRecord } from '../store/run-store.js';

/**
 * The lifecycle of an email's run: every transition from triaged to a resting state, in one
 * module. Workers (src/run/ingest-worker.ts, src/planner/plan-worker.ts,
 * src/executor/step-worker.ts, the approval worker in src/app/workers.ts) parse a job and call
 * one function here; review UIs (the CLI, Bull Board) call `approveParked` / `rejectParked`.
 * What is stored lives in the run store (./run-store.ts); the ledger and the audit trail are
 * written here and nowhere else along the run.
 *
 *   triaged → planned (adopted) → started → [step]* → completed | escalated
 *                  ↑ replanned ↙         ↘ parked → approved → [step]* … | rejected | escalated
 *   any stage: quarantined (with a reason, in the dead-letter queue); in shadow: shadowed
 */

// ───────────────────────── the tool context ─────────────────────────

/** The one place a `ToolContext` is built: the app's tool services plus the step it runs in. */
export function toolContextFor(
  app: AppContext,
  step: { emailId: EmailId; planId: PlanId; stepId: string; triage: TriageRecord; logger: Logger; approvedBy?: string },
): ToolContext {
  return {
    ...toolServices(app),
    emailId: step.emailId,
    planId: step.planId,
    stepId: step.stepId,
    idempotencyKey: `${step.planId}.${step.stepId}`,
    trusted: step.triage.trusted,
    emailRef: step.triage.emailRef,
    logger: step.logger,
    ...(step.approvedBy ? { approvedBy: step.approvedBy } : {}),
    mailbox: mailboxActionsFor(app, step.emailId, step.triage.source),
  };
}

// ───────────────────────── resting states ─────────────────────────

type RestDeps = Pick<AppContext, 'ledger' | 'audit' | 'queues' | 'logger'>;

/** Where a failure was seen; recorded with a quarantined email. */
export type Stage = 'ingest' | 'plan' | 'steps' | 'source';

/**
 * Quarantined: the email (or, without an id, the job) goes to the dead-letter queue with the
 * reason, and the ledger and the audit trail say so, so no email ends without a visible reason.
 */
export async function quarantine(app: RestDeps, emailId: EmailId | null, stage: Stage, err: unknown, source: SourceInfo | null, rerun?: RerunJob): Promise<void> {
  const e = toMailroomError(err);
  // One entry per email: a second quarantine of the same email (a re-delivered job, the failed-job
  // sweep racing the 'failed' handler) must not show a human the same mail twice.
  const letter = { emailId, stage, code: e.publicCode, reason: e.message.slice(0, 500), source, ...(rerun ? { rerun } : {}) };
  await app.queues.add('deadLetter', letter, emailId ? { jobId: jobIdFor('dl', emailId) } : {});
  if (emailId) {
    await app.ledger.setState(emailId, 'quarantined', { reason: `${e.publicCode}: ${e.message.slice(0, 200)}` });
    await app.audit.append(emailId, 'quarantined', stage, { code: e.publicCode, reason: e.message.slice(0, 200) });
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
  unread: { emailId: EmailId; label: string; mailbox: string; mode: 'live' | 'shadow'; sizeBytes: number; source: SourceInfo },
  err: unknown,
): Promise<boolean> {
  if (!(await app.ledger.create(unread.emailId, unread.label, { mailbox: unread.mailbox, mode: unread.mode }))) return false;
  await app.audit.append(unread.emailId, 'ingested', 'ingest', { source: unread.source.kind, sizeBytes: unread.sizeBytes });
  await quarantine(app, unread.emailId, 'source', err, unread.source);
  return true;
}

/** Escalated: a human takes the email over (from the plan's own `escalate` step, a failure, or a deadline). */
export async function escalate(app: Pick<AppContext, 'ledger' | 'audit'>, emailId: EmailId, actor: string, reason: string, data: Record<string, unknown> = {}): Promise<void> {
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
 * Parked: the plan waits for a human at step `resumeAt` (the review record and the approval job
 * are src/executor/review.ts's `openReview`); a shadow plan ends `shadowed` instead.
 */
export async function park(
  app: AppContext,
  emailId: EmailId,
  plan: Pick<StoredPlan, 'planId' | 'shadow' | 'autonomy'>,
  actor: string,
  reasons: string[],
  resumeAt: number,
): Promise<void> {
  const { planId } = plan;
  if (plan.shadow) {
    await shadowed(app, emailId, planId, 'park', reasons);
    return;
  }
  const { record, clipped } = await openReview(app, emailId, planId, reasons, resumeAt);
  // Autonomy `suggest`: what the plan would do is recorded as would-do effects for the reviewer.
  await recordSuggestions(app, emailId, planId, plan, record.effects);
  await app.ledger.setState(emailId, 'awaiting_approval', { reason: clipped.join('; ').slice(0, 300) });
  await app.audit.append(emailId, 'parked', actor, { planId, reasons: clipped, resumeAt, seq: record.seq, digest: record.digest, deadline: record.deadline });
  await queueParkedNotice(app, { emailId, planId, seq: record.seq });
  app.logger.info({ emailId, planId, seq: record.seq }, 'plan parked for review');
}

// ───────────────────────── triage and planning ─────────────────────────

/**
 * Triaged: the triage record is stored, the ledger says so, and planning is enqueued. `before`:
 * the ingest worker's own events (parsed, sender verified, …), written with these in one append.
 */
export async function triaged(app: AppContext, emailId: EmailId, record: TriageRecord, before: readonly AuditEntry[] = []): Promise<void> {
  const { trusted } = record;
  // The record and the trail do not depend on each other: both are written before planning is enqueued.
  await Promise.all([
    saveTriage(app, emailId, record),
    app.audit.appendAll(emailId, [
      ...before,
      { type: 'classified', actor: 'ingest', data: { category: trusted.category.name, source: trusted.category.source } },
      { type: 'triaged', actor: 'ingest', data: { account: trusted.account?.id ?? null, auto: trusted.auto.kind } },
    ]),
  ]);
  await app.ledger.setState(emailId, 'triaged', {
    category: trusted.category.name,
    sender: trusted.sender.verified ? 'verified' : 'unverified',
    robot: trusted.auto.kind === 'none' ? '' : trusted.auto.kind,
  });
  await app.queues.add('plan', { emailId }, { jobId: emailId });
}

/**
 * The planner's input for an email: its view of the trusted context, checked against the names
 * this configuration declares. Every planner path (first plans, cache, replans) starts here; the
 * `TrustedContext` itself stays with the approval policy and the tools.
 */
export function plannerViewFor(app: Pick<AppContext, 'config'>, context: TrustedContext): PlannerView {
  return plannerView(context, plannerVocabulary(app.config));
}

export function plannerDeps(app: AppContext): PlannerDeps {
  return { llm: app.llm, registry: app.registry, cache: createPlanCache(app.redis, app.keys) };
}

/** Plans a triaged email (its first plan) and adopts the plan; a re-delivered job resumes the plan already stored. */
export async function planTriaged(app: AppContext, emailId: EmailId, log: Logger): Promise<void> {
  // A re-delivered job whose first plan exists does not ask the planner (or the model) again.
  if (await hasPlan(app, planIdFor(emailId, 0))) {
    await resumeStoredPlan(app, emailId, planIdFor(emailId, 0));
    return;
  }
  const { trusted } = await loadTriage(app, emailId);
  const outcome = await planEmail(plannerDeps(app), plannerViewFor(app, trusted));
  const planId = await adoptPlan(app, emailId, trusted, outcome, { generation: 0 });
  log.debug({ planId, planner: outcome.planner }, 'planned');
}

/**
 * Adopted: stores a validated plan (first writer wins), audits it, decides approval, and either
 * parks it or starts it. Used for first plans and for replans alike, so both pass the same gate.
 */
export async function adoptPlan(
  app: AppContext,
  emailId: EmailId,
  context: TrustedContext,
  outcome: PlanOutcome,
  meta: { generation: number; replaces?: PlanId },
): Promise<PlanId> {
  const planId = planIdFor(emailId, meta.generation);
  // Fixed when the email was taken in; a replan of a shadow email stays in shadow.
  const shadow = (await app.ledger.mode(emailId)) === 'shadow';
  // Reads and drafts that do not depend on a gated step run before the gate: the reviewer sees their results.
  const plan = hoistBeforeGate(outcome.plan, app.registry);
  const approval = decideApproval(plan, app.registry, context, outcome.validation.parkReasons, autonomyPolicy(app.config));
  const fresh: StoredPlan = {
    planId,
    emailId,
    plan,
    planner: outcome.planner,
    registryVersion: app.registry.version,
    createdAt: app.clock().toISOString(),
    generation: meta.generation,
    gate: approval.decision === 'park' ? { step: approval.gate, reasons: approval.reasons } : null,
    shadow,
    autonomy: approval.steps,
    ...(approval.decision === 'refuse' ? { refused: approval.reasons } : {}),
    // A robot's email completes with its kind as the reason (`bounce`, `loop`, …).
    ...(outcome.planner === 'robot' && context.auto.kind !== 'none' ? { completionReason: context.auto.kind } : {}),
  };
  // A re-delivered job adopts the plan already stored, never a second one.
  if (!(await claimPlan(app, fresh))) {
    await resumeStoredPlan(app, emailId, planId);
    return planId;
  }
  // The adoption's events in one append, in the order they happened; then the ledger.
  const events: AuditEntry[] = outcome.rejected.map((errors) => ({
    type: 'validated',
    actor: 'planner',
    data: { ok: false, errors: errors.map((e) => ({ rule: e.rule, stepId: e.stepId, arg: e.arg })) },
  }));
  events.push({ type: meta.replaces ? 'replanned' : 'planned', actor: outcome.planner, data: {
    planId,
    plan,
    cacheHit: outcome.cacheHit,
    ...(outcome.cacheLookup ? { cacheLookup: true } : {}),
    registryVersion: app.registry.version,
    generation: meta.generation,
    ...(meta.replaces ? { replaces: meta.replaces } : {}),
    ...(outcome.fallbackReason ? { fallbackReason: outcome.fallbackReason } : {}),
  } });
  events.push({ type: 'validated', actor: 'planner', data: { ok: outcome.validation.ok, planId } });
  events.push({ type: 'autonomy', actor: 'policy', data: { planId, steps: approval.steps } });
  // A refused plan (autonomy `never`) has no gate and is not approved: startPlan escalates it.
  if (fresh.gate) events.push({ type: 'gated', actor: 'policy', data: { planId, gate: fresh.gate.step, reasons: fresh.gate.reasons } });
  else if (!fresh.refused) events.push({ type: 'approved', actor: 'policy', data: { planId, auto: true } });
  await app.audit.appendAll(emailId, events);
  await app.ledger.setState(emailId, 'planned', { planId, tools: plan.steps.map((s) => s.tool).join(',') });
  await startPlan(app, emailId, fresh);
  return planId;
}

/** Started: parks a plan gated at its first step, or enqueues that step; both idempotent by job id. */
async function startPlan(app: AppContext, emailId: EmailId, stored: StoredPlan): Promise<void> {
  // Autonomy `never`: the step is refused before anything of the plan runs; a human takes over.
  if (stored.refused) {
    if (stored.shadow) await shadowed(app, emailId, stored.planId, 'escalate', stored.refused);
    else await escalate(app, emailId, 'policy', stored.refused.join('; ').slice(0, 300), { planId: stored.planId });
    return;
  }
  if (stored.gate?.step === 0) {
    await park(app, emailId, stored, 'policy', stored.gate.reasons, 0);
    return;
  }
  const first = stored.plan.steps[0];
  await app.queues.add('steps', { emailId, planId: stored.planId, stepIndex: 0 }, { jobId: jobIdFor(stored.planId, first?.id ?? 's0') });
}

/**
 * Resumed: a re-delivered plan job (or replan) whose plan is already stored starts it only if the
 * crash came before it started; an email already running this plan, parked or finished is left
 * alone. A replan replaces a plan that was `running`: found by the chaos run, a worker killed
 * between storing the new plan and starting it left the email `running` the old plan for ever.
 * The ledger names the plan that started, so a running email whose plan is not this one has not
 * started it.
 */
async function resumeStoredPlan(app: AppContext, emailId: EmailId, planId: PlanId): Promise<void> {
  const record = await app.ledger.get(emailId);
  const notStarted = record?.state === 'triaged' || record?.state === 'planned' || (record?.state === 'running' && record.planId !== planId);
  if (record && !notStarted) return;
  const stored = await loadPlan(app, planId);
  await app.ledger.setState(emailId, 'planned', { planId, tools: stored.plan.steps.map((s) => s.tool).join(',') });
  await startPlan(app, emailId, stored);
}

// ───────────────────────── steps ─────────────────────────

/** Values of control arguments for the audit: literals and trusted references, never tainted data. */
function auditArgs(args: Record<string, unknown>, untrusted: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(args).map(([k, v]) => [k, untrusted.includes(k) ? '[untrusted ref]' : v]));
}

/**
 * Whether a step may run in the job of the step before it: a step without side effects (it reads,
 * or has a sandboxed reader read or draft) costs no job of its own, since a crash that repeats it
 * repeats no effect. Every step that writes, or acts outside, starts a job of its own.
 */
function sharesJob(app: Pick<AppContext, 'registry'>, step: { tool: string }): boolean {
  const tool = app.registry.get(step.tool);
  return tool !== undefined && tool.risk === 'read' && !isEffect(tool);
}

/**
 * Runs the steps of a plan from the job's step on, one job per side-effect boundary: the job's
 * own step, then each following step without side effects (`sharesJob`), in order, until the next
 * step that writes or acts (enqueued as its own job), a gate, a checkpoint, or the plan's end.
 * Deterministic: the next step is the next in the validated plan, never a model's choice. Each
 * output is persisted before the next step starts; a re-delivered job skips the steps whose
 * output exists. Throws what a step threw, for `stepFailed` (after the worker's retries), which
 * finds the failing step as the first without an output (`currentStep`).
 */
export async function runStep(app: AppContext, job: JobData<'steps'>, attempt: number, log: Logger): Promise<void> {
  const stored = await loadPlan(app, job.planId);
  // Read from Redis once, when the job starts (the authority on which steps have run); the steps
  // this job runs next are read-only ones (`sharesJob`) and see the outputs it stored itself.
  const outputs = await loadOutputs(app, job.planId);
  let stepIndex = job.stepIndex;
  while ((await runOneStep(app, stored, { ...job, stepIndex }, outputs, attempt, log)) === 'next') stepIndex += 1;
}

/**
 * One step; answers whether the run goes on in this job ('next') or stopped here (parked,
 * replanned, finished, enqueued). `outputs`: the plan's stored outputs, to which this step adds its own.
 */
async function runOneStep(
  app: AppContext,
  stored: StoredPlan,
  job: JobData<'steps'>,
  outputs: Record<string, LabelledOutput>,
  attempt: number,
  log: Logger,
): Promise<'next' | 'stop'> {
  const { emailId, planId, stepIndex, approvedBy } = job;
  const step = stored.plan.steps[stepIndex];
  if (!step) throw new MailroomError('PLAN_INVALID', `plan ${planId} has no step ${stepIndex}`);
  // The plan waits here for a human; the steps before the gate have run.
  if (stored.gate && stepIndex === stored.gate.step && !approvedBy) {
    await park(app, emailId, stored, 'policy', stored.gate.reasons, stepIndex);
    return 'stop';
  }
  if (!outputs[step.id]) {
    const tool = app.registry.get(step.tool);
    if (!tool) throw new MailroomError('TOOL_UNKNOWN', `tool ${step.tool} is not in the registry`);
    const triage = await loadTriage(app, emailId);
    const sources = { trusted: triage.trusted, emailRef: triage.emailRef, outputs };
    const resolved = resolveArgs(step, tool, sources);
    // An effect after the gate (or any effect an approval is claimed for) runs only as the
    // reviewer saw it: the approval is read from Mailroom's review record, never from job data.
    let reviewer: string | undefined;
    let waits: string[] = [];
    if (isEffect(tool) && (approvedBy !== undefined || (stored.gate !== null && stepIndex >= stored.gate.step))) {
      const verdict = await checkApprovedEffect(app, planId, step, tool, sources);
      if (verdict.ok) reviewer = verdict.reviewer;
      else waits = [verdict.reason];
    } else {
      // A money step left `auto` by an autonomy rule runs only up to the rule's ceiling.
      const money = await moneyOverCeiling(app, emailId, planId, stored.autonomy, step, resolved.args);
      waits = [...resolved.parkReasons, ...money];
      if (waits.length && !money.length && !approvedBy) await recordHeld(app, emailId, planId, stored.autonomy, step.id, waits);
    }
    if (waits.length) {
      await park(app, emailId, stored, 'executor', waits, stepIndex);
      return 'stop';
    }
    const input = tool.input.safeParse(resolved.args);
    if (!input.success) throw new MailroomError('TOOL_INPUT_INVALID', `arguments of ${tool.name} do not match its schema`);
    // In shadow, a step that would act is previewed and audited as `would_do` instead.
    const shadow = stored.shadow === true && actsOnTheWorld(tool);
    const args = auditArgs(resolved.args, tool.untrustedInputs);
    // The first step moves the email to running; later steps find it there (a plan's steps run in
    // order, and an approval sets it running again before the step it resumes at). Issued in one
    // tick on the one connection, the move and the trail's entry run in Redis in this order.
    await Promise.all([
      stepIndex === 0 ? app.ledger.setState(emailId, 'running') : undefined,
      shadow ? undefined : app.audit.append(emailId, 'step_started', 'executor', { planId, stepId: step.id, tool: tool.name, args, attempt }),
    ]);
    const started = Date.now();
    const ctx = toolContextFor(app, { emailId, planId, stepId: step.id, triage, logger: lazyChild(log, { stepId: step.id }), ...(reviewer ? { approvedBy: reviewer } : {}) });
    const rawOutput = shadow ? await previewStep(app, tool, input.data, ctx, args) : await tool.run(input.data, ctx);
    const output = tool.output.safeParse(rawOutput);
    if (!output.success) throw new MailroomError('TOOL_OUTPUT_INVALID', `output of ${tool.name} does not match its schema`);
    const labelled: LabelledOutput = {
      value: output.data,
      label: outputLabelFor(tool, Object.values(resolved.labels)),
      taintedFields: [...tool.taintedOutputs],
    };
    // Both land before the next step is enqueued; neither depends on the other.
    const first = Object.keys(outputs).length === 0;
    outputs[step.id] = labelled;
    await Promise.all([
      saveOutput(app, planId, step.id, labelled, first),
      shadow
        ? undefined
        : app.audit.append(emailId, 'step_finished', 'executor', {
            planId,
            stepId: step.id,
            tool: tool.name,
            // A duration, not a timestamp: measured on the process's own clock.
            ms: Date.now() - started,
            // Outputs named tainted are not echoed into the audit.
            output: Object.fromEntries(Object.entries(output.data).filter(([k]) => !tool.taintedOutputs.includes(k))),
          }),
    ]);
  }
  const next = stored.plan.steps[stepIndex + 1];
  if (next && step.checkpoint && app.llm.mode === 'openai') {
    if (stored.generation < app.config.maxReplans) {
      await replan(app, emailId, stored, stepIndex + 1, { reason: 'checkpoint', failed: null });
      return 'stop';
    }
  }
  if (!next) {
    await finishPlan(app, emailId, stored);
    return 'stop';
  }
  if (sharesJob(app, next)) return 'next';
  // An approval covers the rest of the plan the reviewer saw, not just the gated step.
  await app.queues.add('steps', { emailId, planId, stepIndex: stepIndex + 1, ...(approvedBy ? { approvedBy } : {}) }, { jobId: jobIdFor(planId, next.id) });
  return 'stop';
}

/**
 * The step a job of this plan is at: the first from the job's own step on whose output is not
 * stored (the job ran the ones before it). What a failure or a retry is recorded against.
 */
async function currentStep(app: AppContext, stored: StoredPlan | null, job: JobData<'steps'>): Promise<number> {
  if (!stored) return job.stepIndex;
  const outputs = await loadOutputs(app, stored.planId);
  let at = job.stepIndex;
  while (at < stored.plan.steps.length - 1 && outputs[stored.plan.steps[at]?.id ?? '']) at += 1;
  return at;
}

/**
 * Failures a new plan cannot fix, or must not try to: an unknown delivery outcome needs a human
 * to look; a taint violation is an attack or a bug; expired content cannot be read again.
 */
const NO_REPLAN: ReadonlySet<ErrorCode> = new Set(['DELIVERY_UNKNOWN', 'TAINT_VIOLATION', 'CONTENT_EXPIRED', 'SENDER_UNVERIFIED']);

/**
 * Why a step failed, for the audit and the log: our own message, which names causes in codes;
 * an error we did not make (INTERNAL) may carry anything, so only its code.
 */
export function failureReason(e: MailroomError): string | undefined {
  return e.code === 'INTERNAL' ? undefined : e.message.slice(0, 300);
}

/** A step attempt failed and BullMQ tries it again after `retryInMs`: audited with the cause. */
export async function stepRetrying(app: AppContext, job: JobData<'steps'>, e: MailroomError, attempt: number, retryInMs: number): Promise<void> {
  const { emailId, planId } = job;
  const stored = await loadPlan(app, planId).catch(() => null);
  const stepIndex = await currentStep(app, stored, job);
  const stepId = stored?.plan.steps[stepIndex]?.id ?? `#${stepIndex}`;
  await app.audit.append(emailId, 'step_retrying', 'executor', { planId, stepId, code: e.publicCode, reason: failureReason(e), attempt, retryInMs });
}

/** A step failed for good (no retry left, or not retryable): park, replan or escalate. */
export async function stepFailed(app: AppContext, job: JobData<'steps'>, e: MailroomError, attempt: number, log: Logger): Promise<void> {
  const { emailId, planId } = job;
  const stored = await loadPlan(app, planId).catch(() => null);
  const stepIndex = await currentStep(app, stored, job);
  const stepId = stored?.plan.steps[stepIndex]?.id ?? `#${stepIndex}`;
  await app.audit.append(emailId, 'step_failed', 'executor', { planId, stepId, code: e.publicCode, reason: failureReason(e), attempts: attempt });
  if (e.code === 'NEEDS_REVIEW') {
    if (stored && !job.approvedBy) await recordHeld(app, emailId, planId, stored.autonomy, stepId, [e.message]);
    await park(app, emailId, stored ?? { planId }, 'executor', [`step ${stepId}: ${e.message}`], stepIndex);
    return;
  }
  const tool = stored?.plan.steps[stepIndex]?.tool;
  if (stored && tool && !NO_REPLAN.has(e.code) && stored.generation < app.config.maxReplans) {
    log.info({ stepId, code: e.publicCode }, 'step failed; replanning');
    await replan(app, emailId, stored, stepIndex, { reason: 'step_failed', failed: { stepId, tool, code: e.publicCode } });
    return;
  }
  log.warn({ stepId, code: e.publicCode, reason: failureReason(e) }, 'step failed; escalating');
  if (stored?.shadow) await shadowed(app, emailId, planId, 'escalate', [`${e.publicCode} at step ${stepId}`]);
  else await escalate(app, emailId, 'executor', `${e.publicCode} at step ${stepId}`);
}

/** Numbers, booleans and nulls of untainted output fields: the only outputs a replan may see. */
export function typedFacts(output: LabelledOutput): Record<string, number | boolean | null> {
  const facts: Record<string, number | boolean | null> = {};
  for (const [k, v] of Object.entries(output.value)) {
    if (output.taintedFields.includes(k)) continue;
    if (typeof v === 'number' || typeof v === 'boolean' || v === null) facts[k] = v;
  }
  return facts;
}

/** Replanned: the rest of a plan is replaced with a new one made from trusted facts only. */
async function replan(app: AppContext, emailId: EmailId, stored: StoredPlan, upTo: number, what: Pick<ReplanFacts, 'reason' | 'failed'>): Promise<void> {
  const outputs = await loadOutputs(app, stored.planId);
  const completed = stored.plan.steps.slice(0, upTo).flatMap((s) => {
    const out = outputs[s.id];
    return out ? [{ stepId: s.id, tool: s.tool, facts: typedFacts(out) }] : [];
  });
  const { trusted } = await loadTriage(app, emailId);
  const outcome = await replanEmail(plannerDeps(app), plannerViewFor(app, trusted), { ...what, completed });
  await adoptPlan(app, emailId, trusted, outcome, { generation: stored.generation + 1, replaces: stored.planId });
}

/** Finished: the last step ran; the email completes, or escalates when the plan handed it to a human. */
async function finishPlan(app: AppContext, emailId: EmailId, stored: StoredPlan): Promise<void> {
  const escalated = stored.plan.steps.some((s) => s.tool === 'escalate');
  if (stored.shadow) {
    await shadowed(app, emailId, stored.planId, escalated ? 'escalate' : 'complete', escalated ? ['plan escalated to a human'] : []);
    return;
  }
  if (escalated) {
    await escalate(app, emailId, 'executor', 'plan escalated to a human', { planId: stored.planId });
    return;
  }
  const reason = stored.completionReason ?? '';
  await app.ledger.setState(emailId, 'completed', { reason });
  await app.audit.append(emailId, 'completed', 'executor', { planId: stored.planId, ...(reason ? { reason } : {}) });
}

// ───────────────────────── a human's decision ─────────────────────────

/**
 * Approved: a human approves a parked plan and it resumes at its gate. The approval binds the
 * effects shown (their digests are in the review record); each effect is checked against them
 * before it runs. The plan is validated again against today's tools first. Only the first of
 * concurrent decisions counts. Review UIs (the CLI, Bull Board) call this, never the queues.
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
    await escalate(app, emailId, 'review', `approved by ${reviewer}, but the plan no longer validates against the current tools: ${why}`, { planId });
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

/** Rejected: a human rejects a parked plan; the email ends `rejected`, nothing after the gate runs. */
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
 * Escalated at the deadline: the approval worker's job. A parked plan's job becomes due at its
 * deadline; if nobody decided by then, the email escalates with that reason. A job promoted early
 * by anything but Mailroom's own review route is not an approval and changes nothing.
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
  await escalate(app, review.record.emailId, 'deadline', reason, { planId: ids.planId, seq: ids.seq });
  return 'escalated';
}
