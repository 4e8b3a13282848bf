import type { Job } from 'bullmq';
import type { AppContext } from '../context.js';
import { toMailroomError } from '../errors.js';
import type { EmailId, PlanId } from '../ids.js';
import type { ShownEffect } from '../queues/approval-job.js';
import { hasAttemptsLeft, jobIdFor, parseJobData } from '../queues/catalog.js';
import { postWebhook } from '../tools/webhook.js';
import { approvalJobId } from './review-ids.js';
import { readReview, type ReviewRecord } from './review-record.js';

/**
 * An effect in a notice: the tool and, for money, amount and order (ids from the accounts file).
 * No address and no text: a notice goes to a chat channel, and the sender chose every character of
 * their own address.
 */
function noticeEffect(e: ShownEffect): string {
  if (e.tool === 'issue_refund' && typeof e.args.amount === 'number') return `issue_refund ${e.args.amount.toFixed(2)} (order ${String(e.args.order)})`;
  if (e.tool === 'update_account') return `update_account ${String(e.args.account)}`;
  return e.tool;
}

/** Slack treats `&`, `<` and `>` as markup. */
const slackEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Where a reviewer opens the parked plan in Bull Board. */
export function reviewLink(app: Pick<AppContext, 'config'>, r: Pick<ReviewRecord, 'planId' | 'seq'>): string {
  const base = app.config.approval.publicUrl?.replace(/\/+$/, '') ?? `http://${app.config.http.host}:${app.config.http.port}`;
  return `${base}/admin/queues/queue/approval/${approvalJobId(r.planId, r.seq)}`;
}

/** The notice: trusted facts only (category, account, effects and amounts, deadline, link). */
export function parkedNotice(app: Pick<AppContext, 'config'>, r: ReviewRecord): Record<string, unknown> {
  const url = reviewLink(app, r);
  const effects = r.effects.map(noticeEffect);
  return {
    text: slackEscape(`Mailroom: a plan waits for review — ${r.title}. Effects: ${effects.join(', ') || 'none'}. Deadline ${r.deadline}.`) + ` <${url}|Open in Bull Board>`,
    emailId: r.emailId,
    planId: r.planId,
    category: r.category,
    account: r.account,
    effects,
    deadline: r.deadline,
    url,
  };
}

/** Queues a notice for a plan that just parked (when a webhook is configured); never waits for it. */
export async function queueParkedNotice(app: AppContext, ids: { emailId: EmailId; planId: PlanId; seq: number }): Promise<void> {
  if (!app.config.approval.webhook) return;
  await app.queues.add('notify', ids, { jobId: jobIdFor('notify', ids.planId, String(ids.seq)) });
}

/**
 * The notify worker: one signed POST per park. A failure is audited each time (so a retry is
 * visible in the trail and in /metrics) and retried by BullMQ; a plan decided meanwhile is not
 * announced any more.
 */
export async function processNotifyJob(app: AppContext, job: Job): Promise<void> {
  const { emailId, planId, seq } = parseJobData('notify', job.data);
  const webhook = app.config.approval.webhook;
  const review = await readReview(app, planId);
  if (!webhook || !review || review.record.seq !== seq || review.status !== 'pending') return;
  const attempt = job.attemptsMade + 1;
  try {
    await postWebhook(webhook.url, 'plan.parked', parkedNotice(app, review.record), jobIdFor('notify', planId, String(seq)), { secret: webhook.secret, now: app.clock() });
    await app.audit.append(emailId, 'notified', 'notify', { planId, seq, attempt });
  } catch (err) {
    const e = toMailroomError(err);
    const retry = e.retryable && hasAttemptsLeft(job);
    await app.audit.append(emailId, 'notify_failed', 'notify', { planId, seq, attempt, code: e.publicCode, retry });
    app.logger.warn({ emailId, planId, code: e.publicCode, attempt, retry }, 'review notice failed');
    if (retry) throw e;
  }
}
