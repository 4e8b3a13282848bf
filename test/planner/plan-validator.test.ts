import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { emailIdFor } from '../../src/kernel/ids.js';
import { AutoKind } from '../../src/model/trusted-context.js';
import { TrustedContext } from '../../src/model/trusted-context.js';
import { DEFAULT_LIMITS, validatePlan } from '../../src/planner/plan-validator.js';
import { Plan } from '../../src/model/plan.js';
import { PLAYBOOK_CATEGORIES } from '../fixtures/categories.js';
import { trustedContext, viewOf } from '../fixtures/trusted-context.js';
import { DEFAULT_PLAYBOOKS, escalationPlan, playbookPlan, robotPlan } from '../../src/planner/playbooks.js';
import { createRegistry } from '../../src/tools/registry.js';
import type { PlanLimits, ValidationRule } from '../../src/planner/plan-validator.js';
import type { ArgValue, Step } from '../../src/model/plan.js';
import type { ToolDescriptor } from '../../src/tools/tool.js';
import type { z } from 'zod';

const registry = createRegistry();

const plan = (...steps: Step[]): Plan => Plan.parse({ steps });
const step = (id: string, tool: string, args: Record<string, ArgValue>): Step => ({ id, tool, args });

/** The distinct rules a plan breaks, sorted. */
function rules(p: Plan, limits: PlanLimits = DEFAULT_LIMITS): ValidationRule[] {
  return [...new Set(validatePlan(p, registry, limits).errors.map((e) => e.rule))].sort();
}

const KB = step('kb', 'search_kb', { topic: '{{context.category.name}}' });
const DRAFT = step('draft', 'suggest_reply', {
  email: '{{email.ref}}',
  article: '{{steps.kb.output.articleId}}',
});
const SEND = step('send', 'send_reply', { draft: '{{steps.draft.output.ref}}' });
const CLASSIFY = step('classify', 'classify_email', { email: '{{email.ref}}' });

describe('validatePlan accepts', () => {
  it('the reply plan of the design', () => {
    const result = validatePlan(plan(KB, DRAFT, SEND), registry);
    expect(result.errors).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.parkReasons).toEqual([]);
    expect(result.outputLabels).toEqual({
      kb: { tainted: false, conf: 'public' },
      draft: { tainted: true, conf: 'sender' },
      send: { tainted: false, conf: 'internal' },
    });
  });

  it.each(Object.entries(DEFAULT_PLAYBOOKS))('the default playbook %s', (name, playbook) => {
    const result = validatePlan(Plan.parse(playbook(viewOf(trustedContext({ category: { name, source: 'classifier' } })))), registry);
    expect(result.errors).toEqual([]);
    // Cancellation mails the account's billing contact: sender data to an outside recipient parks.
    if (name === 'cancellation') expect(result.parkReasons).toEqual([expect.stringContaining('send_email')]);
    else expect(result.parkReasons).toEqual([]);
  });

  it.each(['plan_invalid', 'needs_human', 'step_failed'] as const)('the escalation plan (%s)', (reason) => {
    expect(validatePlan(Plan.parse(escalationPlan(reason)), registry).errors).toEqual([]);
  });

  it.each(AutoKind.options.filter((k) => k !== 'none'))('the robot plan (%s)', (kind) => {
    expect(validatePlan(Plan.parse(robotPlan(kind)), registry).errors).toEqual([]);
  });

  it('every plan the playbook planner can produce', () => {
    for (const verified of [true, false]) {
      for (const name of PLAYBOOK_CATEGORIES) {
        const ctx = TrustedContext.parse({
          emailId: emailIdFor('support@acme.example', `<${name}@x.example>`),
          mailbox: 'support@acme.example',
          folder: null,
          uid: null,
          sizeBytes: 1000,
          receivedAt: '2026-11-02T14:14:34.000Z',
          sender: verified
            ? { verified: true, address: 'dana@brightleaf.example', method: 'dmarc' }
            : { verified: false, reason: 'dmarc=fail' },
          account: null,
          category: { name, source: 'classifier' },
          attachments: { count: 0, types: [] },
          auto: { kind: 'none', reason: 'no robot signal' },
        });
        expect(validatePlan(Plan.parse(playbookPlan(viewOf(ctx))), registry).errors).toEqual([]);
      }
    }
  });
});

