import type { Job } from 'bullmq';
import { park, quarantine } from '../audit/outcomes.js';
import type { AppContext } from '../context.js';
import { MailroomError, toMailroomError } from '../errors.js';
import { planIdFor, type EmailId, type PlanId } from '../ids.js';
import { hasAttemptsLeft } from '../ingest/ingest-worker.js';
import type { TrustedContext } from '../ingest/trusted-context.js';
import { TriageRecord } from '../ingest/triage.js';
import { jobIdFor, parseJobData } from '../queues/catalog.js';
import { decideApproval } from './approval-policy.js';
import { createPlanCache } from './plan-cache.js';
import { planEmail, type PlanOutcome, type PlannerDeps } from './planner.js';
import { StoredPlan } from './stored-plan.js';

export async function loadTriage(app: AppContext, emailId: EmailId): Promise<TriageRecord> {
  const raw = await app.redis.get(app.keys.context(emailId));
  if (!raw) throw new MailroomError('CONTENT_EXPIRED', `no trusted context stored for ${emailId}`);
  return TriageRecord.parse(JSON.parse(raw));
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
  const approval = decideApproval(outcome.plan, app.registry, context, outcome.validation.parkReasons);
  const fresh: StoredPlan = {
    planId,
    emailId,
    plan: outcome.plan,
    planner: outcome.planner,
    registryVersion: app.registry.version,
    createdAt: app.clock().toISOString(),
    generation: meta.generation,
    gate: approval.decision === 'park' ? { step: approval.gate, reasons: approval.reasons } : null,
    // A robot's email completes with its kind as the reason (`bounce`, `loop`, …).
    ...(outcome.planner === 'robot' && context.auto.kind !== 'none' ? { completionReason: context.auto.kind } : {}),
  };
  // First writer wins: a re-delivered job adopts the plan already stored, never a second one.
  const created = await app.redis.set(app.keys.plan(planId), JSON.stringify(fresh), 'EX', app.config.contentTtlSeconds, 'NX');
  let stored = fresh;
  if (created === null) {
    stored = StoredPlan.parse(JSON.parse((await app.redis.get(app.keys.plan(planId))) ?? 'null'));
    outcome = { ...outcome, plan: stored.plan, planner: stored.planner };
  }
  for (const errors of outcome.rejected) {
    await app.audit.append(emailId, 'validated', 'planner', { ok: false, errors: errors.map((e) => ({ rule: e.rule, stepId: e.stepId, arg: e.arg })) });
  }
  await app.audit.append(emailId, meta.replaces ? 'replanned' : 'planned', outcome.planner, {
    planId,
    plan: outcome.plan,
    cacheHit: outcome.cacheHit,
    registryVersion: app.registry.version,
    generation: meta.generation,
    ...(meta.replaces ? { replaces: meta.replaces } : {}),
    ...(outcome.fallbackReason ? { fallbackReason: outcome.fallbackReason } : {}),
  });
  await app.audit.append(emailId, 'validated', 'planner', { ok: outcome.validation.ok, planId });
  await app.ledger.setState(emailId, 'planned', { planId, tools: outcome.plan.steps.map((s) => s.tool).join(',') });
  if (stored.gate) {
    await app.audit.append(emailId, 'gated', 'policy', { planId, gate: stored.gate.step, reasons: stored.gate.reasons });
    if (stored.gate.step === 0) {
      await park(app, emailId, planId, 'policy', stored.gate.reasons, 0);
      return planId;
    }
  } else {
    await app.audit.append(emailId, 'approved', 'policy', { planId, auto: true });
  }
  const first = outcome.plan.steps[0];
  await app.queues.add('steps', { emailId, planId, stepIndex: 0 }, { jobId: jobIdFor(planId, first?.id ?? 's0') });
  return planId;
}

/** Plan stage: plan from the trusted context, validate, decide approval, then park or start. */
export async function processPlanJob(app: AppContext, job: Job): Promise<void> {
  const { emailId } = parseJobData('plan', job.data);
  const log = app.logger.child({ component: 'planner', emailId, jobId: job.id });
  try {
    const { context } = await loadTriage(app, emailId);
    const outcome = await planEmail(plannerDeps(app), context);
    const planId = await adoptPlan(app, emailId, context, outcome, { generation: 0 });
    log.debug({ planId, planner: outcome.planner }, 'planned');
  } catch (err) {
    const e = toMailroomError(err);
    if (e.retryable && hasAttemptsLeft(job)) throw e;
    log.error({ code: e.publicCode }, 'planning failed');
    await quarantine(app, emailId, 'plan', e, null);
  }
}
