import type { AutoKind } from '../model/trusted-context.js';
import type { Plan, Step } from '../model/plan.js';
import type { PlannerView } from './planner-view.js';

/** A playbook: a plan for one category, written from the planner's view only. */
export type Playbook = (view: PlannerView) => Plan;

const label = (name: string): Step => ({ id: 'label', tool: 'apply_label', args: { label: name } });

/**
 * Read the email's enum facts, search the KB, compose the reply from trusted material, send it to
 * the verified sender. The composer never reads the email: the reply carries none of its text.
 */
const replySteps = (topic = '{{context.category.name}}', order: string | null = null, outcome: Record<string, string> = {}): Step[] => [
  { id: 'facts', tool: 'read_facts', args: { email: '{{email.ref}}' } },
  { id: 'kb', tool: 'search_kb', args: { topic } },
  {
    id: 'draft',
    tool: 'draft_reply',
    args: {
      article: '{{steps.kb.output.articleId}}',
      ...(order ? { order } : {}),
      // What a gated step before the send did (a refund, a cancellation): the reply states it.
      ...outcome,
      topic: '{{steps.facts.output.topic}}',
      questionKind: '{{steps.facts.output.questionKind}}',
      language: '{{steps.facts.output.language}}',
      sentiment: '{{steps.facts.output.sentiment}}',
    },
  },
  { id: 'send', tool: 'send_reply', args: { draft: '{{steps.draft.output.ref}}' } },
  { id: 'answered', tool: 'set_flags', args: { answered: true, seen: true } },
];

/** Summarise for a human and open a ticket; the summary is tainted and may only be the ticket's summary. */
const ticketSteps = (view: PlannerView, priority: 'low' | 'normal' | 'high'): Step[] => [
  { id: 'summary', tool: 'summarize_email', args: { email: '{{email.ref}}' } },
  {
    id: 'ticket',
    tool: 'create_ticket',
    args: {
      category: '{{context.category.name}}',
      priority,
      account: view.account ? '{{context.account.id}}' : null,
      summary: '{{steps.summary.output.ref}}',
    },
  },
];

/** A human takes over: a ticket with a summary (the case's own, when it has one), a label, the escalation. */
const handOver =
  (labelName: string, reason: string): Playbook =>
  (view) => ({
    steps: [...caseTicket(view, ticketSteps(view, 'normal')), label(labelName), { id: 'escalate', tool: 'escalate', args: { reason } }],
  });

/**
 * A follow-up on a case that has a ticket adds to that ticket instead of opening another: the
 * `create_ticket` step becomes `add_to_ticket` under the same id, so later steps that name
 * `{{steps.ticket.output.ticketId}}` still find it.
 */
function caseTicket(view: PlannerView, steps: Step[]): Step[] {
  if (!view.case.followUp || !view.case.ticket) return steps;
  return steps.map((s) =>
    s.tool === 'create_ticket' ? { id: s.id, tool: 'add_to_ticket', args: { ticket: '{{context.case.ticketId}}', summary: s.args.summary ?? null } } : s,
  );
}

/** The case's previous email is still with a human, or went to one: automation does not answer over them. */
const WITH_A_HUMAN: ReadonlySet<PlannerView['case']['previous']> = new Set(['awaiting_human', 'escalated', 'rejected']);

/**
 * A follow-up (the customer answered an email of ours in the same case), decided before the
 * category's playbook:
 * - a thank-you (category `thanks`) closes the case with no reply: flagged seen, labelled;
 * - after robot mail in the case (an auto-reply loop in one thread), no automatic reply;
 * - a second follow-up that is not a thank-you (two earlier emails: ours did not solve it), or
 *   one while a human has the case, goes to a human, onto the case's ticket if it has one;
 * - otherwise the category's playbook, adding to the case's ticket instead of opening another.
 * Null when the email is not a follow-up.
 */
function followUpPlan(view: PlannerView, playbook: Playbook | undefined): Plan | null {
  if (!view.case.followUp) return null;
  if (view.category.name === 'thanks') {
    return { steps: [{ id: 'seen', tool: 'set_flags', args: { seen: true } }, label('mailroom/case/closed')] };
  }
  if (view.case.previous === 'robot') return { steps: [label('mailroom/case/after-robot')] };
  if (view.case.turns >= 2 || WITH_A_HUMAN.has(view.case.previous)) return handOver('mailroom/case/unsolved', 'follow_up_unsolved')(view);
  if (!playbook) return null;
  const plan = playbook(view);
  return { ...plan, steps: caseTicket(view, plan.steps) };
}

const reply =
  (labelName: string): Playbook =>
  () => ({ steps: [...replySteps(), label(labelName)] });

const tierPriority = (view: PlannerView) => (view.account?.tier === 'enterprise' ? 'high' : 'normal');

