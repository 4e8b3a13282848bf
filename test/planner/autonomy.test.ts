import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AutonomyFile, loadConfig, type AutonomyRule } from '../../src/config/config.js';
import { type AutonomyLevel } from '../../src/model/autonomy.js';
import { MailroomError } from '../../src/kernel/errors.js';
import {
  LEVELS,
  MONEY_TOOLS,
  amountOverCeiling,
  autonomyPolicy,
  checkAutonomy,
  decideLevel,
  type AutonomyPolicy,
  type StepSituation,
  type ToolFacts,
} from '../../src/planner/autonomy.js';
import { decideApproval } from '../../src/planner/approval-policy.js';
import type { Plan } from '../../src/model/plan.js';
import { createRegistry } from '../../src/tools/registry.js';
import { trustedContext } from '../fixtures/trusted-context.js';
import { SenderTier, Verification } from '../../src/model/trusted-context.js';

const registry = createRegistry();
const ACTING = registry.tools.filter((t) => t.risk !== 'read');
const CATEGORIES = ['billing', 'refund', 'bug', 'account_access', 'feature_request', 'spam'];
const rank = (l: AutonomyLevel) => LEVELS.indexOf(l);

/** A config's autonomy section as loadConfig resolves it. */
function policy(rules: unknown[], def?: AutonomyLevel): AutonomyPolicy {
  const file = AutonomyFile.parse({ rules, ...(def ? { default: def } : {}) });
  return autonomyPolicy({ autonomy: { rules: file.rules ?? [], ...(file.default ? { default: file.default } : {}) }, categories: CATEGORIES });
}

function situation(tool: ToolFacts, over: Partial<StepSituation> = {}): StepSituation {
  return { tool, category: 'billing', source: 'route', tier: 'pro', verified: 'dmarc', robot: false, amount: null, suggestionFed: false, ...over };
}

/**
 * The limits, written out again from the issue rather than imported, so that a change to the
 * policy's own list cannot weaken what this test demands: true when the step may never be `auto`.
 */
function forbidsAuto(tool: ToolFacts, s: StepSituation): boolean {
  const reachesStranger = tool.audience === 'anyone' || (tool.risk === 'external' && tool.audience !== 'sender');
  const humanOnly = tool.requiresApproval !== undefined && tool.name !== 'issue_refund';
  const replyToUntrusted = tool.risk === 'external' && tool.audience === 'sender' && (s.verified === 'unverified' || s.robot);
  return reachesStranger || humanOnly || replyToUntrusted || s.suggestionFed;
}

/** A naive first-match, written independently of the module under test. */
function naive(rules: readonly AutonomyRule[], def: AutonomyLevel | undefined, s: StepSituation): { level: AutonomyLevel; maxAmount: number | undefined } {
  for (const r of rules) {
    const ok =
      (r.tool === undefined || r.tool.includes(s.tool.name)) &&
      (r.category === undefined || r.category.includes(s.category)) &&
      (r.source === undefined || r.source === s.source) &&
      (r.tier === undefined || r.tier.includes(s.tier)) &&
      (r.verified === undefined || r.verified.includes(s.verified));
    if (ok) return { level: r.level, maxAmount: r.maxAmount };
  }
  return { level: def ?? (s.tool.requiresApproval ? 'review' : 'auto'), maxAmount: undefined };
}

describe('autonomy levels: every tool × level × category source', () => {
  const cases = ACTING.flatMap((tool) => LEVELS.flatMap((level) => (['route', 'classifier'] as const).map((source) => [tool.name, level, source] as const)));

  it.each(cases)('%s at level %s, category from the %s', (name, level, source) => {
    const tool = registry.get(name);
    if (!tool) throw new Error(name);
    const money = MONEY_TOOLS[name] !== undefined;
    // A rule keyed on the category, for billing only; every other category falls to a review default.
    const keyed = policy([{ tool: name, category: 'billing', level, ...(money ? { maxAmount: 20 } : {}) }], 'review');
    const s = situation(tool, { source });
    const d = decideLevel(keyed, s);
    const limited = forbidsAuto(tool, s);
    // From a route the rule is taken as it is; from the classifier no more permissive than the safest category (review here).
    let expected: AutonomyLevel = source === 'route' ? level : rank(level) <= rank('review') ? level : 'review';
    if (limited && expected === 'auto') expected = 'review';
    expect(d.level).toBe(expected);
    expect(d.configured).toBe(level);
    expect(d.rule).toEqual({ index: 0, name: '' });
    if (d.level === 'auto' && money) expect(d.ceiling).toBe(20);
    // The same rule for every category: the source no longer matters.
    const everywhere = decideLevel(policy([{ tool: name, level, ...(money ? { maxAmount: 20 } : {}) }], 'review'), s);
    expect(everywhere.level).toBe(limited && level === 'auto' ? 'review' : level);
  });

  it('with no autonomy section, levels are today’s policy: review for tools that declare approval, auto otherwise, limits on top', () => {
    const none = autonomyPolicy({ autonomy: { rules: [] }, categories: CATEGORIES });
    const table = Object.fromEntries(ACTING.map((t) => [t.name, decideLevel(none, situation(t, { source: 'classifier' })).level]));
    expect(table).toEqual({
      apply_label: 'auto',
      move_message: 'auto',
      set_flags: 'auto',
      create_ticket: 'auto',
      add_to_ticket: 'auto',
      escalate: 'auto',
      forward_to_team: 'auto',
      send_reply: 'auto',
      issue_refund: 'review',
      send_email: 'review',
      delete_message: 'review',
      update_account: 'review',
    });
  });
});

