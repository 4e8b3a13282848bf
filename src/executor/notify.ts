import type { Job } from 'bullmq';
import type { AppContext } from '../services/services.js';
import { toMailroomError } from '../kernel/errors.js';
import type { EmailId, PlanId } from '../kernel/ids.js';
import type { ShownEffect } from '../queues/approval-job.js';
import { hasAttemptsLeft, jobIdFor, parseJobData } from '../queues/catalog.js';
import { postWebhook } from '../tools/webhook.js';
import { approvalJobId, parseApprovalJobId } from './review-ids.js';
import { automaticHeaders, mintedMessageId } from '../tools/outbound-headers.js';
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
  return `${app.config.approval.publicUrl}/admin/queues/queue/approval/${approvalJobId(r.planId, r.seq)}`;
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

type Channel = 'webhook' | 'team';

function channels(app: Pick<AppContext, 'config'>): Channel[] {
  return [...(app.config.approval.webhook ? (['webhook'] as const) : []), ...(app.config.approval.notifyTeam ? (['team'] as const) : [])];
}

/**
 * Queues the notices for a plan that just parked, one job per configured channel; never waits for
 * them. In digest mode the plan joins its window's list and one delayed job per window and channel
 * (deduplicated by job id) sends the list when the window closes.
 */
export async function queueParkedNotice(app: AppContext, ids: { emailId: EmailId; planId: PlanId; seq: number }): Promise<void> {
  const minutes = app.config.approval.digestMinutes;
  for (const channel of channels(app)) {
    if (!minutes) {
      await app.queues.add('notify', { kind: 'parked', channel, ...ids }, { jobId: jobIdFor('notify', channel, ids.planId, String(ids.seq)) });
      continue;
    }
    const now = app.clock().getTime();
    const windowMs = minutes * 60_000;
    const window = Math.floor(now / windowMs);
    await app.redis.zadd(app.keys.notifyDigest(), now, approvalJobId(ids.planId, ids.seq));
    await app.redis.expire(app.keys.notifyDigest(), app.config.contentTtlSeconds);
    await app.queues.add('notify', { kind: 'digest', channel, window }, { jobId: jobIdFor('notify', 'digest', channel, String(window)), delay: (window + 1) * windowMs - now });
  }
}

/** The plans still waiting among those parked in one digest window. */
async function digestReviews(app: AppContext, window: number): Promise<ReviewRecord[]> {
  const minutes = app.config.approval.digestMinutes ?? 1;
  const from = window * minutes * 60_000;
  const members = await app.redis.zrangebyscore(app.keys.notifyDigest(), from, `(${from + minutes * 60_000}`);
  const out: ReviewRecord[] = [];
  for (const m of members) {
    const ids = parseApprovalJobId(m);
    const review = ids ? await readReview(app, ids.planId) : null;
    if (review && review.status === 'pending' && review.record.seq === ids?.seq) out.push(review.record);
  }
  return out;
}

/** A digest: how many wait, and one line of trusted facts and a link for each. */
export function digestNotice(app: Pick<AppContext, 'config'>, reviews: readonly ReviewRecord[]): Record<string, unknown> {
  const items = reviews.map((r) => parkedNotice(app, r));
  const lines = reviews.map((r) => `• ${slackEscape(r.title)} (deadline ${r.deadline}) <${reviewLink(app, r)}|open>`);
  return { text: [`Mailroom: ${reviews.length} plan${reviews.length === 1 ? '' : 's'} wait for review.`, ...lines].join('\n'), plans: items.map(({ text: _t, ...rest }) => rest) };
}

/** The same notice as a plain-text mail to the configured team. */
async function mailTeam(app: AppContext, key: string, subject: string, notice: Record<string, unknown>): Promise<void> {
  const team = app.config.teams.find((t) => t.name === app.config.approval.notifyTeam);
  if (!team) return;
  const text = String(notice.text).replace(/<([^|>]+)\|[^>]+>/g, '$1').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  await app.mailer.send({
    to: team.address,
    from: { name: app.config.mailbox.name, address: app.config.mailbox.address },
    subject,
    text: `${text}\n\nThis notice carries trusted facts only; the email itself is in Bull Board, marked untrusted.\n`,
    messageId: await mintedMessageId(app, key),
    headers: automaticHeaders('notification', key),
  });
}

/**
 * The notify worker: one signed POST (or one mail to the team) per park or per digest window. A
 * failure is audited each time (so a retry is visible in the trail and in /metrics) and retried by
 * BullMQ; a plan decided meanwhile is not announced any more.
 */
export async function processNotifyJob(app: AppContext, job: Job): Promise<void> {
  const data = parseJobData('notify', job.data);
  const reviews = data.kind === 'parked' ? await readReview(app, data.planId).then((r) => (r && r.status === 'pending' && r.record.seq === data.seq ? [r.record] : [])) : await digestReviews(app, data.window);
  const first = reviews[0];
  if (!first) return;
  const key = data.kind === 'parked' ? jobIdFor('notify', data.planId, String(data.seq)) : jobIdFor('notify', 'digest', String(data.window));
  const notice = data.kind === 'parked' ? parkedNotice(app, first) : digestNotice(app, reviews);
  const attempt = job.attemptsMade + 1;
  const audit = (type: 'notified' | 'notify_failed', extra: Record<string, unknown>) =>
    Promise.all(reviews.map((r) => app.audit.append(r.emailId, type, 'notify', { planId: r.planId, seq: r.seq, channel: data.channel, attempt, ...extra })));
  try {
    if (data.channel === 'webhook') {
      const webhook = app.config.approval.webhook;
      if (!webhook) return;
      await postWebhook(webhook.url, data.kind === 'parked' ? 'plan.parked' : 'plans.parked', notice, key, { secret: webhook.secret, now: app.clock() });
    } else {
      await mailTeam(app, `${key}.team`, data.kind === 'parked' ? `[Mailroom] review: ${first.title}` : `[Mailroom] ${reviews.length} plans wait for review`, notice);
    }
    await audit('notified', {});
  } catch (err) {
    const e = toMailroomError(err);
    const retry = e.retryable && hasAttemptsLeft(job);
    await audit('notify_failed', { code: e.publicCode, retry });
    app.logger.warn({ channel: data.channel, code: e.publicCode, attempt, retry }, 'review notice failed');
    if (retry) throw e;
  }
}