describe('validatePlan rules', () => {
  it('unknown_tool', () => {
    const result = validatePlan(plan(step('x', 'forward_email', { to: 'a@evil.example' })), registry);
    expect(result.ok).toBe(false);
    expect(result.errors).toEqual([expect.objectContaining({ rule: 'unknown_tool', stepId: 'x' })]);
  });

  it('duplicate_step_id', () => {
    expect(
      rules(plan(step('a', 'apply_label', { label: 'one' }), step('a', 'apply_label', { label: 'two' }))),
    ).toEqual(['duplicate_step_id']);
  });

  it('unknown_argument', () => {
    const result = validatePlan(
      plan(step('l', 'apply_label', { label: 'x', to: 'attacker@evil.example' })),
      registry,
    );
    expect(result.errors).toEqual([
      expect.objectContaining({ rule: 'unknown_argument', stepId: 'l', arg: 'to' }),
    ]);
  });

  // Regression (fixed): unknown_argument is checked with `name in shape`, which also finds Object.prototype
  // members, so an argument named `constructor` (or `toString`, `hasOwnProperty`, ...) is neither
  // reported nor checked: here a tainted value passes validation into apply_label and only the
  // executor stops it (TAINT_VIOLATION), after the plan was approved.
  it('unknown_argument for names inherited from Object.prototype', () => {
    expect(rules(plan(step('l', 'apply_label', { label: 'x', constructor: '{{email.ref}}' })))).toEqual([
      'unknown_argument',
    ]);
  });

  it('missing_argument', () => {
    const result = validatePlan(
      plan(step('e', 'escalate', {}), step('d', 'suggest_reply', { email: '{{email.ref}}' })),
      registry,
    );
    expect(result.errors.map((e) => [e.rule, e.stepId, e.arg])).toEqual([
      ['missing_argument', 'e', 'reason'],
      // `article` is nullable but not optional: the plan must say null explicitly.
      ['missing_argument', 'd', 'article'],
    ]);
  });

  it('invalid_placeholder', () => {
    for (const bad of [
      'hi {{email.ref}}',
      '{{email.text}}',
      '{{steps.kb}}',
      '{{secrets.x}}',
      '{{context..name}}',
    ]) {
      const result = validatePlan(
        plan(KB, step('draft', 'suggest_reply', { email: bad, article: null })),
        registry,
      );
      expect(result.errors).toEqual([
        expect.objectContaining({ rule: 'invalid_placeholder', stepId: 'draft', arg: 'email' }),
      ]);
    }
  });

  it('missing_step', () => {
    const result = validatePlan(
      plan(step('send', 'send_reply', { draft: '{{steps.draft.output.ref}}' })),
      registry,
    );
    expect(result.errors).toEqual([
      expect.objectContaining({ rule: 'missing_step', stepId: 'send', arg: 'draft' }),
    ]);
  });

  it('forward_reference', () => {
    expect(rules(plan(SEND, KB, DRAFT))).toEqual(['forward_reference']);
  });

  it('cycle: a step that refers to itself', () => {
    const self = step('draft', 'suggest_reply', {
      email: '{{email.ref}}',
      article: '{{steps.draft.output.ref}}',
    });
    expect(rules(plan(self))).toContain('cycle');
    expect(rules(plan(self)).filter((r) => r !== 'cycle' && r !== 'tainted_control_argument')).toEqual([]);
  });

  it('cycle: two steps that refer to each other', () => {
    const a = step('a', 'suggest_reply', { email: '{{email.ref}}', article: '{{steps.b.output.title}}' });
    const b = step('b', 'search_kb', { topic: '{{steps.a.output.ref}}' });
    expect(rules(plan(a, b))).toContain('cycle');
  });

  it('unknown_output_field', () => {
    const result = validatePlan(
      plan(KB, step('draft', 'suggest_reply', { email: '{{email.ref}}', article: '{{steps.kb.output.body}}' })),
      registry,
    );
    expect(result.errors).toEqual([
      expect.objectContaining({ rule: 'unknown_output_field', stepId: 'draft', arg: 'article' }),
    ]);
    expect(
      rules(
        plan(
          KB,
          step('draft', 'suggest_reply', {
            email: '{{email.ref}}',
            article: '{{steps.kb.output.articleId.x}}',
          }),
        ),
      ),
    ).toEqual(['unknown_output_field']);
  });

  it('unknown_context_field: the context holds no sender-written text', () => {
    for (const field of ['subject', 'body', 'text', 'sender.displayName', 'category.confidence']) {
      const result = validatePlan(plan(step('kb', 'search_kb', { topic: `{{context.${field}}}` })), registry);
      expect(result.errors).toEqual([
        expect.objectContaining({ rule: 'unknown_context_field', stepId: 'kb', arg: 'topic' }),
      ]);
    }
  });

  it('argument_type: a literal of the wrong type', () => {
    expect(rules(plan(step('e', 'escalate', { reason: 'wire_money' })))).toEqual(['argument_type']);
    expect(rules(plan(step('l', 'apply_label', { label: 42 })))).toEqual(['argument_type']);
    expect(rules(plan(step('l', 'apply_label', { label: 'bad\nlabel' })))).toEqual(['argument_type']);
    expect(rules(plan(step('d', 'suggest_reply', { email: '{{email.ref}}', article: true })))).toEqual([
      'argument_type',
    ]);
  });

  it('argument_type: a trusted reference of the wrong type', () => {
    // An object is not a string.
    expect(rules(plan(step('kb', 'search_kb', { topic: '{{context.category}}' })))).toEqual([
      'argument_type',
    ]);
    // An arbitrary string does not fit a closed enum.
    expect(rules(plan(step('e', 'escalate', { reason: '{{context.category.name}}' })))).toEqual([
      'argument_type',
    ]);
    // {{email.ref}} is a content ref, and an enum parameter takes no ref.
    expect(rules(plan(step('e', 'escalate', { reason: '{{email.ref}}' })))).toContain('ref_kind');
  });

  it('argument_type: a tainted reference into a field of another type', () => {
    const r = rules(
      plan(CLASSIFY, step('kb', 'search_kb', { topic: '{{steps.classify.output.confidence}}' })),
    );
    expect(r).toContain('argument_type');
    expect(r).toContain('tainted_control_argument');
    expect(
      rules(plan(CLASSIFY, step('e', 'escalate', { reason: '{{steps.classify.output.confidence}}' }))),
    ).toContain('argument_type');
  });

  it('context_in_lookup_argument: money never takes a number the sender\'s mail measured (size, attachment count)', () => {
    const fields = step('fields', 'extract_fields', { email: '{{email.ref}}' });
    const order = step('order', 'lookup_order', { account: '{{context.account.id}}', orderRef: '{{steps.fields.output.orderId}}' });
    const refund = (amount: ArgValue) =>
      plan(fields, order, step('refund', 'issue_refund', { account: '{{context.account.id}}', order: '{{steps.order.output.orderId}}', amount }));
    // The lookup's amount (the playbook's plan) and a literal are accepted.
    expect(rules(refund('{{steps.order.output.amount}}'))).toEqual([]);
    expect(rules(refund(20))).toEqual([]);
    // Trusted numbers, but chosen by the sender: before, both were adopted as refund amounts.
    expect(rules(refund('{{context.sizeBytes}}'))).toEqual(['context_in_lookup_argument']);
    expect(rules(refund('{{context.attachments.count}}'))).toEqual(['context_in_lookup_argument']);
  });

  it('too_many_steps', () => {
    const labels = (n: number) =>
      plan(...Array.from({ length: n }, (_, i) => step(`l${i}`, 'apply_label', { label: `l${i}` })));
    expect(rules(labels(DEFAULT_LIMITS.maxSteps))).toEqual([]);
    expect(rules(labels(DEFAULT_LIMITS.maxSteps + 1))).toEqual(['too_many_steps']);
    expect(rules(labels(3), { maxSteps: 2, maxFanOut: 4 })).toEqual(['too_many_steps']);
  });

  it('fan_out', () => {
    const consumers = (n: number) =>
      Array.from({ length: n }, (_, i) =>
        step(`d${i}`, 'suggest_reply', { email: '{{email.ref}}', article: '{{steps.kb.output.articleId}}' }),
      );
    expect(rules(plan(KB, ...consumers(DEFAULT_LIMITS.maxFanOut)))).toEqual([]);
    const result = validatePlan(plan(KB, ...consumers(DEFAULT_LIMITS.maxFanOut + 1)), registry);
    expect(result.errors).toEqual([expect.objectContaining({ rule: 'fan_out', stepId: 'kb' })]);
    expect(rules(plan(KB, ...consumers(2)), { maxSteps: 12, maxFanOut: 1 })).toEqual(['fan_out']);
  });

  it('tainted_control_argument: a draft ref or the email ref as a label', () => {
    for (const value of ['{{steps.draft.output.ref}}', '{{email.ref}}']) {
      const result = validatePlan(plan(KB, DRAFT, step('label', 'apply_label', { label: value })), registry);
      // A ref also breaks the label's pattern (argument_type); the taint rule must fire regardless.
      expect(result.errors).toContainEqual(
        expect.objectContaining({ rule: 'tainted_control_argument', stepId: 'label', arg: 'label' }),
      );
      expect(result.ok).toBe(false);
    }
  });

  it('tainted_control_argument: the classifier’s category chooses nothing', () => {
    expect(
      rules(plan(CLASSIFY, step('kb', 'search_kb', { topic: '{{steps.classify.output.category}}' }))),
    ).toEqual(['tainted_control_argument']);
    expect(
      rules(
        plan(
          CLASSIFY,
          step('d', 'suggest_reply', { email: '{{email.ref}}', article: '{{steps.classify.output.category}}' }),
        ),
      ),
    ).toEqual(['tainted_control_argument']);
  });

  it('untainted outputs of a tainted-output tool may reach control parameters', () => {
    // suggest_reply taints only `ref`; search_kb's outputs are trusted.
    expect(
      rules(
        plan(KB, step('d', 'suggest_reply', { email: '{{email.ref}}', article: '{{steps.kb.output.title}}' })),
      ),
    ).toEqual([]);
  });

  it('parks (but accepts) a plan that would send internal data to the sender', () => {
    const label = step('label', 'apply_label', { label: 'x' });
    const draft = step('draft', 'suggest_reply', {
      email: '{{email.ref}}',
      article: '{{steps.label.output.label}}',
    });
    const result = validatePlan(
      plan(label, draft, step('send', 'send_reply', { draft: '{{steps.draft.output.ref}}' })),
      registry,
    );
    expect(result.errors).toEqual([]);
    expect(result.outputLabels.draft).toEqual({ tainted: true, conf: 'internal' });
    expect(result.parkReasons).toHaveLength(1);
    expect(result.parkReasons[0]).toContain('send');
  });
});

