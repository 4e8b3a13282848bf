import { describe, expect, it } from 'vitest';
import { resolveArgs } from '../../src/executor/resolve-args.js';
import { newUntrustedRef } from '../../src/kernel/ids.js';
import { argumentFlow, refLabel } from '../../src/planner/labels.js';
import { validatePlan } from '../../src/planner/plan-validator.js';
import { Plan, type Step } from '../../src/model/plan.js';
import { createRegistry } from '../../src/tools/registry.js';
import { trustedContext } from '../fixtures/trusted-context.js';

const registry = createRegistry();

/**
 * The case where the validator's and the executor's copies of the label rule differed: the
 * sender's own address (trusted, but the sender's data) in the recipient — a control parameter —
 * of a tool whose audience is anyone. The executor checked the audience on every argument and
 * parked; the validator checked it only on untrusted inputs and found nothing to say, so the plan
 * was adopted as if it sent nothing of the sender's. One rule now: both say the same.
 */
describe('one label rule for the validator and the executor', () => {
  const send: Step = {
    id: 'send',
    tool: 'send_email',
    args: { to: '{{context.sender.address}}', subject: 'About your account', draft: '{{steps.draft.output.ref}}' },
  };
  // A draft from literals only: public, untainted. Only the recipient carries the sender's data.
  const plan = Plan.parse({ steps: [{ id: 'draft', tool: 'draft_reply', args: { article: null } }, send] });

  it('the validator parks a plan that sends the sender\'s data to anyone through a control parameter (it did not)', () => {
    const result = validatePlan(plan, registry);
    expect(result.errors).toEqual([]);
    expect(result.parkReasons).toEqual(['step send: sender data would reach an outside recipient through send_email']);
  });

  it('the executor parks the same step, by the same rule', () => {
    const tool = registry.get('send_email');
    if (!tool) throw new Error('send_email missing');
    const resolved = resolveArgs(send, tool, {
      trusted: trustedContext(),
      emailRef: newUntrustedRef('content'),
      outputs: { draft: { value: { ref: newUntrustedRef('draft'), needsReview: false }, label: { tainted: false, conf: 'public' }, taintedFields: [] } },
    });
    expect(resolved.labels.to).toEqual({ tainted: false, conf: 'sender' });
    expect(resolved.parkReasons).toEqual(['sender data would reach anyone through send_email.to']);
  });

  it('labels by where a value comes from, and checks the audience on every argument', () => {
    expect(refLabel({ kind: 'email' })).toEqual({ tainted: true, conf: 'sender' });
    expect(refLabel({ kind: 'context', path: ['sender', 'address'] })).toEqual({ tainted: false, conf: 'sender' });
    const out = { conf: 'internal' as const, tainted: true, taintedFields: ['summary'] };
    expect(refLabel({ kind: 'step', stepId: 's', path: ['ticketId'] }, out)).toEqual({ tainted: false, conf: 'internal' });
    expect(refLabel({ kind: 'step', stepId: 's', path: ['summary'] }, out)).toEqual({ tainted: true, conf: 'internal' });
    expect(refLabel({ kind: 'step', stepId: 's', path: [] }, out)).toEqual({ tainted: true, conf: 'internal' });
    const sendEmail = { untrustedInputs: ['draft'], audience: 'anyone' as const };
    expect(argumentFlow(sendEmail, 'to', { tainted: false, conf: 'sender' })).toEqual({ taintViolation: false, audienceConcern: true });
    expect(argumentFlow(sendEmail, 'to', { tainted: true, conf: 'public' })).toEqual({ taintViolation: true, audienceConcern: false });
    expect(argumentFlow(sendEmail, 'draft', { tainted: true, conf: 'public' })).toEqual({ taintViolation: false, audienceConcern: false });
  });
});

describe('money takes no context number, in the validator and again in the executor', () => {
  it('the executor refuses {{context.sizeBytes}} as a refund amount in a plan that slipped past the validator', () => {
    const tool = registry.get('issue_refund');
    if (!tool) throw new Error('issue_refund missing');
    const trusted = trustedContext();
    const refund: Step = { id: 'refund', tool: 'issue_refund', args: { account: '{{context.account.id}}', order: 'ORD-1', amount: '{{context.sizeBytes}}' } };
    expect(() => resolveArgs(refund, tool, { trusted, emailRef: newUntrustedRef('content'), outputs: {} })).toThrow(/takes a literal or a lookup's output/);
    // The same step with a literal amount resolves.
    expect(resolveArgs({ ...refund, args: { ...refund.args, amount: 20 } }, tool, { trusted, emailRef: newUntrustedRef('content'), outputs: {} }).args.amount).toBe(20);
  });
});