/**
 * Per-category plans of the offline planner. A category not listed is handed to a human. Every
 * value that reaches a control parameter is a literal here, a context field, or the output of a
 * trusted tool (lookup_order endorses the order id the customer typed).
 */
export const DEFAULT_PLAYBOOKS: Readonly<Record<string, Playbook>> = {
  billing: reply('mailroom/billing'),
  account_access: reply('mailroom/account-access'),
  bug: (view) => ({ steps: [...replySteps(), ...ticketSteps(view, tierPriority(view)), label('mailroom/bug')] }),
  feature_request: (view) => ({
    steps: [
      ...replySteps(),
      ...ticketSteps(view, 'low'),
      {
        id: 'forward',
        tool: 'forward_to_team',
        args: { team: 'product', email: '{{email.ref}}', summary: '{{steps.summary.output.ref}}', ticket: '{{steps.ticket.output.ticketId}}' },
      },
      label('mailroom/feature-request'),
    ],
  }),
  // Money: the order id comes from the email, so it passes lookup_order before issue_refund may use
  // it; issue_refund always waits for a human, who then also releases the reply.
  refund: (view) => {
    if (!view.account) return handOver('mailroom/refund', 'refund_request')(view);
    return {
      steps: [
        { id: 'fields', tool: 'extract_fields', args: { email: '{{email.ref}}' } },
        { id: 'order', tool: 'lookup_order', args: { account: '{{context.account.id}}', orderRef: '{{steps.fields.output.orderId}}' } },
        {
          id: 'refund',
          tool: 'issue_refund',
          args: { account: '{{context.account.id}}', order: '{{steps.order.output.orderId}}', amount: '{{steps.order.output.amount}}' },
        },
        ...replySteps('refund', '{{steps.order.output.orderId}}', { outcome: 'refund_issued', amount: '{{steps.order.output.amount}}' }),
        label('mailroom/refund'),
      ],
    };
  },
  // An account change waits for a human; the billing contact on file (trusted) gets a copy,
  // never an address the email names.
  cancellation: (view) => {
    if (!view.account) return handOver('mailroom/cancellation', 'needs_human')(view);
    return {
      steps: [
        { id: 'account', tool: 'lookup_account', args: { account: '{{context.account.id}}' } },
        { id: 'update', tool: 'update_account', args: { account: '{{steps.account.output.id}}', status: 'cancelled', billingEmail: null } },
        ...replySteps('cancellation', null, { outcome: 'account_cancelled' }),
        // The billing contact did not write: a notice of its own, not the reply to the sender.
        { id: 'notice', tool: 'draft_reply', args: { article: null, outcome: 'account_cancelled', audience: 'billing_contact' } },
        {
          id: 'notify',
          tool: 'send_email',
          args: { to: '{{steps.account.output.billingEmail}}', subject: 'Your subscription has been cancelled', draft: '{{steps.notice.output.ref}}' },
        },
        label('mailroom/cancellation'),
      ],
    };
  },
  // A verified sender's mail is only deleted after a human agrees it is spam: the category is
  // the classifier's, and a customer misfiled as spam must not vanish unseen.
  spam: (view) =>
    view.verification !== 'unverified'
      ? { steps: [label('mailroom/spam'), { id: 'delete', tool: 'delete_message', args: { reason: 'spam' } }] }
      : { steps: [label('mailroom/spam'), { id: 'file', tool: 'move_message', args: { folder: 'Junk' } }] },
};

/**
 * The deterministic planner: a pure function of the planner's view. A reply needs a verified
 * sender; without one the email goes to a human, whatever its category.
 */
export function playbookPlan(view: PlannerView, playbooks: Readonly<Record<string, Playbook>> = DEFAULT_PLAYBOOKS): Plan {
  const category = view.category.name;
  if (category === 'spam') return (playbooks.spam ?? handOver('mailroom/spam', 'needs_human'))(view);
  if (view.verification === 'unverified') return handOver('mailroom/unverified', 'unverified_sender')(view);
  return followUpPlan(view, playbooks[category]) ?? (playbooks[category] ?? handOver('mailroom/needs-triage', 'unknown_category'))(view);
}

/**
 * Robot mail (RFC 3834) gets no reply, no model call and no planner: it is labelled and filed.
 * These headers can be forged, which is why they may only ever take privileges away.
 */
export function robotPlan(kind: Exclude<AutoKind, 'none'>): Plan {
  return { steps: [label(`mailroom/robot/${kind}`)] };
}

/** The safe plan when planning fails: label and hand to a human, with no reader involved. */
export function escalationPlan(reason: 'plan_invalid' | 'needs_human' | 'step_failed'): Plan {
  return { steps: [label('mailroom/needs-human'), { id: 'escalate', tool: 'escalate', args: { reason } }] };
}
