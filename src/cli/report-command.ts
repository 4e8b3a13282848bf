import { buildReport, type MailroomReport } from '../report/report.js';
import { parseDuration } from '../kernel/duration.js';
import { type ReportRow } from '../audit/row-sums.js';
import type { Config } from '../config/config.js';
import { createContext } from '../app/context.js';
import { MailroomError } from '../kernel/errors.js';
import type { Logger } from '../kernel/logger.js';

/** `mailroom report --since 7d`: what happened to the mail taken in over that window. */
export async function runReport(config: Config, logger: Logger, since: string): Promise<MailroomReport> {
  const ms = parseDuration(since);
  if (ms === null || ms <= 0)
    throw new MailroomError(
      'CONFIG_INVALID',
      `--since: "${since}" is not a duration such as 7d, 24h, 90m or 2w`,
    );
  // A running daemon's embedded Redis holds the data: read it there, as status and pending do.
  const app = await createContext(config, logger, { attachToRunning: true });
  try {
    const until = app.clock();
    return await buildReport(app, { since: new Date(until.getTime() - ms), until });
  } finally {
    await app.close();
  }
}

const pct = (x: number | null) => (x === null ? '-' : `${Math.round(x * 100)}%`);

function rowLines(row: ReportRow, indent: string): string[] {
  const lines = [
    `${indent}emails ${row.emails}: completed automatically ${row.completed_automatically}, parked ${row.parked} ` +
      `(approved ${row.approved}, rejected ${row.rejected}, still waiting ${row.awaiting_approval}), escalated ${row.escalated}, ` +
      `quarantined ${row.quarantined}, shadowed ${row.shadowed}`,
    `${indent}plans redone after a failed step ${row.replans} (per email ${row.replan_rate ?? '-'}), plans reused from earlier mail ${pct(row.plan_cache.hit_rate)}, ` +
      `median time to decision ${row.median_decision_seconds === null ? '-' : `${row.median_decision_seconds} s`} (${row.decisions} decisions)`,
  ];
  const reasons = (label: string, list: ReportRow['top_escalation_reasons']) => {
    if (list.length) lines.push(`${indent}${label}: ${list.map((r) => `${r.reason} ${r.count}`).join(', ')}`);
  };
  reasons('top escalation reasons', row.top_escalation_reasons);
  reasons('top quarantine reasons', row.top_quarantine_reasons);
  const robots = Object.entries(row.robots);
  if (robots.length) lines.push(`${indent}robots: ${robots.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  const c = row.cases;
  if (c.opened || c.follow_ups) {
    lines.push(
      `${indent}cases ${c.opened}, follow-ups ${c.follow_ups}: reopened ${c.reopens} (${pct(c.reopen_rate)}), resolved at first contact ${pct(c.first_contact_resolution)}, emails per case ${c.turns_per_case ?? '-'}`,
    );
  }
  const s = row.shadow;
  if (s.emails) {
    const would =
      Object.entries(s.would)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || '-';
    const effects =
      Object.entries(s.effects)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || 'none';
    lines.push(
      `${indent}shadow: ${s.emails} emails; a live run would ${would}; policy would auto-approve ${s.auto_approved} of ${s.auto_approved + s.would_park} plans (${pct(s.auto_rate)})`,
      `${indent}  would do: ${effects}; would send ${s.would_send} message(s)`,
    );
  }
  return lines;
}

/** The autonomy figure: per tool and category, steps at each level (decided, and how many ran). */
function autonomyLines(rows: MailroomReport['autonomy']): string[] {
  if (!rows.length) return [];
  const out = ['', 'autonomy: steps by level, per tool and category (decided / ran)'];
  const groups = new Map<string, string[]>();
  for (const r of rows) {
    const key = `${r.tool.padEnd(16)} ${r.category.padEnd(16)}`;
    groups.set(key, [...(groups.get(key) ?? []), `${r.level} ${r.decided}/${r.ran}`]);
  }
  for (const [key, levels] of groups) out.push(`  ${key} ${levels.join(', ')}`);
  return out;
}

/** The report as text: the totals, then each mailbox and its categories. */
export function formatReport(report: MailroomReport): string {
  const out = [
    `Mailroom report ${report.since} → ${report.until}`,
    '',
    'all mailboxes',
    ...rowLines(report.totals, '  '),
  ];
  for (const box of report.mailboxes) {
    out.push('', `mailbox ${box.mailbox}`, ...rowLines(box.row, '  '));
    for (const cat of box.categories) out.push(`  category ${cat.category}`, ...rowLines(cat.row, '    '));
  }
  out.push(...autonomyLines(report.autonomy));
  return `${out.join('\n')}\n`;
}
