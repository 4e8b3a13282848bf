import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EmailId } from '../../src/kernel/ids.js';
import { TrustedContext } from '../../src/model/trusted-context.js';
import { decideApproval } from '../../src/planner/approval-policy.js';
import { validatePlan } from '../../src/planner/plan-validator.js';
import { playbookPlan } from '../../src/planner/playbooks.js';
import { viewOf } from '../fixtures/trusted-context.js';
import { createRegistry } from '../../src/tools/registry.js';

const registry = createRegistry();
const HIGH_STAKES = ['issue_refund', 'send_email', 'delete_message', 'update_account'];
const CATEGORIES = ['billing', 'refund', 'bug', 'account_access', 'feature_request', 'spam', 'cancellation', 'unknown'];

interface ContextFacts {
  category: string;
  source: 'route' | 'classifier';
  verified: boolean;
  account: { id: string; tier: 'free' | 'pro' | 'enterprise'; openTickets: number } | null;
}

const contextArb: fc.Arbitrary<ContextFacts> = fc.record({
  category: fc.constantFrom(...CATEGORIES),
  source: fc.constantFrom('route' as const, 'classifier' as const),
  verified: fc.boolean(),
  account: fc.option(fc.record({ id: fc.constantFrom('acct_1001', 'acct_1024'), tier: fc.constantFrom('free' as const, 'pro' as const, 'enterprise' as const), openTickets: fc.nat(5) })),
});

const contextOf = (c: ContextFacts) =>
  TrustedContext.parse({
    emailId: EmailId.parse('em_0123456789abcdef'),
    mailbox: 'support@acme.example',
    folder: null,
    uid: null,
    sizeBytes: 100,
    receivedAt: new Date().toISOString(),
    sender: c.verified ? { verified: true, address: 'x@customer.example', method: 'dmarc' } : { verified: false, reason: 'none' },
    account: c.verified ? c.account : null,
    category: { name: c.category, source: c.source },
    attachments: { count: 0, types: [] },
    auto: { kind: 'none', reason: '' },
  });

describe('approval: what an attacker wants most always waits for a human', () => {
  it('money, mail to anyone, deletion and account changes require approval and take no tainted control value', () => {
    for (const name of HIGH_STAKES) {
      const tool = registry.get(name);
      expect(tool?.requiresApproval, name).toBeTruthy();
      // Only a drafted body may be tainted, never a recipient, an amount, an order or an account.
      for (const arg of tool?.untrustedInputs ?? []) expect(arg, name).toBe('draft');
      expect(tool?.endorses, name).toBeUndefined();
    }
    expect(registry.get('send_email')?.audience).toBe('anyone');
    expect(registry.get('forward_to_team')?.audience).toBe('internal');
  });

  it('a plan holding any of them parks, for every category and sender an attacker could force', () => {
    fc.assert(
      fc.property(contextArb, fc.constantFrom(...HIGH_STAKES), (c, tool) => {
        const plan = { steps: [{ id: 'x', tool, args: {} }] };
        expect(decideApproval(plan, registry, contextOf(c)).decision).toBe('park');
      }),
    );
  });

  it('every playbook plan validates; it runs by itself only if it holds no approval-only tool', () => {
    fc.assert(
      fc.property(contextArb, (c) => {
        const context = contextOf(c);
        const plan = playbookPlan(viewOf(context));
        const validation = validatePlan(plan, registry);
        expect(validation.errors).toEqual([]);
        const approval = decideApproval(plan, registry, context, validation.parkReasons);
        const risky = plan.steps.some((s) => registry.get(s.tool)?.requiresApproval);
        expect(approval.decision).toBe(risky ? 'park' : 'auto');
        if (!context.sender.verified) expect(plan.steps.some((s) => s.tool === 'send_reply' || HIGH_STAKES.includes(s.tool))).toBe(false);
      }),
    );
  });

  it('the cancellation notice to the billing contact is parked for confidentiality as well', () => {
    const context = contextOf({ category: 'cancellation', source: 'classifier', verified: true, account: { id: 'acct_1024', tier: 'pro', openTickets: 0 } });
    const validation = validatePlan(playbookPlan(viewOf(context)), registry);
    expect(validation.parkReasons).toEqual(['step notify: sender data would reach an outside recipient through send_email']);
  });
});
