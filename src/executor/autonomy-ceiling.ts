import type { AppContext } from '../services/services.js';
import type { EmailId, PlanId } from '../kernel/ids.js';
import { ceilingCheck, heldAtRunTime } from '../planner/autonomy.js';
import { type StepAutonomy } from '../model/autonomy.js';

/**
 * The run-time half of the money limit, at the step about to run without a reviewer: a money step
 * left `auto` because its amount comes from an earlier step parks when that amount is above the
 * ceiling of the rule that let it run alone. The step's level becomes `review` in the audit (a
 * later `autonomy` event for the same plan step), so the report counts it where it ended up.
 * Returns the reasons to park; empty to run.
 */
export async function moneyOverCeiling(
  app: Pick<AppContext, 'audit'>,
  emailId: EmailId,
  planId: PlanId,
  decisions: readonly StepAutonomy[] | undefined,
  step: { id: string; tool: string },
  args: Record<string, unknown>,
): Promise<string[]> {
  const over = ceilingCheck(decisions, step.id, step.tool, args);
  if (!over) return [];
  await app.audit.append(emailId, 'autonomy', 'executor', { planId, steps: [over.decision] });
  return over.reasons;
}

/**
 * A step left `auto` that parks when it is about to run for another reason (a reply rate limit, a
 * confidentiality label known only then, a draft the reply tool refuses): its level becomes
 * `review` in the audit, as for money over its ceiling, so the report counts it where it ended up.
 */
export async function recordHeld(
  app: Pick<AppContext, 'audit'>,
  emailId: EmailId,
  planId: PlanId,
  decisions: readonly StepAutonomy[] | undefined,
  stepId: string,
  reasons: readonly string[],
): Promise<void> {
  const held = heldAtRunTime(decisions, stepId, reasons);
  if (held) await app.audit.append(emailId, 'autonomy', 'executor', { planId, steps: [held] });
}