/** Generated rules: any combination of conditions and levels, over the real tools and categories. */
const ruleArb: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    tool: fc.subarray(ACTING.map((t) => t.name), { minLength: 1 }),
    category: fc.subarray([...CATEGORIES, 'unknown'], { minLength: 1 }),
    source: fc.constantFrom('route', 'classifier'),
    tier: fc.subarray([...SenderTier.options], { minLength: 1 }),
    verified: fc.subarray([...Verification.options], { minLength: 1 }),
    maxAmount: fc.integer({ min: 1, max: 1000 }),
    level: fc.constantFrom(...LEVELS),
  },
  { requiredKeys: ['level'] },
);
const configArb = fc.record({ rules: fc.array(ruleArb, { maxLength: 8 }), default: fc.option(fc.constantFrom(...LEVELS), { nil: undefined }) });
const situationArb = fc.record({
  tool: fc.constantFrom(...ACTING),
  category: fc.constantFrom(...CATEGORIES, 'unknown'),
  source: fc.constantFrom('route' as const, 'classifier' as const),
  tier: fc.constantFrom(...SenderTier.options),
  verified: fc.constantFrom(...Verification.options),
  robot: fc.boolean(),
  amount: fc.option(fc.integer({ min: 1, max: 2000 }), { nil: null }),
  suggestionFed: fc.boolean(),
});

describe('limits no config can lift (property-based over generated configs)', () => {
  it('never auto where a limit forbids it; money auto only under every ceiling; classifier categories never more permissive than the safest', () => {
    fc.assert(
      fc.property(configArb, situationArb, (config, s) => {
        const p = policy(config.rules, config.default);
        const d = decideLevel(p, s);
        if (forbidsAuto(s.tool, s)) expect(d.level).not.toBe('auto');
        // Never more permissive than what the rules say for this very category.
        const own = naive(p.rules, p.default, s);
        expect(rank(d.level)).toBeLessThanOrEqual(rank(own.level));
        if (s.source === 'classifier') {
          for (const category of [...CATEGORIES, 'unknown']) expect(rank(d.level)).toBeLessThanOrEqual(rank(naive(p.rules, p.default, { ...s, category }).level));
        }
        if (MONEY_TOOLS[s.tool.name] !== undefined && d.level === 'auto') {
          expect(d.ceiling).toBeDefined();
          expect(d.ceiling).toBeLessThanOrEqual(own.maxAmount ?? -1);
          if (s.amount !== null) expect(s.amount).toBeLessThanOrEqual(d.ceiling ?? -1);
          // At run time: over the ceiling always parks.
          expect(amountOverCeiling([{ stepId: 'r', tool: s.tool.name, ...d }], 'r', s.tool.name, { amount: (d.ceiling ?? 0) + 0.01 })).toHaveLength(1);
        }
      }),
      { numRuns: 3000, seed: 20261128 },
    );
  });

  it('decideApproval never auto-approves a plan with a step a limit forbids, whatever the config', () => {
    const contexts = [
      trustedContext(),
      trustedContext({ sender: { verified: false, reason: 'dmarc=fail' }, account: null }),
      trustedContext({ auto: { kind: 'autoreply', reason: 'auto-submitted' } }),
      trustedContext({ category: { name: 'bug', source: 'route' }, account: { id: 'acct_1', tier: 'enterprise', openTickets: 0 } }),
    ];
    fc.assert(
      fc.property(configArb, fc.constantFrom(...contexts), fc.subarray(ACTING, { minLength: 1, maxLength: 4 }), (config, context, tools) => {
        const p = policy(config.rules, config.default);
        const plan: Plan = { steps: tools.map((t, i) => ({ id: `s${i}`, tool: t.name, args: (t.name === 'issue_refund' ? { amount: 5000 } : {}) as Plan['steps'][number]['args'] })) };
        const decision = decideApproval(plan, registry, context, [], p);
        const verified = context.sender.verified ? context.sender.method : 'unverified';
        for (const step of decision.steps) {
          const tool = registry.get(step.tool);
          if (!tool) throw new Error(step.tool);
          const s = situation(tool, { verified, robot: context.auto.kind !== 'none' });
          if (forbidsAuto(tool, s) || tool.name === 'issue_refund') expect(step.level).not.toBe('auto');
        }
        if (decision.decision === 'auto') expect(decision.steps.every((st) => st.level === 'auto')).toBe(true);
        if (decision.steps.some((st) => st.level === 'never')) expect(decision.decision).toBe('refuse');
      }),
      { numRuns: 500, seed: 20261128 },
    );
  });
});

