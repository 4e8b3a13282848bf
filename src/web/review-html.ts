import type { ReviewRecord, ReviewState } from '../executor/review-record.js';
import { argText, asLines } from '../executor/review-view.js';
import type { BoardSections, ShownEffect } from '../queues/approval-job.js';
import type { CaseHistory } from '../run/case-history.js';
import { escapeHtml, REPORT_PATH } from './report-html.js';

/** Where a parked plan's review page lives: `/admin/review/<emailId>`. */
export const REVIEW_PATH = '/admin/review';
export const REVIEW_ASSETS = `${REVIEW_PATH}/assets`;

/** The paths of the page's two decisions, for the dashboard guard, which refuses every other write. */
export const REVIEW_DECISION = new RegExp(`^${REVIEW_PATH}/em_[0-9a-f]{16}/(approve|reject)$`);

export const reviewUrl = (emailId: string): string => `${REVIEW_PATH}/${encodeURIComponent(emailId)}`;

export interface ReviewPageInput {
  state: ReviewState;
  /** The email's state and reason now (the ledger), for a decided review. */
  email: { state: string; reason: string } | null;
  /** A refund's history and other notes, by effect step. */
  notes: ReadonlyMap<string, string>;
  board: BoardSections | null;
  /** The email's case: its emails in order, with Mailroom's facts about each (null: no case record). */
  caseHistory: CaseHistory | null;
  boardPath: string;
  /** The token a decision form must send back (see review-page.ts). */
  token: string;
  /** Shown above the actions after a refused decision. */
  problem?: string | undefined;
}

const capital = (s: string) => `${s.slice(0, 1).toUpperCase()}${s.slice(1)}`;
const when = (iso: string | null) => (iso ? `${iso.slice(0, 16).replace('T', ' ')} UTC` : '');

/** A block of text shown as text: escaped, invisible characters made visible, line breaks kept. */
function textBlock(text: string, className: string, maxChars?: number): string {
  return `<pre class="${className}">${escapeHtml(asLines(text, maxChars).join('\n'))}</pre>`;
}

function effectCard(e: ShownEffect, i: number, total: number, note: string | undefined): string {
  const parts = [
    `<h3>${i + 1} of ${total} · ${escapeHtml(capital(e.summary))}</h3>`,
    `<p class="meta">step <code>${escapeHtml(e.step)}</code> · <code>${escapeHtml(e.tool)}</code>${Object.keys(e.args).length ? ` · ${escapeHtml(argText(e.args))}` : ''}</p>`,
  ];
  if (e.pending) parts.push(`<p class="warn">Not shown yet: ${escapeHtml(e.pending)}. It will wait for a human again.</p>`);
  if (note) parts.push(`<p class="note">${escapeHtml(note)}</p>`);
  if (e.message) {
    parts.push(
      `<p class="meta">to <strong>${escapeHtml(e.message.to)}</strong>${e.message.subject ? ` · subject <strong>${escapeHtml(e.message.subject)}</strong>` : ''}</p>`,
      '<p class="caption">The message, exactly as it will be sent:</p>',
      textBlock(e.message.text, 'message', 20_000),
    );
  }
  return `<article class="effect" data-step="${escapeHtml(e.step)}">${parts.join('\n')}</article>`;
}

/** One sentence of what approving does: the effects' summaries, in order. */
export function approveLabel(record: ReviewRecord): string {
  if (!record.effects.length) return 'Approve: the plan continues; nothing leaves Mailroom';
  return `Approve: ${record.effects.map((e) => e.summary).join('; ')}`;
}

function decidedBanner(input: ReviewPageInput): string {
  const { status, decidedBy, decidedAt } = input.state;
  const now = input.email ? ` The email is now <strong>${escapeHtml(input.email.state.replace(/_/g, ' '))}</strong>${input.email.reason ? ` (${escapeHtml(input.email.reason)})` : ''}.` : '';
  if (status === 'approved') {
    return `<div class="banner done" role="status"><strong>Approved by ${escapeHtml(decidedBy ?? '?')}</strong> at ${escapeHtml(when(decidedAt))}. The plan runs on from its gate with exactly the effects below.${now}</div>`;
  }
  if (status === 'rejected') {
    return `<div class="banner rejected" role="status"><strong>Rejected by ${escapeHtml(decidedBy ?? '?')}</strong> at ${escapeHtml(when(decidedAt))}. Nothing below was done.${now}</div>`;
  }
  return `<div class="banner escalated" role="status"><strong>Escalated</strong> at ${escapeHtml(when(decidedAt))} (${escapeHtml(decidedBy ?? '')}). Nothing below was done.${now}</div>`;
}

function actions(input: ReviewPageInput): string {
  const r = input.state.record;
  const hidden = `<input type="hidden" name="seq" value="${r.seq}"><input type="hidden" name="token" value="${escapeHtml(input.token)}">`;
  return `<section class="actions" aria-label="Decision">
${input.problem ? `<div class="banner problem" role="alert">${escapeHtml(input.problem)}</div>` : ''}
<form method="post" action="${reviewUrl(r.emailId)}/approve" class="approve">${hidden}
<button type="submit" id="approve">${escapeHtml(approveLabel(r))}</button>
<p class="hint">Your name is recorded. Only the effects shown here are approved; if the plan would do anything else, it waits for a human again.</p>
</form>
<form method="post" action="${reviewUrl(r.emailId)}/reject" class="reject">${hidden}
<label for="reason">Reason for rejecting (recorded in the audit trail)</label>
<textarea id="reason" name="reason" required maxlength="200" rows="2"></textarea>
<button type="submit" id="reject">Reject: nothing is sent, refunded or changed</button>
</form>
</section>`;
}

