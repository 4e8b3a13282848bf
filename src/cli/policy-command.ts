import { z } from 'zod';
import type { Config } from '../config/config.js';
import { MailroomError } from '../kernel/errors.js';
import { autonomyPolicy, checkAutonomy, decideLevel, limitsFor, ruleLabel, type StepSituation } from '../planner/autonomy.js';
import { AutonomyLevel } from '../model/autonomy.js';
import { CategorySource, SenderTier, Verification } from '../model/trusted-context.js';
import type { ToolRegistry } from '../tools/registry.js';

/** The facts `mailroom policy explain` is asked about (its options, parsed). */
export const ExplainQuery = z
  .object({
    category: z.string(),
    source: CategorySource,
    tier: SenderTier,
    verified: Verification,
    robot: z.boolean(),
    amount: z.number().positive().nullable(),
  })
  .strict();
export type ExplainQuery = z.infer<typeof ExplainQuery>;

/** One tool's line: its level and why (the rule, the default, or the limit that overrode them). */
export const ExplainRow = z.object({ tool: z.string(), level: AutonomyLevel, why: z.string() }).strict();
export type ExplainRow = z.infer<typeof ExplainRow>;

export const PolicyExplanation = z.object({ query: ExplainQuery, tools: z.array(ExplainRow), reads: z.array(z.string()) }).strict();
export type PolicyExplanation = z.infer<typeof PolicyExplanation>;

/**
 * `mailroom policy explain`: what the configured autonomy would do with a step of each write and
 * external tool for an email with these trusted facts, and why. Pure: no Redis, no mail. The
 * config is checked as at start, so a refused config is refused here too.
 */
export function explainPolicy(config: Pick<Config, 'autonomy' | 'categories' | 'refunds'>, registry: ToolRegistry, raw: unknown): PolicyExplanation {
  const parsed = ExplainQuery.safeParse(raw);
  if (!parsed.success) throw new MailroomError('CONFIG_INVALID', `policy explain: ${parsed.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const query = parsed.data;
  const policy = autonomyPolicy(config);
  if (!policy.categories.includes(query.category)) {
    throw new MailroomError('CONFIG_INVALID', `policy explain: --category "${query.category}" is not one of the configured categories (${policy.categories.join(', ')})`);
  }
  checkAutonomy(config, registry.tools);
  const tools: ExplainRow[] = [];
  for (const tool of registry.tools) {
    if (tool.risk === 'read') continue;
    const s: StepSituation = { ...query, tool, suggestionFed: false };
    const d = decideLevel(policy, s);
    const chose = `${ruleLabel(d.rule)}${d.rule ? '' : d.configured === 'review' && !config.autonomy.default ? ` (${tool.name} ${tool.requiresApproval ?? ''})`.replace(' )', ')') : ''}`;
    let why = d.limit ? `${chose} chose ${d.configured}; limit: ${d.limit.why}` : chose;
    // A limit that did not change this answer still bounds what a rule could make of it.
    const bound = limitsFor(s, d.ceiling)[0];
    if (!d.limit && bound && d.level !== 'auto') why += `; never auto: ${bound.why}`;
    if (d.ceiling !== undefined) {
      // The refund tool refuses anything above its own cap, whatever a rule allows.
      const cap = tool.name === 'issue_refund' && config.refunds.maxAmount < d.ceiling ? config.refunds.maxAmount : null;
      const upTo = cap === null ? `${d.ceiling}` : `${cap} (refunds.maxAmount, the tool's own cap; the rule says ${d.ceiling})`;
      why += `; runs alone up to ${upTo}${query.amount === null ? ' (the amount is checked when the step runs)' : ''}`;
    }
    tools.push({ tool: tool.name, level: d.level, why });
  }
  return { query, tools, reads: registry.tools.filter((t) => t.risk === 'read').map((t) => t.name) };
}

/** The explanation as a table a lead reads. */
export function formatExplanation(e: PolicyExplanation): string {
  const q = e.query;
  const lines = [
    `category ${q.category} (from ${q.source === 'route' ? 'a routing rule' : 'the classifier: as strict as the safest category'}), ` +
      `tier ${q.tier}, sender ${q.verified === 'unverified' ? 'unverified' : `verified by ${q.verified}`}${q.robot ? ', robot mail' : ''}, ` +
      `amount ${q.amount ?? 'from an earlier step'}`,
    '',
    ...e.tools.map((r) => `${r.tool.padEnd(16)} ${r.level.padEnd(8)} ${r.why}`),
    '',
    `always run (they only read): ${e.reads.join(', ')}`,
    'levels: never = refused, the email escalates · suggest = recorded as a would-do, waits for a person · review = parks for approval · auto = runs',
  ];
  return `${lines.join('\n')}\n`;
}
