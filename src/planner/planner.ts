import type { TrustedContext } from '../ingest/trusted-context.js';
import type { ToolRegistry } from '../tools/registry.js';
import type { Plan } from './plan.js';
import { escalationPlan, playbookPlan, robotPlan } from './playbooks.js';
import { DEFAULT_LIMITS, validatePlan, type PlanLimits, type ValidationError, type ValidationResult } from './plan-validator.js';

export type PlannerKind = 'playbook' | 'robot' | 'llm' | 'fallback';

export interface PlanOutcome {
  plan: Plan;
  planner: PlannerKind;
  validation: ValidationResult;
  /** Validation errors of rejected attempts (regenerations), for the audit. */
  rejected: ValidationError[][];
  cacheHit: boolean;
}

/**
 * Plans from trusted facts only. The argument type is `TrustedContext`: there is no way to hand
 * this function an email's text. Every plan, whatever produced it, passes the same validator; an
 * invalid one is never returned (the escalation plan takes its place).
 */
export function planOffline(context: TrustedContext, registry: ToolRegistry, limits: PlanLimits = DEFAULT_LIMITS): PlanOutcome {
  const planner: PlannerKind = context.auto.kind === 'none' ? 'playbook' : 'robot';
  const plan = context.auto.kind === 'none' ? playbookPlan(context) : robotPlan(context.auto.kind);
  const validation = validatePlan(plan, registry, limits);
  if (validation.ok) return { plan, planner, validation, rejected: [], cacheHit: false };
  const safe = escalationPlan('plan_invalid');
  return { plan: safe, planner: 'fallback', validation: validatePlan(safe, registry, limits), rejected: [validation.errors], cacheHit: false };
}
