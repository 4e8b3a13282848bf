import type { TrustedContext } from '../ingest/trusted-context.js';
import type { ToolRegistry } from '../tools/registry.js';
import type { Plan } from './plan.js';

export interface ApprovalDecision {
  decision: 'auto' | 'park';
  reasons: string[];
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
  return { decision: reasons.length ? 'park' : 'auto', reasons };
}