describe('a config that tries to lift a limit is refused at load, with the rule named', () => {
  const check = (rules: unknown[], def?: AutonomyLevel) => {
    const p = policy(rules, def);
    return () => checkAutonomy({ autonomy: { rules: [...p.rules], ...(def ? { default: def } : {}) }, categories: CATEGORIES }, registry.tools);
  };
  const refusal = (fn: () => void): string => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(MailroomError);
      if (err instanceof MailroomError) {
        expect(err.code).toBe('CONFIG_INVALID');
        return err.message;
      }
    }
    throw new Error('not refused');
  };

  it.each([
    [[{ name: 'mail anyone', tool: 'send_email', level: 'auto' }], /rules\.0 \("mail anyone"\).*send_email reaches someone other than the verified sender or a configured team/],
    [[{ tool: 'send_reply', level: 'review' }, { name: 'strangers', tool: 'send_reply', verified: 'unverified', level: 'auto' }], /rules\.1 \("strangers"\).*unverified sender/],
    [[{ name: 'refunds', tool: 'issue_refund', level: 'auto' }], /rules\.0 \("refunds"\).*no rule with maxAmount/],
    [[{ name: 'tidy', tool: 'delete_message', level: 'auto' }], /rules\.0 \("tidy"\).*always a human's decision/],
    [[{ name: 'billing', tool: 'send_reply', category: 'billing', source: 'classifier', level: 'auto' }, { tool: 'send_reply', level: 'review' }], /rules\.0 \("billing"\).*as strict as for/],
    [[{ name: 'read', tool: 'search_kb', level: 'never' }], /rules\.0 \("read"\).*read tools always run/],
    [[{ name: 'typo', tool: 'send_replies', level: 'review' }], /rules\.0 \("typo"\).*"send_replies" is not a tool/],
    [[{ name: 'odd', tool: 'send_reply', maxAmount: 5, level: 'auto' }], /rules\.0 \("odd"\).*maxAmount applies to money tools/],
  ])('refuses %j', (rules, message) => {
    expect(refusal(check(rules))).toMatch(message);
  });

  it('accepts rules that decide some steps as asked (a general rule is capped where a limit applies, not refused)', () => {
    expect(check([{ tool: 'send_reply', level: 'auto' }, { tool: 'issue_refund', tier: 'enterprise', maxAmount: 20, level: 'auto' }, { level: 'auto' }])).not.toThrow();
    expect(check([{ category: 'bug', source: 'route', tool: 'send_reply', level: 'review' }, { category: 'spam', level: 'never' }])).not.toThrow();
  });
});

describe('money ceiling at run time', () => {
  const auto = { stepId: 'refund', tool: 'issue_refund', level: 'auto' as const, configured: 'auto' as const, rule: { index: 0, name: '' }, limit: null, ceiling: 20 };
  it('runs at or under the ceiling, parks over it, without a decision, or without a number', () => {
    expect(amountOverCeiling([auto], 'refund', 'issue_refund', { amount: 20 })).toEqual([]);
    expect(amountOverCeiling([auto], 'refund', 'issue_refund', { amount: 20.01 })[0]).toMatch(/above the autonomy ceiling \(20\)/);
    expect(amountOverCeiling(undefined, 'refund', 'issue_refund', { amount: 1 })).toHaveLength(1);
    expect(amountOverCeiling([auto], 'refund', 'issue_refund', { amount: '1' })).toHaveLength(1);
    expect(amountOverCeiling([{ ...auto, level: 'review' }], 'refund', 'issue_refund', { amount: 1 })).toHaveLength(1);
    expect(amountOverCeiling(undefined, 'send', 'send_reply', {})).toEqual([]);
  });
});