// ---------------------------------------------------------------------------------------------
// Property: whatever the validator accepts respects ordering and the data-flow policy. Taint is
// computed here independently of the validator: {{email.ref}} is tainted, and a step output
// field is tainted iff its tool lists it in taintedOutputs (a whole output iff it lists any).

const LITERALS: ArgValue[] = [
  'mailroom/x',
  'needs_human',
  'refund_request',
  'billing',
  'reset-password',
  '',
  'ur_draft_0123456789abcdef',
  'ur_content_0123456789abcdef',
  null,
  0.5,
  3,
  true,
];
const CONTEXT_REFS = [
  '{{context.category.name}}',
  '{{context.sender.address}}',
  '{{context.account.id}}',
  '{{context.mailbox}}',
  '{{context.nope}}',
];
const OUTPUT_FIELDS = [...new Set(registry.tools.flatMap((t) => Object.keys(t.output.shape)))];

const STEP_REF = /^\{\{\s*steps\.([A-Za-z0-9_]+)\.output(?:\.([A-Za-z0-9_]+))?\s*\}\}$/;
const EMAIL_REF = /^\{\{\s*email\.ref\s*\}\}$/;

/** A step reference: mostly to an earlier step and one of its own output fields, sometimes anywhere. */
function stepRefArb(i: number, tools: readonly ToolDescriptor[]): fc.Arbitrary<string> {
  const anywhere = fc.integer({ min: 0, max: tools.length + 1 });
  const target =
    i === 0
      ? anywhere
      : fc.oneof(
          { weight: 4, arbitrary: fc.integer({ min: 0, max: i - 1 }) },
          { weight: 1, arbitrary: anywhere },
        );
  return target.chain((k) => {
    const own = Object.keys(tools[k]?.output.shape ?? {});
    return fc
      .oneof(
        { weight: 4, arbitrary: own.length ? fc.constantFrom(...own) : fc.constant('') },
        { weight: 1, arbitrary: fc.constantFrom(...OUTPUT_FIELDS, '') },
      )
      .map((f) => (f ? `{{steps.s${k}.output.${f}}}` : `{{steps.s${k}.output}}`));
  });
}

