import type { AutoKind } from '../ingest/robots.js';
import type { ToolRegistry } from '../tools/registry.js';
import { escalationPlan, robotPlan } from './playbooks.js';
import { DEFAULT_LIMITS, validatePlan } from './plan-validator.js';
import type { PlanOutcome } from './planner.js';

/**
 * Robot mail is filed without a planner: no model call, whatever planner is configured for human
 * mail. The plan (label only) still passes the validator, like every plan.
 */
export function planRobot(kind: Exclude<AutoKind, 'none'>, registry: ToolRegistry): PlanOutcome {
  const plan = robotPlan(kind);
  const validation = validatePlan(plan, registry, DEFAULT_LIMITS);
  if (validation.ok) return { plan, planner: 'robot', validation, rejected: [], cacheHit: false };
  const safe = escalationPlan('plan_invalid');
  return { plan: safe, planner: 'fallback', validation: validatePlan(safe, registry, DEFAULT_LIMITS), rejected: [validation.errors], cacheHit: false };
}
