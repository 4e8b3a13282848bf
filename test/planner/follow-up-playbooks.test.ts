import { describe, expect, it } from 'vitest';
import { caseIdFor, emailIdFor } from '../../src/kernel/ids.js';
import type { CaseFacts } from '../../src/model/trusted-context.js';
import { validatePlan } from '../../src/planner/plan-validator.js';
import { playbookPlan } from '../../src/planner/playbooks.js';
import { createRegistry } from '../../src/tools/registry.js';
import { trustedContext, viewOf } from '../fixtures/trusted-context.js';

const registry = createRegistry();
const CASE: CaseFacts = {
  id: caseIdFor(emailIdFor('support@acme.example', '<first@brightleaf.example>')),
  followUp: true,
  turns: 1,
  previous: 'replied',
  ticketId: null,
  notLinked: null,
};

const planFor = (category: string, over: Partial<CaseFacts> = {}, source: 'route' | 'classifier' = 'classifier') => {
  const view = viewOf(trustedContext({ category: { name: category, source }, case: { ...CASE, ...over } }));
  const plan = playbookPlan(view);
  // Every follow-up plan passes the same validator as any other plan.
  expect(validatePlan(plan, registry).errors).toEqual([]);
  return plan.steps.map((s) => s.tool);
};

describe('playbooks for follow-ups (the planner view’s case facts)', () => {
  it('a first follow-up that is not a thank-you gets the category’s plan again', () => {
    expect(planFor('billing')).toEqual(['read_facts', 'search_kb', 'draft_reply', 'send_reply', 'set_flags', 'apply_label']);
  });

  it('a second follow-up that is not a thank-you goes to a human, with no reply', () => {
    const tools = planFor('billing', { turns: 2 });
    expect(tools).not.toContain('send_reply');
    expect(tools).toEqual(['summarize_email', 'create_ticket', 'apply_label', 'escalate']);
    expect(planFor('bug', { turns: 3 })).not.toContain('send_reply');
  });

  it('a follow-up while a human has the case goes to that human', () => {
    for (const previous of ['awaiting_human', 'escalated', 'rejected'] as const) expect(planFor('billing', { previous })).toContain('escalate');
  });

  it('a follow-up on a case with a ticket adds to that ticket instead of opening another', () => {
    const view = viewOf(trustedContext({ category: { name: 'bug', source: 'classifier' }, case: { ...CASE, ticketId: 'T-0123456789' } }));
    const plan = playbookPlan(view);
    expect(plan.steps.map((s) => s.tool)).not.toContain('create_ticket');
    expect(plan.steps.find((s) => s.tool === 'add_to_ticket')?.args).toEqual({ ticket: '{{context.case.ticketId}}', summary: '{{steps.summary.output.ref}}' });
    expect(validatePlan(plan, registry).errors).toEqual([]);
    expect(planFor('billing', { turns: 2, ticketId: 'T-0123456789' })).toEqual(['summarize_email', 'add_to_ticket', 'apply_label', 'escalate']);
  });

  it('a thank-you closes the case with no reply', () => {
    expect(planFor('thanks')).toEqual(['set_flags', 'apply_label']);
    expect(planFor('thanks', { turns: 3 })).toEqual(['set_flags', 'apply_label']);
  });

  it('after robot mail in the case (a loop in one thread) nothing is sent', () => {
    expect(planFor('billing', { previous: 'robot' })).toEqual(['apply_label']);
  });

  it('an email that is not a follow-up is planned as before, whatever its case says', () => {
    const fresh = { followUp: false, turns: 0, previous: 'none' as const };
    expect(planFor('billing', fresh)).toEqual(planFor('billing', { ...fresh, ticketId: null }));
    expect(playbookPlan(viewOf(trustedContext({ category: { name: 'billing', source: 'classifier' } })))).toEqual(
      playbookPlan(viewOf(trustedContext({ category: { name: 'billing', source: 'classifier' }, case: { ...CASE, ...fresh } }))),
    );
    // A thank-you that opens a case is not a reason to close anything: a human looks.
    expect(planFor('thanks', fresh)).toContain('escalate');
  });

  it('an unverified sender is handed over whatever the case facts say', () => {
    const view = viewOf(trustedContext({ sender: { verified: false, reason: 'no aligned DMARC or DKIM pass' }, case: CASE }));
    expect(playbookPlan(view).steps.map((s) => s.tool)).toContain('escalate');
  });
});
