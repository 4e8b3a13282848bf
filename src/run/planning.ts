import type { AuditEntry } from '../audit/audit-trail.js';
import { type AppContext } from '../services/services.js';
import { planIdFor, type EmailId, type PlanId } from '../kernel/ids.js';
import type { TrustedContext } from '../model/trusted-context.js';
import { type Logger } from '../kernel/logger.js';
import { decideApproval } from '../planner/approval-policy.js';
import { autonomyPolicy } from '../planner/autonomy.js';
import { createPlanCache } from '../planner/plan-cache.js';
import { planEmail, type PlanOutcome, type PlannerDeps } from '../planner/planner.js';
import { plannerView, plannerVocabulary, type PlannerView } from '../planner/planner-view.js';
import { hoistBeforeGate } from '../planner/pre-gate.js';
import type { StoredPlan } from '../model/stored-plan.js';
import { jobIdFor } from '../queues/catalog.js';
import {
  claimPlan,
  hasPlan,
  loadPlan,
  loadTriage,
  saveTriage,
  type TriageRecord,
} from '../store/run-store.js';
import { escalateEmail, shadowed } from './rest.js';
import { park } from './park.js';

/**
 * Triaged → planned → started: the triage record is stored and planning enqueued; a plan is made,
 * validated, adopted (first writer wins) and either parked at its gate or started.
 */

/**
 * Triaged: the triage record is stored, the ledger says so, and planning is enqueued. `before`:
 * the ingest worker's own events (parsed, sender verified, …), written with these in one append.
 */
export async function triaged(
  app: AppContext,
  emailId: EmailId,
  record: TriageRecord,
  before: readonly AuditEntry[] = [],
): Promise<void> {
  const { trusted } = record;
  // The record and the trail do not depend on each other: both are written before planning is enqueued.
  await Promise.all([
    saveTriage(app, emailId, record),
    app.audit.appendAll(emailId, [
      ...before,
      {
        type: 'classified',
        actor: 'ingest',
        data: { category: trusted.category.name, source: trusted.category.source },
      },
      {
        type: 'triaged',
        actor: 'ingest',
        data: { account: trusted.account?.id ?? null, auto: trusted.auto.kind },
      },
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
  const approval = decideApproval(
    plan,
    app.registry,
    context,
    outcome.validation.parkReasons,
    autonomyPolicy(app.config),
  );
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
    ...(outcome.planner === 'robot' && context.auto.kind !== 'none'
      ? { completionReason: context.auto.kind }
      : {}),
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
  events.push({
    type: meta.replaces ? 'replanned' : 'planned',
    actor: outcome.planner,
    data: {
      planId,
      plan,
      cacheHit: outcome.cacheHit,
      ...(outcome.cacheLookup ? { cacheLookup: true } : {}),
      registryVersion: app.registry.version,
      generation: meta.generation,
      ...(meta.replaces ? { replaces: meta.replaces } : {}),
      ...(outcome.fallbackReason ? { fallbackReason: outcome.fallbackReason } : {}),
    },
  });
  events.push({ type: 'validated', actor: 'planner', data: { ok: outcome.validation.ok, planId } });
  events.push({ type: 'autonomy', actor: 'policy', data: { planId, steps: approval.steps } });
  // A refused plan (autonomy `never`) has no gate and is not approved: startPlan escalates it.
  if (fresh.gate)
    events.push({
      type: 'gated',
      actor: 'policy',
      data: { planId, gate: fresh.gate.step, reasons: fresh.gate.reasons },
    });
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
    else
      await escalateEmail(app, emailId, 'policy', stored.refused.join('; ').slice(0, 300), {
        planId: stored.planId,
      });
    return;
  }
  if (stored.gate?.step === 0) {
    await park(app, emailId, stored, 'policy', stored.gate.reasons, 0);
    return;
  }
  const first = stored.plan.steps[0];
  await app.queues.add(
    'steps',
    { emailId, planId: stored.planId, stepIndex: 0 },
    { jobId: jobIdFor(stored.planId, first?.id ?? 's0') },
  );
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
  const notStarted =
    record?.state === 'triaged' ||
    record?.state === 'planned' ||
    (record?.state === 'running' && record.planId !== planId);
  if (record && !notStarted) return;
  const stored = await loadPlan(app, planId);
  await app.ledger.setState(emailId, 'planned', {
    planId,
    tools: stored.plan.steps.map((s) => s.tool).join(','),
  });
  await startPlan(app, emailId, stored);
}
