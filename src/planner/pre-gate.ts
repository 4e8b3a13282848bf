import type { ToolRegistry } from '../tools/registry.js';
import { referencedSteps, type Plan } from '../model/plan.js';

/**
 * Whether a step must wait for a human when its plan is gated: anything outward, with an
 * audience, or declared to need approval (the approval policy's gate is the first such step).
 */
function waitsAtGate(step: Plan['steps'][number], registry: ToolRegistry): boolean {
  const tool = registry.get(step.tool);
  return tool === undefined || tool.requiresApproval !== undefined || tool.risk === 'external' || tool.audience !== undefined;
}

/**
 * Moves every side-effect-free read step whose inputs are all available before the first step
 * that waits for a human (lookups, knowledge-base search, drafts) in front of it, keeping the
 * order of everything else. A parked plan has then computed what the reviewer needs to see, above
 * all the text of the reply they approve. Pure; a valid plan stays valid (references still point
 * to earlier steps). Read tools observe nothing Mailroom's own effects change (the accounts file
 * and the knowledge base are read-only), so running them earlier changes no result.
 */
export function hoistBeforeGate(plan: Plan, registry: ToolRegistry): Plan {
  const gate = plan.steps.findIndex((s) => waitsAtGate(s, registry));
  if (gate < 0) return plan;
  const available = new Set(plan.steps.slice(0, gate).map((s) => s.id));
  const hoisted: Plan['steps'] = [];
  for (const step of plan.steps.slice(gate)) {
    const tool = registry.get(step.tool);
    const pure = tool !== undefined && tool.risk === 'read' && !tool.sideEffect && !step.checkpoint;
    if (pure && referencedSteps(step.args).every((id) => available.has(id))) {
      hoisted.push(step);
      available.add(step.id);
    }
  }
  if (!hoisted.length) return plan;
  const rest = plan.steps.slice(gate).filter((s) => !hoisted.includes(s));
  return { steps: [...plan.steps.slice(0, gate), ...hoisted, ...rest] };
}
