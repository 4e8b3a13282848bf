import type { TrustedContext } from '../model/trusted-context.js';
import type { ToolRegistry } from '../tools/registry.js';
import type { ToolDescriptor } from '../tools/tool.js';
import { DEFAULT_AUTONOMY, MONEY_TOOLS, decideLevel, ruleLabel, situationOf, type AutonomyPolicy, type LevelDecision } from './autonomy.js';
import { type StepAutonomy } from '../model/autonomy.js';
import { parsePlaceholder, type Plan } from '../model/plan.js';

export interface ApprovalDecision {
  /** `refuse`: a step's level is `never`; nothing of the plan runs and the email escalates. */
  decision: 'auto' | 'park' | 'refuse';
  reasons: string[];
  /**
   * For a parked plan: the index of the first step that may not run before a human approves.
   * The steps before it read or write only inside Mailroom and run at once, so the reviewer sees
   * their results (e.g. the endorsed order of a refund).
   */
  gate: number;
  /** The autonomy level of every write and external step, with the rule and the limit behind it. */
  steps: StepAutonomy[];
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

/** The reasons a step that may not run alone gives, in the words the review screen shows. */
function stepReasons(step: Plan['steps'][number], tool: ToolDescriptor, d: LevelDecision, fedBy: readonly string[], plan: Plan, registry: ToolRegistry, context: TrustedContext): string[] {
  const out: string[] = [];
  const at = `step ${step.id}: ${tool.name}`;
  if (d.configured !== 'auto') out.push(d.rule === null && tool.requiresApproval && d.configured === 'review' ? `${at} ${tool.requiresApproval}` : `${at} is ${d.configured} by autonomy ${ruleLabel(d.rule)}`);
  if (tool.requiresApproval && !out.includes(`${at} ${tool.requiresApproval}`) && MONEY_TOOLS[tool.name] === undefined) out.push(`${at} ${tool.requiresApproval}`);
  for (const source of fedBy) {
    out.push(`${at} would send a suggestion of step ${source} (${registry.get(plan.steps.find((s) => s.id === source)?.tool ?? '')?.suggestion ?? 'suggested'})`);
  }
  if (tool.risk === 'external') {
    if (tool.audience !== 'sender') out.push(`${at} reaches someone other than the verified sender`);
    else if (!context.sender.verified) out.push(`${at} to an unverified sender`);
    // Robot signals are sender-written: they may only take privileges away, never grant them.
    else if (context.auto.kind !== 'none') out.push(`${at} to robot mail (${context.auto.kind})`);
  }
  if (d.limit && (d.limit.kind === 'amount' || d.limit.kind === 'classifier_category') && d.configured === 'auto') out.push(`${at}: ${d.limit.why}`);
  if (d.limit?.kind === 'classifier_category' && d.configured !== 'auto') out.push(`${at}: ${d.limit.why}`);
  return out;
}

/** A number the plan itself names for a money tool's amount; null when a placeholder supplies it. */
function literalAmount(step: Plan['steps'][number]): number | null {
  const arg = MONEY_TOOLS[step.tool];
  const value = arg === undefined ? undefined : step.args[arg];
  return typeof value === 'number' ? value : null;
}

/**
 * Risk-based approval (invariant 5), a pure function. Each write and external step gets an
 * autonomy level (src/planner/autonomy.ts): the first matching rule of the config, made as strict
 * as for the safest category when the classifier chose it, then capped by limits no rule can lift
 * (mail to anyone but the verified sender or a team, to an unverified sender or a robot, a model's
 * suggestion, deletion and account changes, money without or over a ceiling). Read steps always
 * run. With no `autonomy` section this is today's policy: read and write steps run by themselves,
 * and so does a reply to the verified sender; anything with effects on anyone else, money,
 * deletion or account changes waits for a human.
 */
export function decideApproval(
  plan: Plan,
  registry: ToolRegistry,
  context: TrustedContext,
  extraReasons: readonly string[] = [],
  autonomy: AutonomyPolicy = DEFAULT_AUTONOMY,
): ApprovalDecision {
  const reasons = [...extraReasons];
  const refusals: string[] = [];
  const steps: StepAutonomy[] = [];
  const facts = situationOf(context);
  for (const step of plan.steps) {
    const tool = registry.get(step.tool);
    if (!tool) {
      reasons.push(`step ${step.id}: unknown tool ${step.tool}`);
      continue;
    }
    if (tool.risk === 'read') continue;
    const fedBy = tool.risk === 'external' || tool.audience !== undefined ? suggestionsFeeding(step, plan, registry) : [];
    const d = decideLevel(autonomy, { ...facts, tool, amount: literalAmount(step), suggestionFed: fedBy.length > 0 });
    steps.push({ stepId: step.id, tool: tool.name, ...d });
    if (d.level === 'never') refusals.push(`step ${step.id}: ${tool.name} is never done alone (autonomy ${ruleLabel(d.limit?.kind === 'classifier_category' ? null : d.rule)}${d.limit ? `; ${d.limit.why}` : ''})`);
    else if (d.level !== 'auto') reasons.push(...stepReasons(step, tool, d, fedBy, plan, registry, context));
  }
  if (refusals.length) return { decision: 'refuse', reasons: refusals, gate: 0, steps };
  if (!reasons.length) return { decision: 'auto', reasons, gate: plan.steps.length, steps };
  const levels = new Map(steps.map((s) => [s.stepId, s.level]));
  const firstGated = plan.steps.findIndex((s) => !runsUngated(s, registry) || (levels.get(s.id) ?? 'auto') !== 'auto');
  return { decision: 'park', reasons: [...new Set(reasons)], gate: firstGated < 0 ? 0 : firstGated, steps };
}