function valueArb(field: z.ZodType, i: number, tools: readonly ToolDescriptor[]): fc.Arbitrary<ArgValue> {
  // The validator refuses literal refs to untrusted content, so they never count as fitting.
  const valid = LITERALS.filter((v) => field.safeParse(v).success && !(typeof v === 'string' && v.startsWith('ur_')));
  // Ref parameters (no literal fits) mostly get placeholders, so accepted plans with refs are common.
  return fc.oneof(
    { weight: valid.length ? 4 : 1, arbitrary: valid.length ? fc.constantFrom(...valid) : fc.constantFrom(...LITERALS) },
    { weight: 1, arbitrary: fc.constantFrom(...LITERALS) },
    { weight: 2, arbitrary: fc.constant('{{email.ref}}') },
    { weight: 1, arbitrary: fc.constantFrom(...CONTEXT_REFS) },
    { weight: 4, arbitrary: stepRefArb(i, tools) },
  );
}

function stepArb(tool: ToolDescriptor, i: number, tools: readonly ToolDescriptor[]): fc.Arbitrary<Step> {
  const fields: Array<[string, z.ZodType]> = Object.entries(tool.input.shape);
  const argArbs = fields.map(([name, field]) =>
    fc.option(valueArb(field, i, tools), { nil: undefined, freq: 12 }).map((v) => [name, v] as const),
  );
  return fc
    .record({
      id: fc.oneof(
        { weight: 19, arbitrary: fc.constant(`s${i}`) },
        { weight: 1, arbitrary: fc.constant(`s${Math.max(0, i - 1)}`) },
      ),
      args: fc.tuple(...argArbs),
      // Now and then an argument the tool does not have.
      bogus: fc.oneof(
        { weight: 19, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.constantFrom(...LITERALS, '{{email.ref}}') },
      ),
    })
    .map(({ id, args, bogus }) => {
      const clean: Record<string, ArgValue> = {};
      for (const [k, v] of args) if (v !== undefined) clean[k] = v;
      if (bogus !== undefined) clean.bogus = bogus;
      return { id, tool: tool.name, args: clean };
    });
}

