import type { Job } from 'bullmq';
import { escalateEmail, park, quarantine } from '../audit/outcomes.js';
import type { AppContext } from '../context.js';
import { MailroomError, toMailroomError } from '../errors.js';
import { planIdFor, type EmailId, type PlanId } from '../ids.js';
import type { TrustedContext } from '../ingest/trusted-context.js';
import { TriageRecord } from '../ingest/triage.js';
import { hasAttemptsLeft, jobIdFor, parseJobData } from '../queues/catalog.js';
import { decideApproval } from './approval-policy.js';
import { autonomyPolicy } from './autonomy.js';
import { hoistBeforeGate } from './pre-gate.js';
import { endShadowed } from '../executor/shadow.js';
import { createPlanCache } from './plan-cache.js';
import { planEmail, type PlanOutcome, type PlannerDeps } from './planner.js';
import { plannerView, plannerVocabulary, type PlannerView } from './planner-view.js';
import { StoredPlan } from './stored-plan.js';

export async function loadTriage(app: AppContext, emailId: EmailId): Promise<TriageRecord> {
  const raw = await app.redis.get(app.keys.context(emailId));
  if (!raw) throw new MailroomError('CONTENT_EXPIRED', `no trusted context stored for ${emailId}`);
  return TriageRecord.parse(JSON.parse(raw));
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

/**
 * Stores a validated plan, audits it, decides approval, and either parks it or enqueues its first
 * step. Used for first plans and for replans alike, so both pass the same gate.
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
  const shadow = (await app.ledger.get(emailId))?.mode === 'shadow';
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
  // First writer wins: a re-delivered job adopts the plan already stored, never a second one.
  const created = await app.redis.set(app.keys.plan(planId), JSON.stringify(fresh), 'EX', app.config.contentTtlSeconds, 'NX');
  if (created === null) {
    await resumeStoredPlan(app, emailId, planId);
    return planId;
  }
  for (const errors of outcome.rejected) {
    await app.audit.append(emailId, 'validated', 'planner', { ok: false, errors: errors.map((e) => ({ rule: e.rule, stepId: e.stepId, arg: e.arg })) });
  }
  await app.audit.append(emailId, meta.replaces ? 'replanned' : 'planned', outcome.planner, {
    planId,
    plan,
    cacheHit: outcome.cacheHit,
    ...(outcome.cacheLookup ? { cacheLookup: true } : {}),
    registryVersion: app.registry.version,
    generation: meta.generation,
    ...(meta.replaces ? { replaces: meta.replaces } : {}),
    ...(outcome.fallbackReason ? { fallbackReason: outcome.fallbackReason } : {}),
  });
  await app.audit.append(emailId, 'validated', 'planner', { ok: outcome.validation.ok, planId });
  await app.ledger.setState(emailId, 'planned', { planId, tools: plan.steps.map((s) => s.tool).join(',') });
  await app.audit.append(emailId, 'autonomy', 'policy', { planId, steps: approval.steps });
  // A refused plan (autonomy `never`) has no gate and is not approved: startPlan escalates it.
  if (fresh.gate) await app.audit.append(emailId, 'gated', 'policy', { planId, gate: fresh.gate.step, reasons: fresh.gate.reasons });
  else if (!fresh.refused) await app.audit.append(emailId, 'approved', 'policy', { planId, auto: true });
  await startPlan(app, emailId, fresh);
  return planId;
}

/** Parks a plan gated at its first step, or enqueues that step; both idempotent by job id. */
async function startPlan(app: AppContext, emailId: EmailId, stored: StoredPlan): Promise<void> {
  // Autonomy `never`: the step is refused before anything of the plan runs; a human takes over.
  if (stored.refused) {
    const reason = stored.refused.join('; ').slice(0, 300);
    if (stored.shadow) await endShadowed(app, emailId, stored.planId, 'escalate', stored.refused);
    else await escalateEmail(app, emailId, 'policy', reason, { planId: stored.planId });
    return;
  }
  if (stored.gate?.step === 0) {
    if (stored.shadow) await endShadowed(app, emailId, stored.planId, 'park', stored.gate.reasons);
    else await park(app, emailId, stored.planId, 'policy', stored.gate.reasons, 0);
    return;
  }
  const first = stored.plan.steps[0];
  await app.queues.add('steps', { emailId, planId: stored.planId, stepIndex: 0 }, { jobId: jobIdFor(stored.planId, first?.id ?? 's0') });
}

/**
 * A re-delivered plan job (or replan) whose plan is already stored: start it only if the crash came
 * before it started; an email already running this plan, parked or finished is left alone. A
 * replan replaces a plan that was `running`: found by the chaos run, a worker killed between
 * storing the new plan and starting it left the email `running` the old plan for ever. The ledger
 * names the plan that started, so a running email whose plan is not this one has not started it.
 */
async function resumeStoredPlan(app: AppContext, emailId: EmailId, planId: PlanId): Promise<void> {
  const record = await app.ledger.get(emailId);
  const notStarted = record?.state === 'triaged' || record?.state === 'planned' || (record?.state === 'running' && record.planId !== planId);
  if (record && !notStarted) return;
  const stored = StoredPlan.parse(JSON.parse((await app.redis.get(app.keys.plan(planId))) ?? 'null'));
  await app.ledger.setState(emailId, 'planned', { planId, tools: stored.plan.steps.map((s) => s.tool).join(',') });
  await startPlan(app, emailId, stored);
}

/** Plan stage: plan from the planner's view, validate, decide approval, then park or start. */
export async function processPlanJob(app: AppContext, job: Job): Promise<void> {
  const { emailId } = parseJobData('plan', job.data);
  const log = app.logger.child({ component: 'planner', emailId, jobId: job.id });
  try {
    // A re-delivered job whose first plan exists does not ask the planner (or the model) again.
    if (await app.redis.exists(app.keys.plan(planIdFor(emailId, 0)))) {
      await resumeStoredPlan(app, emailId, planIdFor(emailId, 0));
      return;
    }
    const { context } = await loadTriage(app, emailId);
    const outcome = await planEmail(plannerDeps(app), plannerViewFor(app, context));
    const planId = await adoptPlan(app, emailId, context, outcome, { generation: 0 });
    log.debug({ planId, planner: outcome.planner }, 'planned');
  } catch (err) {
    const e = toMailroomError(err);
    if (e.retryable && hasAttemptsLeft(job)) throw e;
    log.error({ code: e.publicCode }, 'planning failed');
    await quarantine(app, emailId, 'plan', e, null);
  }
}
