import { type AutonomyRule, type Config } from '../config/config.js';
import { AutonomyLevel } from '../model/autonomy.js';
import { MailroomError } from '../kernel/errors.js';
import { SenderTier, Verification, type TrustedContext } from '../model/trusted-context.js';
import type { ToolDescriptor } from '../tools/tool.js';
import type { LimitKind, StepAutonomy } from '../model/autonomy.js';

/**
 * Autonomy: how much each step may do alone, set by a support lead in the config's `autonomy`
 * section, inside limits that no rule can lift. Pure functions of trusted facts only; the approval
 * policy (approval-policy.ts) applies the result, `mailroom policy explain` prints it.
 *
 * Levels, strictest first: `never` (the step is refused and the email escalates), `suggest` (the
 * step is recorded as a would-do effect and the email waits for a person), `review` (parks for
 * approval), `auto` (runs). Read tools have no level: they change nothing and reach no one.
 */

export const LEVELS: readonly AutonomyLevel[] = AutonomyLevel.options;

const rank = (level: AutonomyLevel): number => LEVELS.indexOf(level);

/** The stricter of two levels. */
export function stricter(a: AutonomyLevel, b: AutonomyLevel): AutonomyLevel {
  return rank(a) <= rank(b) ? a : b;
}

/**
 * The money tools a rule may let run alone, each with the argument that holds its amount. Every
 * other tool that declares `requiresApproval` (deletion, account changes, mail to anyone) always
 * waits for a human: only what is listed here is admitted.
 */
export const MONEY_TOOLS: Readonly<Record<string, string>> = { issue_refund: 'amount' };

export type ToolFacts = Pick<ToolDescriptor, 'name' | 'risk' | 'audience' | 'requiresApproval'>;

/** What the level of one step depends on: trusted facts and the plan's own shape, nothing a sender wrote. */
export interface StepSituation {
  tool: ToolFacts;
  category: string;
  source: 'route' | 'classifier';
  tier: SenderTier;
  verified: Verification;
  /** A robot signal (auto-reply, bounce, list): sender-written, so it only ever takes autonomy away. */
  robot: boolean;
  /** Money tools: the amount when the plan names it as a number; null when an earlier step supplies it (checked at run time). */
  amount: number | null;
  /** A draft written by a model that read the email flows into this step (invariant 4). */
  suggestionFed: boolean;
}


export type LevelDecision = Omit<StepAutonomy, 'stepId' | 'tool'>;

/** The rules as the policy needs them, with every category the classifier may answer. */
export interface AutonomyPolicy {
  rules: readonly AutonomyRule[];
  default?: AutonomyLevel;
  /** Configured categories and `unknown`: what a classifier (so an attacker) can choose. */
  categories: readonly string[];
}

/** The config's autonomy rules with the categories a classifier can answer: what {@link decideLevel} takes. */
export function autonomyPolicy(config: Pick<Config, 'autonomy' | 'categories'>): AutonomyPolicy {
  return { ...config.autonomy, categories: [...new Set([...config.categories, 'unknown'])] };
}

/** No rules, no default: today's policy (what an unconfigured Mailroom does). */
export const DEFAULT_AUTONOMY: AutonomyPolicy = { rules: [], categories: ['unknown'] };

/** `rules[2] "small refunds"`: how a rule is named in reasons, the audit and `policy explain`. */
export function ruleLabel(rule: { index: number; name: string } | null): string {
  return rule ? `rules[${rule.index}]${rule.name ? ` "${rule.name}"` : ''}` : 'the default';
}

function matches(rule: AutonomyRule, s: StepSituation): boolean {
  return (
    (!rule.tool || rule.tool.includes(s.tool.name)) &&
    (!rule.category || rule.category.includes(s.category)) &&
    (!rule.source || rule.source === s.source) &&
    (!rule.tier || rule.tier.includes(s.tier)) &&
    (!rule.verified || rule.verified.includes(s.verified))
  );
}

interface Choice {
  level: AutonomyLevel;
  rule: { index: number; name: string } | null;
  maxAmount: number | undefined;
}

/** First match wins; the default when none matches (today's policy unless configured). */
function firstMatch(policy: AutonomyPolicy, s: StepSituation): Choice {
  const index = policy.rules.findIndex((r) => matches(r, s));
  const rule = policy.rules[index];
  if (rule) return { level: rule.level, rule: { index, name: rule.name ?? '' }, maxAmount: rule.maxAmount };
  return { level: policy.default ?? (s.tool.requiresApproval ? 'review' : 'auto'), rule: null, maxAmount: undefined };
}