/** Random plans of 1-6 steps: tools first, then arguments that may refer to those tools' outputs. */
const planArb: fc.Arbitrary<Plan> = fc
  .integer({ min: 1, max: 6 })
  .chain((n) => fc.array(fc.constantFrom(...registry.tools), { minLength: n, maxLength: n }))
  .chain((tools) => fc.tuple(...tools.map((tool, i) => stepArb(tool, i, tools))))
  .map((steps) => Plan.parse({ steps }));

/**
 * Playbook plans with one argument rewired to a random source (the email ref, another step's
 * output, a literal): near-valid plans, so accepted plans with references are common and the
 * rejected ones probe exactly the data-flow rules.
 */
const PLAYBOOK_PLANS: Plan[] = Object.entries(DEFAULT_PLAYBOOKS).flatMap(([name, playbook]) =>
  [trustedContext({ category: { name, source: 'classifier' } })].map((ctx) => playbook(viewOf(ctx))),
);
const REWIRE_VALUES: ArgValue[] = ['{{email.ref}}', '{{context.category.name}}', ...LITERALS];
const mutatedPlaybookArb: fc.Arbitrary<Plan> = fc
  .tuple(fc.constantFrom(...PLAYBOOK_PLANS), fc.nat(), fc.nat(), fc.nat(), fc.boolean())
  .map(([plan, stepPick, argPick, valuePick, useStepRef]) => {
    const steps = plan.steps.map((s) => ({ ...s, args: { ...s.args } }));
    const target = steps[stepPick % steps.length];
    const argNames = target ? Object.keys(target.args) : [];
    const arg = argNames[argPick % Math.max(1, argNames.length)];
    if (target && arg) {
      const earlier = steps.slice(0, Math.max(1, steps.indexOf(target) + 1));
      const source = earlier[valuePick % earlier.length];
      const field = source ? Object.keys(registry.get(source.tool)?.output.shape ?? {})[valuePick % 3] : undefined;
      target.args[arg] =
        useStepRef && source && field ? `{{steps.${source.id}.output.${field}}}` : (REWIRE_VALUES[valuePick % REWIRE_VALUES.length] ?? null);
    }
    return Plan.parse({ steps });
  });

