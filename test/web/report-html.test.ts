import { describe, expect, it } from 'vitest';
import type { EmailRecord } from '../../src/audit/email-ledger.js';
import { MailroomReport } from '../../src/report/report.js';
import { type ReportRow } from '../../src/audit/row-sums.js';
import { emailOutcome } from '../../src/audit/email-outcome.js';
import { bucketFor, ReportTimeline, TimelineBuilder } from '../../src/report/report-timeline.js';
import type { EmailId } from '../../src/kernel/ids.js';
import { escapeHtml, jsonForHtml, renderReportPage } from '../../src/web/report-html.js';

const HOSTILE = `<img src=x onerror="alert(1)">'</script><script>alert(2)</script><!--`;

function row(over: Partial<ReportRow> = {}): ReportRow {
  return MailroomReport.shape.totals.parse({
    emails: 1,
    completed_automatically: 0,
    parked: 0,
    approved: 0,
    rejected: 0,
    escalated: 1,
    quarantined: 0,
    shadowed: 1,
    awaiting_approval: 0,
    replans: 0,
    replan_rate: null,
    plan_cache: { hits: 0, misses: 0, hit_rate: null },
    median_decision_seconds: null,
    decisions: 0,
    top_escalation_reasons: [{ reason: HOSTILE, count: 1 }],
    top_quarantine_reasons: [],
    robots: { [HOSTILE]: 1 },
    cases: { opened: 1, follow_ups: 0, reopens: 0, reopen_rate: 0, first_contact_resolution: 0, turns_per_case: 1 },
    shadow: {
      emails: 1,
      would: { escalate: 1 },
      auto_approved: 0,
      would_park: 0,
      auto_rate: null,
      effects: { [HOSTILE]: 1 },
      would_send: 0,
    },
    ...over,
  });
}

const record = (over: Partial<EmailRecord>): EmailRecord => ({
  emailId: 'em_0000000000000000' as EmailId,
  state: 'completed',
  reason: '',
  source: 'x',
  createdAt: '2026-11-20T09:30:00.000Z',
  updatedAt: '',
  planId: '',
  category: 'billing',
  sender: '',
  robot: '',
  tools: '',
  mailbox: 'support@acme.example',
  mode: 'live',
  ...over,
});

describe('the report page as HTML', () => {
  it('escapes every name a config or the ledger holds: mailbox, category, reasons, robots, tools', () => {
    const report: MailroomReport = {
      since: '2026-11-13T00:00:00.000Z',
      until: '2026-11-20T00:00:00.000Z',
      totals: row(),
      autonomy: [{ tool: HOSTILE, category: HOSTILE, level: 'review', decided: 1, ran: 0 }],
      mailboxes: [{ mailbox: HOSTILE, row: row(), categories: [{ category: HOSTILE, row: row() }] }],
    };
    const timeline = new TimelineBuilder({
      since: new Date(report.since),
      until: new Date(report.until),
    }).build();
    const html = renderReportPage({ report, timeline, since: '7d', boardPath: '/admin/queues' });
    // The only tags are ours: two script elements that load files and one inert JSON block.
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<!--');
    expect(html.match(/<script\b/g)).toHaveLength(3);
    expect(html.match(/<\/script>/g)).toHaveLength(3);
    expect(html).not.toMatch(/<script>/);
    expect(html).toContain(escapeHtml(HOSTILE));
    // The JSON block gives the same data back.
    const block = /<script type="application\/json" id="report-data">([^<]*)<\/script>/.exec(html)?.[1] ?? '';
    const data: unknown = JSON.parse(block);
    expect(data).toEqual({ report, timeline });
  });

  it('writes JSON that cannot leave its script element', () => {
    const out = jsonForHtml({ a: '</script><!-- & \u2028' });
    expect(out).not.toMatch(/[<>&\u2028]/);
    expect(JSON.parse(out)).toEqual({ a: '</script><!-- & \u2028' });
  });
});

describe('the report time series', () => {
  const since = new Date('2026-11-13T12:00:00.000Z');
  const until = new Date('2026-11-20T12:00:00.000Z');

  it('chooses hours, days or weeks by the length of the window', () => {
    expect(bucketFor({ since: new Date(until.getTime() - 86_400_000), until })).toBe('hour');
    expect(bucketFor({ since, until })).toBe('day');
    expect(bucketFor({ since: new Date(until.getTime() - 200 * 86_400_000), until })).toBe('week');
  });

  it('buckets each email by when it was taken in, by the report outcome and category, and bins decisions', () => {
    const t = new TimelineBuilder({ since, until });
    const parked = [{ ts: '2026-11-20T09:00:00.000Z', type: 'parked' as const, actor: 'policy', data: {} }];
    t.add(emailOutcome(record({}), []));
    t.add(
      emailOutcome(record({ state: 'completed', category: 'refund' }), [
        ...parked,
        { ts: '2026-11-20T09:04:00.000Z', type: 'approved', actor: 'alice', data: {} },
      ]),
    );
    t.add(
      emailOutcome(record({ state: 'rejected', category: 'refund', createdAt: '2026-11-15T08:00:00.000Z' }), [
        ...parked,
        { ts: '2026-11-20T12:00:00.000Z', type: 'rejected', actor: 'bob', data: {} },
      ]),
    );
    t.add(
      emailOutcome(
        record({ state: 'shadowed', mode: 'shadow', category: '', createdAt: '2026-11-14T23:59:59.000Z' }),
        [],
      ),
    );
    // Outside the window (a clock set elsewhere): counted at the window's edge, never dropped.
    t.add(emailOutcome(record({ state: 'running', createdAt: '2020-01-01T00:00:00.000Z' }), []));
    const built = ReportTimeline.parse(t.build());
    expect(built.bucket).toBe('day');
    expect(built.buckets.map((b) => b.start.slice(0, 10))).toEqual([
      '2026-11-13',
      '2026-11-14',
      '2026-11-15',
      '2026-11-16',
      '2026-11-17',
      '2026-11-18',
      '2026-11-19',
      '2026-11-20',
    ]);
    const day = (d: string) => built.buckets.find((b) => b.start.startsWith(d));
    expect(day('2026-11-20')?.outcomes).toMatchObject({
      completed_automatically: 1,
      completed_after_approval: 1,
      rejected: 0,
    });
    expect(day('2026-11-20')?.categories).toEqual({ billing: 1, refund: 1 });
    expect(day('2026-11-15')?.outcomes.rejected).toBe(1);
    expect(day('2026-11-14')?.categories).toEqual({ '(none)': 1 });
    expect(day('2026-11-13')?.outcomes.in_progress).toBe(1);
    expect(built.categories).toEqual(['(none)', 'billing', 'refund']);
    const total = built.buckets.reduce((n, b) => n + Object.values(b.outcomes).reduce((a, c) => a + c, 0), 0);
    expect(total).toBe(5);
    expect(built.decisions.find((b) => b.label === '1–5 min')?.count).toBe(1);
    expect(built.decisions.find((b) => b.label === '1–4 h')?.count).toBe(1);
  });
});