/**
 * The limits that apply to a step, in the order they are reported. Each caps the step at
 * `review`: it may be stricter, never `auto`. Written as what may run alone: mail only to the
 * verified sender (a reply) or a configured team, never to a robot or an unverified address.
 */
export function limitsFor(s: StepSituation, ceiling: number | undefined): Array<{ kind: LimitKind; why: string }> {
  const out: Array<{ kind: LimitKind; why: string }> = [];
  const t = s.tool;
  if (t.audience === 'anyone' || (t.risk === 'external' && t.audience !== 'sender')) {
    out.push({ kind: 'recipient', why: `${t.name} reaches someone other than the verified sender or a configured team` });
  }
  if (t.requiresApproval !== undefined && MONEY_TOOLS[t.name] === undefined) {
    out.push({ kind: 'human_only', why: `${t.name} ${t.requiresApproval}: always a human's decision` });
  }
  if (t.audience === 'sender' && t.risk === 'external') {
    if (s.verified === 'unverified') out.push({ kind: 'unverified_sender', why: `${t.name} to an unverified sender` });
    else if (s.robot) out.push({ kind: 'robot_mail', why: `${t.name} to robot mail` });
  }
  if (s.suggestionFed) out.push({ kind: 'suggestion', why: `${t.name} would send a draft a model that read the email wrote` });
  if (MONEY_TOOLS[t.name] !== undefined) {
    if (ceiling === undefined) out.push({ kind: 'amount', why: `${t.name}: no rule with maxAmount lets money move alone` });
    else if (s.amount !== null && s.amount > ceiling) out.push({ kind: 'amount', why: `${t.name} of ${s.amount} is above the ceiling of ${ceiling}` });
  }
  return out;
}

/**
 * The level of one step: the first matching rule (or the default), made as strict as it would be
 * for the safest category when the classifier chose the category, then capped by the limits.
 *
 * The safest category: the classifier answers from a closed set, and an attacker can steer it to
 * any member, so a classifier-chosen step gets the strictest level the rules give the same step
 * for any category the classifier may answer (with the same tool, tier, verification and source).
 * A rule keyed on such a category can therefore only make steps stricter, never lift them; routed
 * categories (an alias or folder of our own) are taken as they are.
 */
export function decideLevel(policy: AutonomyPolicy, s: StepSituation): LevelDecision {
  const own = firstMatch(policy, s);
  let level = own.level;
  let ceiling = own.maxAmount;
  let limit: LevelDecision['limit'] = null;
  if (s.source === 'classifier') {
    for (const category of policy.categories) {
      if (category === s.category) continue;
      const other = firstMatch(policy, { ...s, category });
      if (rank(other.level) < rank(level)) {
        level = other.level;
        limit = {
          kind: 'classifier_category',
          why: `the classifier chose the category, so it is as strict as for "${category}" (${ruleLabel(other.rule)}: ${other.level})`,
        };
      }
      // Money stays alone only under every ceiling an attacker could pick.
      if (other.level === 'auto') ceiling = ceiling === undefined || other.maxAmount === undefined ? undefined : Math.min(ceiling, other.maxAmount);
    }
  }
  const limits = limitsFor(s, ceiling);
  const cap = limits[0];
  if (cap && rank(level) > rank('review')) {
    level = 'review';
    limit = cap;
  }
  const decision: LevelDecision = { level, configured: own.level, rule: own.rule, limit };
  if (level === 'auto' && MONEY_TOOLS[s.tool.name] !== undefined && ceiling !== undefined) decision.ceiling = ceiling;
  return decision;
}

/** The trusted facts of an email that step levels depend on. */
export function situationOf(context: TrustedContext): Pick<StepSituation, 'category' | 'source' | 'tier' | 'verified' | 'robot'> {
  return {
    category: context.category.name,
    source: context.category.source,
    tier: context.account?.tier ?? 'none',
    verified: context.sender.verified ? context.sender.method : 'unverified',
    robot: context.auto.kind !== 'none',
  };
}

/**
 * Run-time half of the money limit: a money step that was left `auto` because its amount comes
 * from an earlier step is checked with the amount it is about to run with. Over the ceiling (or
 * no recorded decision, or no number) it parks. Returns the reasons to park; empty to run.
 */
export function amountOverCeiling(decisions: readonly StepAutonomy[] | undefined, stepId: string, tool: string, args: Record<string, unknown>): string[] {
  return ceilingCheck(decisions, stepId, tool, args)?.reasons ?? [];
}

/**
 * {@link amountOverCeiling} with the step's new decision (`review`, limit `amount`) for the audit;
 * null when the step may run.
 */
