import { describe, expect, it } from 'vitest';
import { decideApproval } from '../../src/planner/approval-policy.js';
import type { Plan } from '../../src/model/plan.js';
import { validatePlan } from '../../src/planner/plan-validator.js';
import { DEFAULT_PLAYBOOKS } from '../../src/planner/playbooks.js';
import { hoistBeforeGate } from '../../src/planner/pre-gate.js';
import { createRegistry } from '../../src/tools/registry.js';
import { trustedContext, viewOf } from '../fixtures/trusted-context.js';

const registry = createRegistry();
const ids = (p: Plan) => p.steps.map((s) => s.id);

describe('reads and drafts run before the gate', () => {
  it('the refund playbook drafts its reply before issue_refund waits for a human', () => {
    const context = trustedContext({ category: { name: 'refund', source: 'classifier' } });
    const plan = DEFAULT_PLAYBOOKS.refund?.(viewOf(context));
    if (!plan) throw new Error('no refund playbook');
    expect(ids(plan)).toEqual(['fields', 'order', 'refund', 'facts', 'kb', 'draft', 'send', 'answered', 'label']);
    const hoisted = hoistBeforeGate(plan, registry);
    expect(ids(hoisted)).toEqual(['fields', 'order', 'facts', 'kb', 'draft', 'refund', 'send', 'answered', 'label']);
    expect(validatePlan(hoisted, registry).ok).toBe(true);
    expect(decideApproval(hoisted, registry, context).gate).toBe(5);
  });

  it('the cancellation playbook drafts the reply and the billing notice before the account change', () => {
    const context = trustedContext({ category: { name: 'cancellation', source: 'classifier' } });
    const plan = DEFAULT_PLAYBOOKS.cancellation?.(viewOf(context));
    if (!plan) throw new Error('no cancellation playbook');
    expect(ids(hoistBeforeGate(plan, registry))).toEqual(['account', 'facts', 'kb', 'draft', 'notice', 'update', 'send', 'answered', 'notify', 'label']);
  });

  it('leaves a read that needs a gated step after it, and never moves a write', () => {
    const plan: Plan = {
      steps: [
        { id: 'refund', tool: 'issue_refund', args: { account: '{{context.account.id}}', order: 'ORD-1', amount: 1 } },
        { id: 'label', tool: 'apply_label', args: { label: 'x' } },
        { id: 'draft', tool: 'draft_reply', args: { article: '{{steps.refund.output.refundId}}' } },
        { id: 'kb', tool: 'search_kb', args: { topic: 'refund' } },
      ],
    };
    expect(ids(hoistBeforeGate(plan, registry))).toEqual(['kb', 'refund', 'label', 'draft']);
  });

  it('changes nothing without a gate', () => {
    const plan: Plan = { steps: [{ id: 'label', tool: 'apply_label', args: { label: 'x' } }] };
    expect(hoistBeforeGate(plan, registry)).toBe(plan);
  });
});
