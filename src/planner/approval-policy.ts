import type { TrustedContext } from '../ingest/trusted-context.js';
import type { ToolRegistry } from '../tools/registry.js';
import { parsePlaceholder, type Plan } from './plan.js';

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

/** The earlier steps whose suggested draft flows into this step's arguments. */
function suggestionsFeeding(step: Plan['steps'][number], plan: Plan, registry: ToolRegistry): string[] {
  const out: string[] = [];
  for (const value of Object.values(step.args)) {
    if (typeof value !== 'string') continue;
    let ref;
    try {
      ref = parsePlaceholder(value);
    } catch {
      continue; // the validator reports it
    }
    if (ref?.kind !== 'step') continue;
    const source = plan.steps.find((s) => s.id === ref.stepId);
    if (source && registry.get(source.tool)?.suggestion) out.push(source.id);
  }
  return out;
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
    if (tool.risk === 'external' || tool.audience !== undefined) {
      for (const source of suggestionsFeeding(step, plan, registry)) {
        reasons.push(`step ${step.id}: ${tool.name} would send a suggestion of step ${source} (${registry.get(plan.steps.find((s) => s.id === source)?.tool ?? '')?.suggestion ?? 'suggested'})`);
      }
    }
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
