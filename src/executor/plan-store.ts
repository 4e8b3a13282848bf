import type { AppContext } from '../context.js';
import { MailroomError } from '../errors.js';
import type { PlanId } from '../ids.js';
import { StoredPlan } from '../planner/stored-plan.js';
import type { LabelledOutput } from './resolve-args.js';

/** The validated plan as the planner stored it. */
export async function loadPlan(app: Pick<AppContext, 'redis' | 'keys'>, planId: PlanId): Promise<StoredPlan> {
  const raw = await app.redis.get(app.keys.plan(planId));
  if (!raw) throw new MailroomError('CONTENT_EXPIRED', `plan ${planId} is gone`);
  return StoredPlan.parse(JSON.parse(raw));
}

/** The outputs of the plan's steps that have run, by step id. */
export async function loadOutputs(app: Pick<AppContext, 'redis' | 'keys'>, planId: PlanId): Promise<Record<string, LabelledOutput>> {
  const raw = await app.redis.hgetall(app.keys.planOutputs(planId));
  const out: Record<string, LabelledOutput> = {};
  for (const [stepId, json] of Object.entries(raw)) out[stepId] = JSON.parse(json) as LabelledOutput;
  return out;
}
