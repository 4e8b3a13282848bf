import type { TrustedContext } from '../ingest/trusted-context.js';
import type { Plan } from './plan.js';

const reply = (label: string): Plan => ({
  steps: [
    { id: 'kb', tool: 'search_kb', args: { topic: '{{context.category.name}}' } },
    { id: 'draft', tool: 'draft_reply', args: { email: '{{email.ref}}', article: '{{steps.kb.output.articleId}}' } },
    { id: 'send', tool: 'send_reply', args: { draft: '{{steps.draft.output.ref}}' } },
    { id: 'label', tool: 'apply_label', args: { label } },
  ],
});

const handOver = (label: string, reason: string): Plan => ({
  steps: [
    { id: 'label', tool: 'apply_label', args: { label } },
    { id: 'escalate', tool: 'escalate', args: { reason } },
  ],
});

/** Per-category plans of the offline planner; categories not listed are handed to a human. */
export const DEFAULT_PLAYBOOKS: Readonly<Record<string, Plan>> = {
  billing: reply('mailroom/billing'),
  bug: reply('mailroom/bug'),
  account_access: reply('mailroom/account-access'),
  feature_request: reply('mailroom/feature-request'),
  refund: handOver('mailroom/refund', 'refund_request'),
  spam: { steps: [{ id: 'label', tool: 'apply_label', args: { label: 'mailroom/spam' } }] },
};

/**
 * The deterministic planner: a pure function of trusted facts. A reply needs a verified sender;
 * without one the email goes to a human, whatever its category.
 */
export function playbookPlan(context: TrustedContext, playbooks: Readonly<Record<string, Plan>> = DEFAULT_PLAYBOOKS): Plan {
  const category = context.category.name;
  if (category === 'spam') return playbooks.spam ?? handOver('mailroom/spam', 'needs_human');
  if (!context.sender.verified) return handOver('mailroom/unverified', 'unverified_sender');
  return playbooks[category] ?? handOver('mailroom/needs-triage', 'unknown_category');
}

/**
 * Robot mail (RFC 3834) gets no reply, no model call and no planner: it is labelled and filed.
 * These headers can be forged, which is why they may only ever take privileges away.
 */
export function robotPlan(kind: Exclude<TrustedContext['auto']['kind'], 'none'>): Plan {
  return { steps: [{ id: 'label', tool: 'apply_label', args: { label: `mailroom/robot/${kind}` } }] };
}

/** The safe plan when planning fails: label and hand to a human. */
export function escalationPlan(reason: 'plan_invalid' | 'needs_human' | 'step_failed'): Plan {
  return handOver('mailroom/needs-human', reason);
}