describe('the autonomy section of the config file', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-autonomy-'));
  const load = (autonomy: unknown) => {
    const file = path.join(dir, `c${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, JSON.stringify({ categories: ['billing', 'bug'], autonomy }));
    return loadConfig({ env: {}, configPath: file, withoutSecrets: true });
  };

  it('is absent by default (today’s policy), and one value or a list is a list once parsed', () => {
    expect(loadConfig({ env: {}, withoutSecrets: true }).autonomy).toEqual({ rules: [] });
    const config = load({ rules: [{ tool: 'send_reply', category: 'bug', tier: ['pro', 'enterprise'], level: 'review' }], default: 'auto' });
    expect(config.autonomy).toEqual({ rules: [{ tool: ['send_reply'], category: ['bug'], tier: ['pro', 'enterprise'], level: 'review' }], default: 'auto' });
  });

  it('refuses, with the rule named, a level that does not exist, an unknown key and a category the config does not declare', () => {
    expect(() => load({ rules: [{ tool: 'send_reply', level: 'always' }] })).toThrow(/autonomy\.rules\.0\.level/);
    expect(() => load({ rules: [{ tool: 'send_reply', recipient: 'x@y.example', level: 'auto' }] })).toThrow(/autonomy\.rules\.0/);
    expect(() => load({ rules: [{ level: 'review' }, { name: 'typo', category: 'biling', level: 'review' }] })).toThrow(/autonomy\.rules\.1 \("typo"\): category "biling" is not one of the configured categories/);
  });
});

describe('decideApproval applies the level of each step', () => {
  const plan: Plan = {
    steps: [
      { id: 'kb', tool: 'search_kb', args: { topic: '{{context.category.name}}' } },
      { id: 'draft', tool: 'draft_reply', args: { email: '{{email.ref}}', article: '{{steps.kb.output.articleId}}' } },
      { id: 'label', tool: 'apply_label', args: { label: 'mailroom/billing' } },
      { id: 'send', tool: 'send_reply', args: { draft: '{{steps.draft.output.ref}}' } },
    ],
  };
  const routed = trustedContext({ category: { name: 'billing', source: 'route' } });

  it('auto everywhere: the plan runs, each write and external step recorded with its level and rule', () => {
    const d = decideApproval(plan, registry, routed, [], policy([{ name: 'replies', tool: 'send_reply', level: 'auto' }]));
    expect(d).toMatchObject({ decision: 'auto', reasons: [] });
    expect(d.steps).toEqual([
      expect.objectContaining({ stepId: 'label', tool: 'apply_label', level: 'auto', rule: null }),
      expect.objectContaining({ stepId: 'send', tool: 'send_reply', level: 'auto', rule: { index: 0, name: 'replies' } }),
    ]);
  });

  it('review on a write step parks the plan there; the reads before it run first', () => {
    const d = decideApproval(plan, registry, routed, [], policy([{ name: 'labels', tool: 'apply_label', level: 'review' }]));
    expect(d).toMatchObject({ decision: 'park', gate: 2, reasons: ['step label: apply_label is review by autonomy rules[0] "labels"'] });
  });

  it('never refuses the plan with the rule named', () => {
    const d = decideApproval(plan, registry, routed, [], policy([{ name: 'no replies', tool: 'send_reply', level: 'never' }]));
    expect(d).toMatchObject({ decision: 'refuse', reasons: ['step send: send_reply is never done alone (autonomy rules[0] "no replies")'] });
  });

  it('a category the classifier chose is held as the safest one, and says so', () => {
    const rules = [{ name: 'bug replies', tool: 'send_reply', category: 'bug', level: 'review' }];
    expect(decideApproval(plan, registry, routed, [], policy(rules)).decision).toBe('auto');
    const d = decideApproval(plan, registry, trustedContext({ category: { name: 'billing', source: 'classifier' } }), [], policy(rules));
    expect(d.decision).toBe('park');
    expect(d.reasons).toEqual(['step send: send_reply: the classifier chose the category, so it is as strict as for "bug" (rules[0] "bug replies": review)']);
  });

  it('money: a literal amount over the ceiling parks at once; within it the refund runs alone with its ceiling recorded', () => {
    const refund = (amount: number): Plan => ({ steps: [{ id: 'refund', tool: 'issue_refund', args: { account: '{{context.account.id}}', order: 'ORD-1', amount } }] });
    const rules = policy([{ name: 'small', tool: 'issue_refund', maxAmount: 20, level: 'auto' }]);
    expect(decideApproval(refund(25), registry, routed, [], rules)).toMatchObject({ decision: 'park', reasons: ['step refund: issue_refund: issue_refund of 25 is above the ceiling of 20'] });
    const ok = decideApproval(refund(20), registry, routed, [], rules);
    expect(ok).toMatchObject({ decision: 'auto', steps: [expect.objectContaining({ level: 'auto', ceiling: 20 })] });
  });
});
