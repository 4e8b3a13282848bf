import { MailroomError } from '../kernel/errors.js';
import type { LlmGateway } from '../llm/gateway.js';
import type { ToolRegistry } from '../tools/registry.js';
import type { PlanCache } from './plan-cache.js';
import { planningKey } from './plan-cache.js';
import type { Plan } from '../model/plan.js';
import { escalationPlan, playbookPlan, robotPlan } from './playbooks.js';
import { DEFAULT_LIMITS, validatePlan, type PlanLimits, type ValidationError, type ValidationResult } from './plan-validator.js';
import { buildPlannerPrompt, PROMPT_VERSION, type ReplanFacts } from './planner-prompt.js';
import { fromLlmPlan, llmPlanSchema } from './planner-schema.js';
import type { PlannerView } from './planner-view.js';

export type PlannerKind = 'playbook' | 'robot' | 'llm' | 'fallback';

export interface PlanOutcome {
  plan: Plan;
  planner: PlannerKind;
  validation: ValidationResult;
  /** Validation errors of rejected attempts (each led to a regeneration), for the audit. */
  rejected: ValidationError[][];
  cacheHit: boolean;
  /** The plan cache was asked (a hit or a miss); false when the planner never consults it (offline, robots). */
  cacheLookup?: boolean;
  /** Why the LLM planner was not used, when it was configured. */
  fallbackReason?: string;
}

export interface PlannerDeps {
  llm: LlmGateway;
  registry: ToolRegistry;
  cache: PlanCache | null;
  limits?: PlanLimits;
  /** LLM plans tried before the email is escalated. @defaultValue 3 */
  maxAttempts?: number;
}

function accept(plan: Plan, planner: PlannerKind, deps: PlannerDeps, rejected: ValidationError[][], extra: Partial<PlanOutcome> = {}): PlanOutcome | null {
  const validation = validatePlan(plan, deps.registry, deps.limits ?? DEFAULT_LIMITS);
  if (!validation.ok) return null;
  return { plan, planner, validation, rejected, cacheHit: false, ...extra };
}

function escalation(deps: PlannerDeps, rejected: ValidationError[][], reason: 'plan_invalid' | 'step_failed'): PlanOutcome {
  const plan = escalationPlan(reason);
  return { plan, planner: 'fallback', validation: validatePlan(plan, deps.registry), rejected, cacheHit: false };
}

/** Asks the model for a plan until one validates, feeding the errors back; bounded. */
async function askModel(
  deps: PlannerDeps,
  view: PlannerView,
  replan: ReplanFacts | undefined,
): Promise<{ plan: Plan | null; rejected: ValidationError[][]; unavailable?: string }> {
  const schema = llmPlanSchema(deps.registry);
  const rejected: ValidationError[][] = [];
  let feedback: ValidationError[] = [];
  for (let attempt = 0; attempt < (deps.maxAttempts ?? 3); attempt++) {
    const { system, user } = buildPlannerPrompt({ view, registry: deps.registry, feedback, replan });
    let plan: Plan;
    try {
      const out = await deps.llm.structured({ role: 'planner', schema, schemaName: 'plan', system, user, maxOutputTokens: 2_000 });
      plan = fromLlmPlan(out, deps.registry);
    } catch (err) {
      if (err instanceof MailroomError && err.code === 'LLM_UNAVAILABLE') return { plan: null, rejected, unavailable: err.publicCode };
      feedback = [{ rule: 'output_schema', stepId: null, arg: null, message: 'the output did not match the plan schema' }];
      rejected.push(feedback);
      continue;
    }
    const validation = validatePlan(plan, deps.registry, deps.limits ?? DEFAULT_LIMITS);
    if (validation.ok) return { plan, rejected };
    feedback = validation.errors;
    rejected.push(validation.errors);
  }
  return { plan: null, rejected };
}

/**
 * Plans from the {@link PlannerView} only: closed enums, bounded numbers and configured names, so
 * there is no way to hand this function an email's text, the sender's address or a MIME type.
 * Robots get their fixed plan (no model call); without a model the playbooks plan; with one, the
 * LLM plans, cached by exactly the view. Every plan, whatever produced it (cache included), passes
 * the same validator; an invalid one is never returned: after bounded regeneration the email is
 * escalated.
 */
export async function planEmail(deps: PlannerDeps, view: PlannerView): Promise<PlanOutcome> {
  if (view.auto !== 'none') {
    return accept(robotPlan(view.auto), 'robot', deps, []) ?? escalation(deps, [], 'plan_invalid');
  }
  const offline = () => {
    const plan = playbookPlan(view);
    return accept(plan, 'playbook', deps, []) ?? escalation(deps, [validatePlan(plan, deps.registry).errors], 'plan_invalid');
  };
  if (deps.llm.mode === 'offline') return offline();
  return { ...(await planOnline(deps, view, offline)), cacheLookup: deps.cache !== null };
}

/** The LLM planner behind the plan cache; `offline` when the model is unavailable. */
async function planOnline(deps: PlannerDeps, view: PlannerView, offline: () => PlanOutcome): Promise<PlanOutcome> {
  const key = planningKey(view, deps.registry.version, PROMPT_VERSION);
  const cached = deps.cache ? await deps.cache.get(key) : null;
  if (cached) {
    const hit = accept(cached, 'llm', deps, [], { cacheHit: true });
    if (hit) return hit;
  }
  const asked = await askModel(deps, view, undefined);
  if (asked.unavailable) {
    const fallback = offline();
    return { ...fallback, rejected: asked.rejected, fallbackReason: asked.unavailable };
  }
  if (!asked.plan) return escalation(deps, asked.rejected, 'plan_invalid');
  await deps.cache?.set(key, asked.plan);
  return accept(asked.plan, 'llm', deps, asked.rejected) ?? escalation(deps, asked.rejected, 'plan_invalid');
}

/**
 * The executor's replan entry point: the planner's view plus trusted facts of the run (step ids,
 * tool names, error codes, typed non-text outputs). Without a model, or when the model cannot
 * produce a valid plan, the rest goes to a human.
 */
export async function replanEmail(deps: PlannerDeps, view: PlannerView, facts: ReplanFacts): Promise<PlanOutcome> {
  if (deps.llm.mode === 'offline') return escalation(deps, [], 'step_failed');
  const asked = await askModel(deps, view, facts);
  if (!asked.plan) return escalation(deps, asked.rejected, 'step_failed');
  return accept(asked.plan, 'llm', deps, asked.rejected) ?? escalation(deps, asked.rejected, 'step_failed');
}

