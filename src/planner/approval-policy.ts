import type { TrustedContext } from '../ingest/trusted-context.js';
import type { ToolRegistry } from '../tools/registry.js';
import type { Plan } from './plan.js';

export interface ApprovalDecision {
  decision: 'auto' | 'park';
  reasons: string[];
  /**
   * For a parked plan: the index of the first step that may not run before a human approves.
   * The steps before it read or write only inside Mailroom and run at once, so the reviewer sees
   * their results (e.g. the endorsed order of a refund).
   */
  gate: number;
}

/** Whether a step may run before anyone approved the plan: nothing leaves, nothing irreversible. */
function runsUngated(step: Plan['steps'][number], registry: ToolRegistry): boolean {
  const tool = registry.get(step.tool);
  return tool !== undefined && !tool.requiresApproval && tool.risk !== 'external' && tool.audience === undefined;
}

/**
 * Risk-based approval (invariant 5), a pure function. Read and write steps run by themselves, and
 * so does a reply to the verified sender; anything with effects on anyone else, money, deletion
 * or account changes waits for a human. It must be safe for every category an attacker could
 * force through the classifier, so it never looks at the category.
 */
export function decideApproval(plan: Plan, registry: ToolRegistry, context: TrustedContext, extraReasons: readonly string[] = []): ApprovalDecision {
  const reasons = [...extraReasons];
  for (const step of plan.steps) {
    const tool = registry.get(step.tool);
    if (!tool) {
      reasons.push(`step ${step.id}: unknown tool ${step.tool}`);
      continue;
    }
    if (tool.requiresApproval) reasons.push(`step ${step.id}: ${tool.name} ${tool.requiresApproval}`);
    if (tool.risk === 'external') {
      if (tool.audience !== 'sender') reasons.push(`step ${step.id}: ${tool.name} reaches someone other than the verified sender`);
      else if (!context.sender.verified) reasons.push(`step ${step.id}: ${tool.name} to an unverified sender`);
      // Robot signals are sender-written: they may only take privileges away, never grant them.
      else if (context.auto.kind !== 'none') reasons.push(`step ${step.id}: ${tool.name} to robot mail (${context.auto.kind})`);
    }
  }
  if (!reasons.length) return { decision: 'auto', reasons, gate: plan.steps.length };
  const firstGated = plan.steps.findIndex((s) => !runsUngated(s, registry));
  return { decision: 'park', reasons, gate: firstGated < 0 ? 0 : firstGated };
}