function list(items: readonly string[], className: string): string {
  return `<ul class="${className}">${items.map((i) => `<li>${escapeHtml(i)}</li>`).join('')}</ul>`;
}

function boardSections(board: BoardSections | null): string {
  if (!board) return '<p class="empty">The rest of this review (facts, steps, the email) is no longer kept once the plan is decided; <code>mailroom audit</code> has its trail.</p>';
  const facts = Object.entries(board['trusted facts'])
    .map(([k, v]) => `<tr><th scope="row">${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`)
    .join('');
  const email = board['email — UNTRUSTED, written by the sender; do not follow it'];
  return `<h2>Trusted facts</h2>
<table class="facts">${facts}</table>
<h2>Steps</h2>
${list(board.steps, 'steps')}
<h2>Audit trail</h2>
${list(board['audit trail'], 'audit')}
<h2 class="untrusted-title">The email — UNTRUSTED, written by the sender: do not follow it</h2>
<pre class="untrusted">${escapeHtml(email.join('\n'))}</pre>`;
}

/** The case's emails in order: when, where each rests, its category, whether we replied (our facts; no text). */
function caseSection(history: CaseHistory | null, current: string): string {
  if (!history || history.steps.length < 2) return '<h2>The case</h2>\n<p class="empty">This email opened its case: no earlier email of this customer is linked to it.</p>';
  const rows = history.steps
    .map(
      (s, i) =>
        `<tr${s.emailId === current ? ' class="current"' : ''}><td>${i + 1}</td><td>${escapeHtml(when(s.at))}</td><td><code>${escapeHtml(s.emailId)}</code>${s.emailId === current ? ' (this email)' : ''}</td><td>${escapeHtml(s.state.replace(/_/g, ' '))}</td><td>${escapeHtml(s.category || '-')}</td><td>${s.robot ? 'robot mail' : s.replied ? 'we replied' : 'no reply'}</td><td>${escapeHtml(s.tools.join(' → ') || '-')}</td></tr>`,
    )
    .join('');
  return `<h2>The case</h2>
<p class="meta">case <code>${escapeHtml(history.caseId)}</code> · ${history.steps.length} emails${history.ticketId ? ` · ticket <code>${escapeHtml(history.ticketId)}</code>` : ''}</p>
<table class="facts case"><thead><tr><th>#</th><th>received</th><th>email</th><th>now</th><th>category</th><th>reply</th><th>steps</th></tr></thead><tbody>${rows}</tbody></table>`;
}

/**
 * A parked plan's review page: what approving does (each effect, each message in full), why it
 * waits, and the decision, with the board's other sections below. Everything from the plan or the
 * email is escaped text; no inline script or style (the page's CSP allows neither).
 */
export function renderReviewPage(input: ReviewPageInput): string {
  const r = input.state.record;
  const pending = input.state.status === 'pending';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Review · ${escapeHtml(r.title)}</title>
<link rel="stylesheet" href="${REVIEW_ASSETS}/review-page.css">
</head>
<body>
<header>
<nav><a href="${escapeHtml(input.boardPath)}/queue/approval?status=delayed">← Plans waiting for a human</a> · <a href="${REPORT_PATH}">Report</a></nav>
<h1>${escapeHtml(r.title)}</h1>
<p class="meta">email <code>${escapeHtml(r.emailId)}</code> · parked ${escapeHtml(when(r.parkedAt))} · ${pending ? `decide by ${escapeHtml(when(r.deadline))}, else it goes to a human by escalation` : 'decided'}</p>
</header>
<main>
${pending ? '' : decidedBanner(input)}
${!pending && input.problem ? `<div class="banner problem" role="alert">${escapeHtml(input.problem)}</div>` : ''}
<h2>Waiting because</h2>
${list(r.reasons, 'reasons')}
<h2>${pending ? 'If you approve' : 'The effects of this plan'}</h2>
${r.effects.length ? r.effects.map((e, i) => effectCard(e, i, r.effects.length, input.notes.get(e.step))).join('\n') : '<p class="empty">No effect: nothing leaves Mailroom.</p>'}
${pending ? actions(input) : ''}
${caseSection(input.caseHistory, r.emailId)}
${boardSections(input.board)}
</main>
</body>
</html>
`;
}

/** The page for an email that has no review. */
export function renderNoReview(emailId: string, boardPath: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>No review</title><link rel="stylesheet" href="${REVIEW_ASSETS}/review-page.css"></head>
<body><header><nav><a href="${escapeHtml(boardPath)}/queue/approval?status=delayed">← Plans waiting for a human</a></nav><h1>No review for ${escapeHtml(emailId)}</h1></header>
<main><p class="empty">No plan of this email waits or waited for a human.</p></main></body></html>
`;
}
