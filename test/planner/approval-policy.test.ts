import fc from 'fast-check';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { AutoKind } from '../../src/model/trusted-context.js';
import { PLAYBOOK_CATEGORIES } from '../fixtures/categories.js';
import { trustedContext, viewOf, type ContextOverrides } from '../fixtures/trusted-context.js';
import { decideApproval } from '../../src/planner/approval-policy.js';
import { Plan } from '../../src/model/plan.js';
import { DEFAULT_PLAYBOOKS, escalationPlan, playbookPlan, robotPlan } from '../../src/planner/playbooks.js';
import { ALL_TOOLS, createRegistry } from '../../src/tools/registry.js';
import { defineTool } from '../../src/tools/tool.js';
import type { Step } from '../../src/model/plan.js';

const registry = createRegistry();

const context = trustedContext;

const UNVERIFIED = { sender: { verified: false, reason: 'dmarc=fail' }, account: null } as const;

const KB: Step = { id: 'kb', tool: 'search_kb', args: { topic: '{{context.category.name}}' } };
const DRAFT: Step = {
  id: 'draft',
  tool: 'draft_reply',
  args: { email: '{{email.ref}}', article: '{{steps.kb.output.articleId}}' },
};
const SEND: Step = { id: 'send', tool: 'send_reply', args: { draft: '{{steps.draft.output.ref}}' } };
const REPLY = Plan.parse({ steps: [KB, DRAFT, SEND] });

/** A money-moving tool that must always wait for a human. */
const issueRefund = defineTool({
  name: 'fake_refund',
  description: 'Refunds an order of the verified sender.',
  risk: 'write',
  input: z.object({ orderId: z.string() }).strict(),
  output: z.object({ refunded: z.boolean() }).strict(),
  untrustedInputs: [],
  taintedOutputs: [],
  outputLabel: 'internal',
  requiresApproval: 'moves money',
  sideEffect: true,
  async run() {
    return { refunded: true };
  },
  async preview() {
    return { output: { refunded: true }, messages: [] };
  },
});

/** Mail to an arbitrary address: external, but not to the verified sender. */
const forwardEmail = defineTool({
  name: 'forward_email',
  description: 'Forwards the email to a colleague.',
  risk: 'external',
  input: z.object({ to: z.string() }).strict(),
  output: z.object({ messageId: z.string() }).strict(),
  untrustedInputs: [],
  taintedOutputs: [],
  outputLabel: 'internal',
  audience: 'internal',
  sideEffect: true,
  async run() {
    return { messageId: '<x@acme.example>' };
  },
  async preview() {
    return { output: { messageId: '<x@acme.example>' }, messages: [] };
  },
});

const extended = createRegistry([...ALL_TOOLS, issueRefund, forwardEmail]);

