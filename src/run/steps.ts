import { toolServices } from '../tools/tool.js';
import { type AppContext } from '../services/services.js';
import { MailroomError, type ErrorCode } from '../kernel/errors.js';
import { type EmailId, type PlanId } from '../kernel/ids.js';
import { mailboxActionsFor } from '../mail/mailbox-actions.js';
import { lazyChild, type Logger } from '../kernel/logger.js';
import { outputLabelFor } from '../planner/labels.js';
import { replanEmail } from '../planner/planner.js';
import type { ReplanFacts } from '../planner/planner-prompt.js';
import type { StoredPlan } from '../model/stored-plan.js';
import { jobIdFor, type JobData } from '../queues/catalog.js';
import type { ToolContext } from '../tools/tool.js';
import { isEffect } from '../executor/effects.js';
import { resolveArgs } from '../executor/resolve-args.js';
import { checkApprovedEffect } from '../executor/review.js';
import { actsOnTheWorld, previewStep } from '../executor/shadow.js';
import { moneyOverCeiling, recordHeld } from '../executor/autonomy-ceiling.js';
import {
  loadOutputs,
  loadPlan,
  loadTriage,
  saveOutput,
  type LabelledOutput,
  type TriageRecord,
} from '../store/run-store.js';
import { escalateEmail, failureReason, shadowed } from './rest.js';
import { park } from './park.js';
import { adoptPlan, plannerDeps, plannerViewFor } from './planning.js';

/**
 * Steps: each runs with its tool context, one job per side-effect boundary; a failed step is
 * retried, replanned, parked or escalated; the last one finishes the plan.
 */