export function ceilingCheck(
  decisions: readonly StepAutonomy[] | undefined,
  stepId: string,
  tool: string,
  args: Record<string, unknown>,
): { reasons: string[]; decision: StepAutonomy } | null {
  const arg = MONEY_TOOLS[tool];
  if (arg === undefined) return null;
  const d = decisions?.find((x) => x.stepId === stepId);
  const amount = args[arg];
  if (d?.level === 'auto' && d.ceiling !== undefined && typeof amount === 'number' && amount <= d.ceiling) return null;
  const ceiling = d?.ceiling === undefined ? 'none' : String(d.ceiling);
  const why = `${tool} of ${typeof amount === 'number' ? amount : 'an unknown amount'} is above the autonomy ceiling (${ceiling})`;
  const { ceiling: _dropped, ...rest } = d ?? { stepId, tool, level: 'review' as const, configured: 'review' as const, rule: null, limit: null };
  return {
    reasons: [`step ${stepId}: ${why}`],
    decision: { ...rest, level: stricter(rest.level, 'review'), limit: { kind: 'amount', why } },
  };
}

/**
 * A step decided `auto` that a check at run time held for a person instead: its decision as it
 * ended, `review` with the reasons, for the audit (so the report does not count a step a person
 * approved as one that ran alone). Null when the step was not `auto`.
 */
export function heldAtRunTime(decisions: readonly StepAutonomy[] | undefined, stepId: string, reasons: readonly string[]): StepAutonomy | null {
  const d = decisions?.find((x) => x.stepId === stepId);
  if (d?.level !== 'auto') return null;
  const { ceiling: _dropped, ...rest } = d;
  return { ...rest, level: 'review', limit: { kind: 'run_time', why: reasons.join('; ').slice(0, 300) } };
}

/**
 * Refuses, at start, a config whose rules name unknown or read-only tools, put an amount on a
 * rule for no money tool, or try to lift a limit: a rule that would only ever decide steps a limit
 * (or the safest-category rule) then makes stricter. Found by trying every acting tool, category,
 * source, tier and verification; the message names the rule and the limit.
 */
export function checkAutonomy(config: Pick<Config, 'autonomy' | 'categories'>, tools: readonly ToolFacts[]): void {
  const policy = autonomyPolicy(config);
  const acting = tools.filter((t) => t.risk !== 'read');
  const refuse = (i: number, why: string): never => {
    const name = policy.rules[i]?.name;
    throw new MailroomError('CONFIG_INVALID', `configuration: autonomy.rules.${i}${name ? ` ("${name}")` : ''}: ${why}`);
  };
  for (const [i, rule] of policy.rules.entries()) {
    for (const name of rule.tool ?? []) {
      const tool = tools.find((t) => t.name === name);
      if (!tool) refuse(i, `"${name}" is not a tool`);
      else if (tool.risk === 'read') refuse(i, `${name} only reads: read tools always run, a rule cannot change that`);
    }
    if (rule.maxAmount !== undefined && rule.tool && !rule.tool.some((n) => MONEY_TOOLS[n] !== undefined)) {
      refuse(i, `maxAmount applies to money tools (${Object.keys(MONEY_TOOLS).join(', ')}) and the rule names none`);
    }
  }
  if (!policy.rules.length) return;
  // For each rule: alone, would a limit leave it as it asks somewhere? And among the steps it
  // decides behind earlier rules, is it ever left as it asks?
  const alone = new Map<number, { kept: boolean; why: string }>();
  const decided = new Map<number, { kept: boolean; why: string }>();
  for (const tool of acting)
    for (const category of policy.categories)
      for (const source of ['route', 'classifier'] as const)
        for (const tier of SenderTier.options)
          for (const verified of Verification.options) {
            const s: StepSituation = { tool, category, source, tier, verified, robot: false, amount: null, suggestionFed: false };
            for (const [i, rule] of policy.rules.entries()) {
              if (!matches(rule, s)) continue;
              const seen = alone.get(i) ?? { kept: false, why: '' };
              const limit = limitsFor(s, rule.maxAmount)[0];
              if (rule.level !== 'auto' || !limit) seen.kept = true;
              else seen.why ||= limit.why;
              alone.set(i, seen);
            }
            const d = decideLevel(policy, s);
            if (!d.rule) continue;
            const seen = decided.get(d.rule.index) ?? { kept: false, why: '' };
            if (d.level === d.configured) seen.kept = true;
            else if (!seen.why && d.limit) seen.why = d.limit.why;
            decided.set(d.rule.index, seen);
          }
  for (const [i, seen] of [...alone, ...decided]) {
    if (!seen.kept) refuse(i, `level ${policy.rules[i]?.level ?? '?'} can never apply, a limit no rule can lift overrides it every time: ${seen.why}`);
  }
}
