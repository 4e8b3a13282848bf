import type { AppContext } from '../context.js';
import type { EmailId, PlanId } from '../ids.js';
import { ceilingCheck, type StepAutonomy } from '../planner/autonomy.js';

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