interface Violation {
  step: string;
  arg: string;
  problem: string;
}

/** Independent check of an accepted plan. */
function violations(p: Plan): Violation[] {
  const out: Violation[] = [];
  const ids = p.steps.map((s) => s.id);
  if (new Set(ids).size !== ids.length) out.push({ step: '*', arg: '*', problem: 'duplicate ids' });
  p.steps.forEach((s, i) => {
    const tool = registry.get(s.tool);
    if (!tool) {
      out.push({ step: s.id, arg: '*', problem: 'unknown tool' });
      return;
    }
    for (const [arg, value] of Object.entries(s.args)) {
      if (!Object.prototype.hasOwnProperty.call(tool.input.shape, arg))
        out.push({ step: s.id, arg, problem: 'unknown argument' });
      let tainted = false;
      if (typeof value === 'string' && EMAIL_REF.test(value)) tainted = true;
      const m = typeof value === 'string' ? STEP_REF.exec(value) : null;
      if (m) {
        const at = ids.indexOf(m[1] ?? '');
        if (at < 0) out.push({ step: s.id, arg, problem: `refers to missing ${m[1]}` });
        else if (at >= i)
          out.push({ step: s.id, arg, problem: `refers to ${at === i ? 'itself' : 'a later step'}` });
        const source = at >= 0 ? registry.get(p.steps[at]?.tool ?? '') : undefined;
        if (source)
          tainted =
            m[2] === undefined ? source.taintedOutputs.length > 0 : source.taintedOutputs.includes(m[2]);
      }
      if (tainted && !tool.untrustedInputs.includes(arg))
        out.push({ step: s.id, arg, problem: 'tainted value in a control parameter' });
      if (typeof value !== 'string' || !value.includes('{{')) {
        if (!tool.input.shape[arg]?.safeParse(value).success)
          out.push({ step: s.id, arg, problem: 'literal does not fit' });
      }
    }
  });
  return out;
}