/** The one place a `ToolContext` is built: the app's tool services plus the step it runs in. */
export function toolContextFor(
  app: AppContext,
  step: {
    emailId: EmailId;
    planId: PlanId;
    stepId: string;
    triage: TriageRecord;
    logger: Logger;
    approvedBy?: string;
  },
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

/** Values of control arguments for the audit: literals and trusted references, never tainted data. */
function auditArgs(args: Record<string, unknown>, untrusted: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(args).map(([k, v]) => [k, untrusted.includes(k) ? '[untrusted ref]' : v]),
  );
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
export async function runStep(
  app: AppContext,
  job: JobData<'steps'>,
  attempt: number,
  log: Logger,
): Promise<void> {
  const stored = await loadPlan(app, job.planId);
  // Read from Redis once, when the job starts (the authority on which steps have run); the steps
  // this job runs next are read-only ones (`sharesJob`) and see the outputs it stored itself.
  const outputs = await loadOutputs(app, job.planId);
  let stepIndex = job.stepIndex;
  while ((await runOneStep(app, stored, { ...job, stepIndex }, outputs, attempt, log)) === 'next')
    stepIndex += 1;
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
    if (
      isEffect(tool) &&
      (approvedBy !== undefined || (stored.gate !== null && stepIndex >= stored.gate.step))
    ) {
      const verdict = await checkApprovedEffect(app, planId, step, tool, sources);
      if (verdict.ok) reviewer = verdict.reviewer;
      else waits = [verdict.reason];
    } else {
      // A money step left `auto` by an autonomy rule runs only up to the rule's ceiling.
      const money = await moneyOverCeiling(app, emailId, planId, stored.autonomy, step, resolved.args);
      waits = [...resolved.parkReasons, ...money];
      if (waits.length && !money.length && !approvedBy)
        await recordHeld(app, emailId, planId, stored.autonomy, step.id, waits);
    }
    if (waits.length) {
      await park(app, emailId, stored, 'executor', waits, stepIndex);
      return 'stop';
    }
    const input = tool.input.safeParse(resolved.args);
    if (!input.success)
      throw new MailroomError('TOOL_INPUT_INVALID', `arguments of ${tool.name} do not match its schema`);
    // In shadow, a step that would act is previewed and audited as `would_do` instead.
    const shadow = stored.shadow === true && actsOnTheWorld(tool);
    const args = auditArgs(resolved.args, tool.untrustedInputs);
    // The first step moves the email to running; later steps find it there (a plan's steps run in
    // order, and an approval sets it running again before the step it resumes at). Issued in one
    // tick on the one connection, the move and the trail's entry run in Redis in this order.
    await Promise.all([
      stepIndex === 0 ? app.ledger.setState(emailId, 'running') : undefined,
      shadow
        ? undefined
        : app.audit.append(emailId, 'step_started', 'executor', {
            planId,
            stepId: step.id,
            tool: tool.name,
            args,
            attempt,
          }),
    ]);
    const started = Date.now();
    const ctx = toolContextFor(app, {
      emailId,
      planId,
      stepId: step.id,
      triage,
      logger: lazyChild(log, { stepId: step.id }),
      ...(reviewer ? { approvedBy: reviewer } : {}),
    });
    const rawOutput = shadow
      ? await previewStep(app, tool, input.data, ctx, args)
      : await tool.run(input.data, ctx);
    const output = tool.output.safeParse(rawOutput);
    if (!output.success)
      throw new MailroomError('TOOL_OUTPUT_INVALID', `output of ${tool.name} does not match its schema`);
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
            output: Object.fromEntries(
              Object.entries(output.data).filter(([k]) => !tool.taintedOutputs.includes(k)),
            ),
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
  await app.queues.add(
    'steps',
    { emailId, planId, stepIndex: stepIndex + 1, ...(approvedBy ? { approvedBy } : {}) },
    { jobId: jobIdFor(planId, next.id) },
  );
  return 'stop';
}

/**
 * The step a job of this plan is at: the first from the job's own step on whose output is not
 * stored (the job ran the ones before it). What a failure or a retry is recorded against.
 */
async function currentStep(
  app: AppContext,
  stored: StoredPlan | null,
  job: JobData<'steps'>,
): Promise<number> {
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
const NO_REPLAN: ReadonlySet<ErrorCode> = new Set([
  'DELIVERY_UNKNOWN',
  'TAINT_VIOLATION',
  'CONTENT_EXPIRED',
  'SENDER_UNVERIFIED',
]);

/** The step a failed job was at: its plan (null when gone), its index and id, for the audit. */
async function failingStep(app: AppContext, job: JobData<'steps'>): Promise<{ stored: StoredPlan | null; stepIndex: number; stepId: string }> {
  const stored = await loadPlan(app, job.planId).catch(() => null);
  const stepIndex = await currentStep(app, stored, job);
  return { stored, stepIndex, stepId: stored?.plan.steps[stepIndex]?.id ?? `#${stepIndex}` };
}

/** A step attempt failed and BullMQ tries it again after `retryInMs`: audited with the cause. */
export async function stepRetrying(
  app: AppContext,
  job: JobData<'steps'>,
  e: MailroomError,
  attempt: number,
  retryInMs: number,
): Promise<void> {
  const { emailId, planId } = job;
  const { stepId } = await failingStep(app, job);
  await app.audit.append(emailId, 'step_retrying', 'executor', {
    planId,
    stepId,
    code: e.publicCode,
    reason: failureReason(e),
    attempt,
    retryInMs,
  });
}

/** A step failed for good (no retry left, or not retryable): park, replan or escalate. */
export async function stepFailed(
  app: AppContext,
  job: JobData<'steps'>,
  e: MailroomError,
  attempt: number,
  log: Logger,
): Promise<void> {
  const { emailId, planId } = job;
  const { stored, stepIndex, stepId } = await failingStep(app, job);
  await app.audit.append(emailId, 'step_failed', 'executor', {
    planId,
    stepId,
    code: e.publicCode,
    reason: failureReason(e),
    attempts: attempt,
  });
  if (e.code === 'NEEDS_REVIEW') {
    if (stored && !job.approvedBy)
      await recordHeld(app, emailId, planId, stored.autonomy, stepId, [e.message]);
    await park(app, emailId, stored ?? { planId }, 'executor', [`step ${stepId}: ${e.message}`], stepIndex);
    return;
  }
  const tool = stored?.plan.steps[stepIndex]?.tool;
  if (stored && tool && !NO_REPLAN.has(e.code) && stored.generation < app.config.maxReplans) {
    log.info({ stepId, code: e.publicCode }, 'step failed; replanning');
    await replan(app, emailId, stored, stepIndex, {
      reason: 'step_failed',
      failed: { stepId, tool, code: e.publicCode },
    });
    return;
  }
  log.warn({ stepId, code: e.publicCode, reason: failureReason(e) }, 'step failed; escalating');
  if (stored?.shadow) await shadowed(app, emailId, planId, 'escalate', [`${e.publicCode} at step ${stepId}`]);
  else await escalateEmail(app, emailId, 'executor', `${e.publicCode} at step ${stepId}`);
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
async function replan(
  app: AppContext,
  emailId: EmailId,
  stored: StoredPlan,
  upTo: number,
  what: Pick<ReplanFacts, 'reason' | 'failed'>,
): Promise<void> {
  const outputs = await loadOutputs(app, stored.planId);
  const completed = stored.plan.steps.slice(0, upTo).flatMap((s) => {
    const out = outputs[s.id];
    return out ? [{ stepId: s.id, tool: s.tool, facts: typedFacts(out) }] : [];
  });
  const { trusted } = await loadTriage(app, emailId);
  const outcome = await replanEmail(plannerDeps(app), plannerViewFor(app, trusted), { ...what, completed });
  await adoptPlan(app, emailId, trusted, outcome, {
    generation: stored.generation + 1,
    replaces: stored.planId,
  });
}

/** Finished: the last step ran; the email completes, or escalates when the plan handed it to a human. */
async function finishPlan(app: AppContext, emailId: EmailId, stored: StoredPlan): Promise<void> {
  const escalated = stored.plan.steps.some((s) => s.tool === 'escalate');
  if (stored.shadow) {
    await shadowed(
      app,
      emailId,
      stored.planId,
      escalated ? 'escalate' : 'complete',
      escalated ? ['plan escalated to a human'] : [],
    );
    return;
  }
  if (escalated) {
    await escalateEmail(app, emailId, 'executor', 'plan escalated to a human', { planId: stored.planId });
    return;
  }
  const reason = stored.completionReason ?? '';
  await app.ledger.setState(emailId, 'completed', { reason });
  await app.audit.append(emailId, 'completed', 'executor', {
    planId: stored.planId,
    ...(reason ? { reason } : {}),
  });
}