describe('decideApproval', () => {
  /** Playbooks that plan money, account changes, outside mail or deletion: a human decides. */
  const PARKING = ['refund', 'cancellation', 'spam'];

  it.each(Object.entries(DEFAULT_PLAYBOOKS))('decides the %s playbook for a verified sender by its risk', (name, playbook) => {
    const ctx = context({ category: { name, source: 'classifier' } });
    const decision = decideApproval(Plan.parse(playbook(viewOf(ctx))), registry, ctx);
    if (PARKING.includes(name)) expect(decision.decision).toBe('park');
    else expect(decision).toMatchObject({ decision: 'auto', reasons: [] });
  });

  it('auto-approves what the playbook planner plans for unverified senders, and for verified ones unless it is risky', () => {
    for (const name of PLAYBOOK_CATEGORIES) {
      for (const over of [{}, UNVERIFIED]) {
        const ctx = context({ ...over, category: { name, source: 'classifier' } });
        const risky = PARKING.includes(name) && over !== UNVERIFIED;
        expect(decideApproval(playbookPlan(viewOf(ctx)), registry, ctx).decision, `${name} ${over === UNVERIFIED ? 'unverified' : 'verified'}`).toBe(risky ? 'park' : 'auto');
      }
    }
  });

  it('auto-approves the escalation and robot plans', () => {
    for (const p of [
      escalationPlan('plan_invalid'),
      escalationPlan('needs_human'),
      escalationPlan('step_failed'),
    ]) {
      expect(decideApproval(p, registry, context(UNVERIFIED)).decision).toBe('auto');
    }
    for (const kind of AutoKind.options) {
      if (kind === 'none') continue;
      expect(
        decideApproval(robotPlan(kind), registry, context({ auto: { kind, reason: 'test' } })).decision,
      ).toBe('auto');
    }
  });

  it('parks a plan containing send_reply when the sender is unverified', () => {
    const decision = decideApproval(REPLY, registry, context(UNVERIFIED));
    expect(decision.decision).toBe('park');
    expect(decision.reasons).toHaveLength(1);
    expect(decision.reasons[0]).toContain('send');
  });

  it('parks a plan with a tool that requires approval, even with a verified sender', () => {
    const p = Plan.parse({ steps: [{ id: 'refund', tool: 'fake_refund', args: { orderId: 'ORD-10377' } }] });
    const decision = decideApproval(p, extended, context());
    expect(decision.decision).toBe('park');
    expect(decision.reasons.join(' ')).toContain('moves money');
  });

  it('parks an external tool that reaches someone other than the verified sender', () => {
    const p = Plan.parse({
      steps: [{ id: 'fwd', tool: 'forward_email', args: { to: 'finance@acme.example' } }],
    });
    expect(decideApproval(p, extended, context()).decision).toBe('park');
  });

  it('parks a plan with a tool the registry does not know', () => {
    const p = Plan.parse({ steps: [{ id: 'x', tool: 'wire_money', args: { orderId: 'ORD-1' } }] });
    expect(decideApproval(p, registry, context()).decision).toBe('park');
  });

  it('parks on extra reasons (e.g. confidentiality from the validator) and keeps them', () => {
    const decision = decideApproval(REPLY, registry, context(), [
      'step send: internal data would reach the sender',
    ]);
    expect(decision).toMatchObject({
      decision: 'park',
      reasons: ['step send: internal data would reach the sender'],
    });
  });

  it('gives one reason per offending step', () => {
    const p = Plan.parse({
      steps: [KB, DRAFT, SEND, { id: 'refund', tool: 'fake_refund', args: { orderId: 'ORD-1' } }],
    });
    const decision = decideApproval(p, extended, context(UNVERIFIED));
    expect(decision.reasons).toHaveLength(2);
  });

  // Regression (fixed): decideApproval ignores `context.auto`. robot-detector.ts promises that a robot verdict takes
  // privileges away ("no automatic reply, no auto-approval"), but a send_reply plan for an
  // auto-reply from a verified sender (a cached or LLM plan; the playbook planner would not make
  // one) is auto-approved, so two autoresponders can loop.
  it('parks a reply to robot mail even when its sender is verified', () => {
    const decision = decideApproval(
      REPLY,
      registry,
      context({ auto: { kind: 'autoreply', reason: 'Auto-Submitted: auto-replied' } }),
    );
    expect(decision.decision).toBe('park');
  });

  it('never depends on the category (every category an attacker could force gives the same decision)', () => {
    const tools = extended.tools.map((t) => t.name);
    const stepArb = fc.record({ tool: fc.constantFrom(...tools, 'no_such_tool') });
    fc.assert(
      fc.property(
        fc.array(stepArb, { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        fc.constantFrom(...AutoKind.options),
        fc.constantFrom('route', 'classifier'),
        fc.array(fc.string({ maxLength: 20 }), { maxLength: 2 }),
        (picked, verified, kind, source, extra) => {
          // Arguments do not matter to the policy; the plan only needs to be well-formed.
          const p = Plan.parse({ steps: picked.map((s, i) => ({ id: `s${i}`, tool: s.tool, args: {} })) });
          const base: ContextOverrides = { ...(verified ? {} : UNVERIFIED), auto: { kind, reason: 'test' } };
          const decisions = PLAYBOOK_CATEGORIES.map((name) =>
            decideApproval(p, extended, context({ ...base, category: { name, source } }), extra),
          );
          for (const d of decisions) expect(d).toEqual(decisions[0]);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('the approval gate', () => {
  it('lets internal read and write steps run first and stops at the first step that needs a human', () => {
    const ctx = trustedContext({ category: { name: 'refund', source: 'classifier' } });
    const plan = Plan.parse(DEFAULT_PLAYBOOKS.refund?.(viewOf(ctx)));
    const decision = decideApproval(plan, registry, ctx);
    expect(decision.decision).toBe('park');
    expect(plan.steps[decision.gate]?.tool).toBe('issue_refund');
    expect(plan.steps.slice(0, decision.gate).map((s) => s.tool)).toEqual(['extract_fields', 'lookup_order']);
  });

  it('gates at the first step when nothing may run before approval, and after the last when auto-approved', () => {
    const unverified = trustedContext({ sender: { verified: false, reason: 'none' } });
    expect(decideApproval(REPLY, registry, unverified).gate).toBe(2);
    expect(decideApproval(REPLY, registry, trustedContext())).toMatchObject({ decision: 'auto', gate: 3 });
    const p = Plan.parse({ steps: [{ id: 'x', tool: 'wire_money', args: {} }] });
    expect(decideApproval(p, registry, trustedContext()).gate).toBe(0);
  });
});