describe('validatePlan property', () => {
  it('every accepted random plan respects order, the tool schemas and the data-flow policy', () => {
    let accepted = 0;
    let acceptedWithRefs = 0;
    let rejectedForTaint = 0;
    fc.assert(
      fc.property(fc.oneof(planArb, mutatedPlaybookArb), (p) => {
        const result = validatePlan(p, registry);
        // Pure: the same input gives the same answer.
        expect(validatePlan(p, registry)).toEqual(result);
        expect(result.ok).toBe(result.errors.length === 0);
        if (result.errors.some((e) => e.rule === 'tainted_control_argument')) rejectedForTaint += 1;
        if (!result.ok) return;
        accepted += 1;
        if (p.steps.some((s) => Object.values(s.args).some((v) => typeof v === 'string' && STEP_REF.test(v))))
          acceptedWithRefs += 1;
        expect(violations(p)).toEqual([]);
      }),
      { numRuns: 4000, seed: 20261124 },
    );
    // The property is not vacuous: plenty of plans pass, with references, and the taint rule fires.
    expect(accepted).toBeGreaterThan(100);
    expect(acceptedWithRefs).toBeGreaterThan(50);
    expect(rejectedForTaint).toBeGreaterThan(100);
  });

  it('the independent checker itself catches what the validator must reject', () => {
    expect(violations(plan(SEND, KB, DRAFT)).map((v) => v.problem)).toEqual(['refers to a later step']);
    expect(
      violations(plan(KB, DRAFT, step('label', 'apply_label', { label: '{{steps.draft.output.ref}}' }))).map(
        (v) => v.problem,
      ),
    ).toEqual(['tainted value in a control parameter']);
    expect(
      violations(plan(CLASSIFY, step('kb', 'search_kb', { topic: '{{steps.classify.output}}' }))).map(
        (v) => v.problem,
      ),
    ).toEqual(['tainted value in a control parameter']);
    expect(violations(plan(KB, DRAFT, SEND))).toEqual([]);
  });
});

describe('validatePlan remembers what it checked', () => {
  it('answers a plan it checked before with the same verdict, a copy each caller may change', () => {
    const p = plan(KB, DRAFT, SEND);
    const first = validatePlan(p, registry);
    first.errors.push({ rule: 'cycle', stepId: null, arg: null, message: 'changed by a caller' });
    first.parkReasons.push('changed by a caller');
    const kbLabel = first.outputLabels.kb;
    if (kbLabel) kbLabel.conf = 'internal';
    const again = validatePlan(plan(KB, DRAFT, SEND), registry);
    expect(again.ok).toBe(true);
    expect(again.errors).toEqual([]);
    expect(again.parkReasons).toEqual([]);
    expect(again.outputLabels.kb?.conf).toBe('public');
  });

  it('checks a plan that differs in one argument, or under other limits, on its own', () => {
    expect(validatePlan(plan(KB, DRAFT, SEND), registry).ok).toBe(true);
    const wrong = plan(KB, { ...DRAFT, args: { ...DRAFT.args, article: '{{steps.nope.output.articleId}}' } }, SEND);
    expect(rules(wrong)).toEqual(['missing_step']);
    expect(rules(plan(KB, DRAFT, SEND), { maxSteps: 2, maxFanOut: 4 })).toEqual(['too_many_steps']);
    expect(validatePlan(plan(KB, DRAFT, SEND), createRegistry([])).ok).toBe(false);
  });
});
