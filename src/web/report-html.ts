import type { MailroomReport } from '../report/report.js';
import type { ReportRow } from '../audit/row-sums.js';
import { ReportOutcome, type ReportTimeline } from '../report/report-timeline.js';

/** Where the report page and its files live on the web role's server. */
export const REPORT_PATH = '/admin/report';
export const REPORT_ASSETS = `${REPORT_PATH}/assets`;

/**
 * Text for HTML, in element content and in quoted attribute values alike. Every value the page
 * shows goes through it: mailbox names come from the config, reasons and robot kinds from the
 * ledger, and none of them is ours to trust as markup.
 */
export function escapeHtml(value: string | number): string {
  return String(value)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/**
 * JSON for a `<script type="application/json">` block, which the browser never runs (the CSP
 * allows no inline script anyway): `<`, `>` and `&` are written as `\u` escapes so that no value
 * can close the element or open a comment, and U+2028/2029 likewise for older parsers.
 */
export function jsonForHtml(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

const pct = (x: number | null) => (x === null ? '–' : `${Math.round(x * 100)}%`);
const seconds = (s: number | null) => {
  if (s === null) return '–';
  if (s < 120) return `${s} s`;
  if (s < 7_200) return `${Math.round(s / 6) / 10} min`;
  return `${Math.round(s / 360) / 10} h`;
};

/** A table cell carrying the figure's key and its exact value, shown formatted. */
const cell = (key: string, value: number | null, shown: string = value === null ? '–' : String(value)) =>
  `<td data-key="${escapeHtml(key)}" data-value="${value === null ? '' : escapeHtml(value)}">${escapeHtml(shown)}</td>`;

type CountKey =
  | 'emails'
  | 'completed_automatically'
  | 'parked'
  | 'approved'
  | 'rejected'
  | 'awaiting_approval'
  | 'escalated'
  | 'quarantined'
  | 'shadowed';
const OUTCOME_COLUMNS: ReadonlyArray<[CountKey, string]> = [
  ['emails', 'Emails'],
  ['completed_automatically', 'Completed automatically'],
  ['parked', 'Parked'],
  ['approved', 'Approved'],
  ['rejected', 'Rejected'],
  ['awaiting_approval', 'Still waiting'],
  ['escalated', 'Escalated'],
  ['quarantined', 'Quarantined'],
  ['shadowed', 'Shadowed'],
];

/** The report's outcomes as a support lead names them, in the order a day's mail settles. */
const OUTCOME_TILES: ReadonlyArray<[ReportOutcome, string]> = [
  ['completed_automatically', 'handled automatically'],
  ['completed_after_approval', 'handled after a reviewer approved'],
  ['awaiting_approval', 'waiting for a reviewer'],
  ['rejected', 'rejected by a reviewer'],
  ['escalated', 'handed to the team'],
  ['quarantined', 'quarantined (unreadable or unsafe)'],
  ['shadowed', 'shadow mode (nothing done)'],
  ['in_progress', 'still being handled'],
];

interface NamedRow {
  mailbox: string;
  /** null for the mailbox's own row (all its categories). */
  category: string | null;
  row: ReportRow;
}

function rowsOf(report: MailroomReport): NamedRow[] {
  return report.mailboxes.flatMap((box) => [
    { mailbox: box.mailbox, category: null, row: box.row },
    ...box.categories.map((c) => ({ mailbox: box.mailbox, category: c.category, row: c.row })),
  ]);
}

const rowAttrs = (r: { mailbox: string | null; category: string | null }) =>
  `data-mailbox="${escapeHtml(r.mailbox ?? '*')}" data-category="${escapeHtml(r.category ?? '*')}"`;
const rowLabel = (r: { mailbox: string | null; category: string | null }) =>
  r.mailbox === null
    ? '<th scope="row">all mailboxes</th>'
    : r.category === null
      ? `<th scope="row" class="mailbox">${escapeHtml(r.mailbox)}</th>`
      : `<th scope="row" class="category">${escapeHtml(r.category)}</th>`;

function outcomesTable(report: MailroomReport): string {
  const head = [
    '<th scope="col">Mailbox / category</th>',
    ...OUTCOME_COLUMNS.map(([, label]) => `<th scope="col">${escapeHtml(label)}</th>`),
    '<th scope="col">Plans redone after a failed step (per email)</th>',
    '<th scope="col">Plans reused from earlier mail</th>',
    '<th scope="col">Median time to decision (decisions)</th>',
  ].join('');
  const line = (r: { mailbox: string | null; category: string | null; row: ReportRow }) =>
    `<tr ${rowAttrs(r)}>${rowLabel(r)}${OUTCOME_COLUMNS.map(([key]) => cell(key, r.row[key])).join('')}` +
    `${cell('replans', r.row.replans, `${r.row.replans} (${r.row.replan_rate ?? '–'})`)}` +
    `${cell('plan_cache.hit_rate', r.row.plan_cache.hit_rate, pct(r.row.plan_cache.hit_rate))}` +
    `${cell('median_decision_seconds', r.row.median_decision_seconds, `${seconds(r.row.median_decision_seconds)} (${r.row.decisions})`)}</tr>`;
  const body = [{ mailbox: null, category: null, row: report.totals }, ...rowsOf(report)]
    .map(line)
    .join('\n');
  return `<table id="outcomes"><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** Cases per mailbox and category: opened, follow-ups, reopens, first-contact resolution, emails per case. */
function casesTable(report: MailroomReport): string {
  if (report.totals.cases.opened === 0) return '<p class="empty">No case was opened in this window.</p>';
  const line = (r: { mailbox: string | null; category: string | null; row: ReportRow }) => {
    const c = r.row.cases;
    return (
      `<tr ${rowAttrs(r)}>${rowLabel(r)}${cell('cases.opened', c.opened)}${cell('cases.follow_ups', c.follow_ups)}` +
      `${cell('cases.reopen_rate', c.reopen_rate, `${c.reopens} (${pct(c.reopen_rate)})`)}` +
      `${cell('cases.first_contact_resolution', c.first_contact_resolution, pct(c.first_contact_resolution))}` +
      `${cell('cases.turns_per_case', c.turns_per_case, String(c.turns_per_case ?? '–'))}</tr>`
    );
  };
  const body = [{ mailbox: null, category: null, row: report.totals }, ...rowsOf(report)].map(line).join('\n');
  return (
    '<table id="cases"><thead><tr><th scope="col">Mailbox / category</th><th scope="col">Cases opened</th><th scope="col">Follow-ups</th>' +
    `<th scope="col">Reopened</th><th scope="col">Resolved at first contact</th><th scope="col">Emails per case</th></tr></thead><tbody>\n${body}\n</tbody></table>`
  );
}

const listOf = (entries: ReadonlyArray<[string, number]>) =>
  entries.length ? entries.map(([k, v]) => `${escapeHtml(k)} ${escapeHtml(v)}`).join(', ') : '–';

function shadowTable(report: MailroomReport): string {
  const rows = rowsOf(report).filter((r) => r.row.shadow.emails > 0);
  if (report.totals.shadow.emails === 0)
    return '<p class="empty">No email in this window was handled in shadow mode.</p>';
  const line = (r: { mailbox: string | null; category: string | null; row: ReportRow }) => {
    const s = r.row.shadow;
    return (
      `<tr ${rowAttrs(r)}>${rowLabel(r)}${cell('shadow.emails', s.emails)}` +
      `${cell('shadow.would.complete', s.would.complete ?? 0)}${cell('shadow.would.escalate', s.would.escalate ?? 0)}${cell('shadow.would.park', s.would.park ?? 0)}` +
      `${cell('shadow.auto_approved', s.auto_approved, `${s.auto_approved} of ${s.auto_approved + s.would_park} (${pct(s.auto_rate)})`)}` +
      `<td data-key="shadow.effects">${listOf(Object.entries(s.effects))}</td>${cell('shadow.would_send', s.would_send)}</tr>`
    );
  };
  const body = [{ mailbox: null, category: null, row: report.totals }, ...rows].map(line).join('\n');
  return (
    '<table id="shadow"><thead><tr><th scope="col">Mailbox / category</th><th scope="col">Shadow emails</th>' +
    '<th scope="col">Would complete</th><th scope="col">Would escalate</th><th scope="col">Would park</th>' +
    '<th scope="col">Policy would auto-approve</th><th scope="col">Would do (by tool)</th><th scope="col">Would send (messages)</th></tr></thead>' +
    `<tbody>\n${body}\n</tbody></table>`
  );
}

function reasonsTable(report: MailroomReport): string {
  const lines: string[] = [];
  for (const r of [{ mailbox: null, category: null, row: report.totals }, ...rowsOf(report)]) {
    const kinds: Array<[string, string, ReadonlyArray<[string, number]>]> = [
      ['escalation', 'Top escalation reasons', r.row.top_escalation_reasons.map((x) => [x.reason, x.count])],
      ['quarantine', 'Top quarantine reasons', r.row.top_quarantine_reasons.map((x) => [x.reason, x.count])],
      ['robots', 'Robots by kind', Object.entries(r.row.robots)],
    ];
    for (const [key, label, entries] of kinds) {
      if (entries.length)
        lines.push(
          `<tr ${rowAttrs(r)} data-kind="${key}">${rowLabel(r)}<td>${escapeHtml(label)}</td><td>${listOf(entries)}</td></tr>`,
        );
    }
  }
  if (!lines.length) return '<p class="empty">No escalation, quarantine or robot mail in this window.</p>';
  return `<table id="reasons"><thead><tr><th scope="col">Mailbox / category</th><th scope="col">What</th><th scope="col">Count</th></tr></thead><tbody>\n${lines.join('\n')}\n</tbody></table>`;
}

/** Autonomy (issue 22): steps per level, tool and category — the figure a lead watches grow. */
function autonomyTable(report: MailroomReport): string {
  if (!report.autonomy.length) return '<p class="empty">No plan in this window was given autonomy levels.</p>';
  const body = report.autonomy
    .map(
      (r) =>
        `<tr data-tool="${escapeHtml(r.tool)}" data-category="${escapeHtml(r.category)}" data-level="${escapeHtml(r.level)}">` +
        `<th scope="row">${escapeHtml(r.tool)}</th><td>${escapeHtml(r.category)}</td><td>${escapeHtml(r.level)}</td>` +
        `${cell('decided', r.decided)}${cell('ran', r.ran)}</tr>`,
    )
    .join('\n');
  return (
    '<table id="autonomy"><thead><tr><th scope="col">Tool</th><th scope="col">Category</th><th scope="col">Level</th>' +
    `<th scope="col">Steps given the level</th><th scope="col">Ran</th></tr></thead><tbody>\n${body}\n</tbody></table>`
  );
}

function tile(key: string, label: string, value: number | null, shown?: string): string {
  return `<div class="tile" data-key="${escapeHtml(key)}" data-value="${value === null ? '' : escapeHtml(value)}"><span class="figure">${escapeHtml(shown ?? (value === null ? '–' : String(value)))}</span><span class="label">${escapeHtml(label)}</span></div>`;
}

/** Windows offered as links (any `?since=` the CLI's `--since` takes works). */
const WINDOWS = ['24h', '7d', '30d', '90d'];

/**
 * The report page: the same figures as `mailroom report` (tiles for the totals, a table per
 * mailbox and category, the shadow would-dos, reasons and robots), three canvases the page's own
 * script draws with Chart.js, and the report and its time series as an inert JSON block that
 * script reads. No inline script or style: the page's CSP allows neither.
 */
export function renderReportPage(input: {
  report: MailroomReport;
  timeline: ReportTimeline;
  since: string;
  boardPath: string;
}): string {
  const { report, timeline } = input;
  const t = report.totals;
  // Where each email stands now, counted once (the outcomes chart's series): the tiles add up to the emails.
  const now = new Map<ReportOutcome, number>();
  for (const b of timeline.buckets) for (const [o, n] of Object.entries(b.outcomes)) now.set(ReportOutcome.parse(o), (now.get(ReportOutcome.parse(o)) ?? 0) + n);
  const outcomeTiles = OUTCOME_TILES.filter(([o]) => o !== 'in_progress' || (now.get(o) ?? 0) > 0).map(([o, label]) => tile(`now.${o}`, label, now.get(o) ?? 0));
  const tiles = [
    tile('emails', 'emails', t.emails),
    ...outcomeTiles,
    tile('shadow.would_send', 'replies shadow mode would have sent', t.shadow.would_send),
    tile('cases.first_contact_resolution', 'cases resolved at first contact', t.cases.first_contact_resolution, pct(t.cases.first_contact_resolution)),
    tile('cases.reopen_rate', 'cases reopened', t.cases.reopen_rate, pct(t.cases.reopen_rate)),
    tile('cases.turns_per_case', 'emails per case', t.cases.turns_per_case),
    tile(
      'median_decision_seconds',
      'median time to decision',
      t.median_decision_seconds,
      seconds(t.median_decision_seconds),
    ),
  ].join('');
  const windows = WINDOWS.map((w) =>
    w === input.since
      ? `<strong>${escapeHtml(w)}</strong>`
      : `<a href="${REPORT_PATH}?since=${encodeURIComponent(w)}">${escapeHtml(w)}</a>`,
  ).join(' · ');
  const by = timeline.bucket === 'hour' ? 'hour' : timeline.bucket === 'day' ? 'day' : 'week';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Mailroom report · last ${escapeHtml(input.since)}</title>
<link rel="stylesheet" href="${REPORT_ASSETS}/report-page.css">
<script src="${REPORT_ASSETS}/chart.umd.min.js" defer></script>
<script src="${REPORT_ASSETS}/report-page.js" defer></script>
</head>
<body>
<header>
<h1>Mailroom report</h1>
<p class="window">Emails taken in from <time datetime="${escapeHtml(report.since)}">${escapeHtml(report.since.slice(0, 16).replace('T', ' '))}</time> to <time datetime="${escapeHtml(report.until)}">${escapeHtml(report.until.slice(0, 16).replace('T', ' '))}</time> UTC · last ${windows}</p>
<nav><a href="${escapeHtml(input.boardPath)}/queue/approval?status=delayed">Plans waiting for a human (Bull Board)</a> · <a href="${REPORT_PATH}.json?since=${encodeURIComponent(input.since)}">JSON</a></nav>
</header>
<main>
<section class="tiles" id="totals">${tiles}</section>
<section class="charts">
<figure><figcaption>Emails by outcome, per ${by}</figcaption><div class="chart"><canvas id="chart-outcomes" role="img" aria-label="Emails by outcome per ${by}"></canvas></div></figure>
<figure><figcaption>Emails by category, per ${by}</figcaption><div class="chart"><canvas id="chart-categories" role="img" aria-label="Emails by category per ${by}"></canvas></div></figure>
<figure><figcaption>Time to decision for parked plans (${escapeHtml(t.decisions)} decisions, median ${escapeHtml(seconds(t.median_decision_seconds))})</figcaption><div class="chart"><canvas id="chart-decisions" role="img" aria-label="Time to decision for parked plans"></canvas></div></figure>
</section>
<h2>Per mailbox and category</h2>
${outcomesTable(report)}
<h2>Cases: an email and its follow-ups</h2>
${casesTable(report)}
<h2>Shadow mode: what a live run would have done</h2>
${shadowTable(report)}
<h2>Reasons and robots</h2>
${reasonsTable(report)}
<h2>Autonomy: steps per level</h2>
${autonomyTable(report)}
</main>
<script type="application/json" id="report-data">${jsonForHtml({ report, timeline })}</script>
</body>
</html>
`;
}
