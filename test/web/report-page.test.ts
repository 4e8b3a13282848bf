import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createAuditTrail } from '../../src/audit/audit-trail.js';
import { createEmailLedger } from '../../src/audit/email-ledger.js';
import { buildReport, type MailroomReport } from '../../src/report/report.js';
import { type ReportRow } from '../../src/audit/row-sums.js';
import { TimelineBuilder, type ReportTimeline } from '../../src/report/report-timeline.js';
import type { Config } from '../../src/config/config.js';
import { createContext } from '../../src/app/context.js';
import { type AppContext } from '../../src/services/services.js';
import { startDaemon, type Daemon } from '../../src/daemon/daemon.js';
import { startWorkers, type RunningWorkers } from '../../src/app/workers.js';
import { approveParked, rejectParked } from '../../src/run/decisions.js';
import type { EmailId } from '../../src/kernel/ids.js';
import { submitEmail } from '../../src/ingest/submit.js';
import { createLogger } from '../../src/kernel/logger.js';
import { REPORT_CSP } from '../../src/web/report-page.js';
import { EXAMPLES } from '../fixtures/examples.js';
import { launchBrowser, loopbackContext } from '../harness/browser.js';
import { exampleConfig } from '../harness/example-config.js';
import { waitFor } from '../harness/mail.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';
import { basic } from '../harness/review-daemon.js';

/** Screenshots a person can look at after the run (CI keeps .mailroom/artifacts/). */
const ARTIFACTS = path.resolve(import.meta.dirname, '../../.mailroom/artifacts');
const logger = createLogger({ level: 'silent' });
const LEAD = { username: 'lead', password: 'lead-pw-5e1b' };
const DAY = 86_400_000;
/** The first three days of the week in shadow, then live: the story the page should tell. */
const SHADOW_DAYS = 3;
/**
 * The day of the week an example file is taken in: a mix of categories every day, and four of
 * the five examples that park (06, 07, 08, 23, 45) on live days.
 */
const dayOf = (i: number) => (i + 4) % 7;

const CellMap = z.record(z.string(), z.object({ text: z.string(), value: z.string().nullable() }));
const TableRows = z.array(z.object({ mailbox: z.string(), category: z.string(), cells: CellMap }));
const ChartSeries = z.record(z.string(), z.array(z.object({ key: z.string(), sum: z.number() })));

describe('the report page in a real browser (headless Chromium on the web role, real Redis, the real pipeline)', () => {
  let redis: TestRedis;
  let config: Config;
  let app: AppContext;
  let workers: RunningWorkers;
  let daemon: Daemon;
  let browser: Browser;
  let page: Page;
  let blocked: string[];
  let origin: string;
  const consoleErrors: string[] = [];
  let now = new Date();
  const decided: Array<{ emailId: EmailId; verdict: 'approve' | 'reject'; afterSeconds: number }> = [];

  /** The report and time series over the page's default window, as `mailroom report --since 7d` computes it. */
  async function expected(): Promise<{ report: MailroomReport; timeline: ReportTimeline }> {
    const until = new Date();
    const window = { since: new Date(until.getTime() - 7 * DAY), until };
    const timeline = new TimelineBuilder(window);
    const report = await buildReport(app, window, (f) => timeline.add(f));
    return { report, timeline: timeline.build() };
  }

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    redis = await startTestRedis();
    config = exampleConfig({
      redis,
      env: { MAILROOM_REVIEWERS: `${LEAD.username}:${LEAD.password}` },
      overrides: { http: { host: '127.0.0.1', port: 0, metrics: 'auth' } },
    });
    // A week the test controls: the pipeline is real, the clock its trail and ledger read is ours.
    app = await createContext(config, logger);
    const clock = () => now;
    app.clock = clock;
    app.audit = createAuditTrail(app.redis, app.keys, clock);
    app.ledger = createEmailLedger(app.redis, app.keys, clock);
    workers = startWorkers(app);
    const files = readdirSync(path.join(EXAMPLES, 'mailbox'))
      .filter((f) => f.endsWith('.eml'))
      .sort();
    const started = Date.now();
    for (let day = 0; day < 7; day++) {
      now = new Date(started - (6 - day) * DAY - 2 * 3_600_000);
      const ids: EmailId[] = [];
      for (const [i, file] of files.entries()) {
        if (dayOf(i) !== day) continue;
        const raw = readFileSync(path.join(EXAMPLES, 'mailbox', file));
        const sub = await submitEmail(app, raw, { kind: 'file', path: file }, undefined, {
          shadow: day < SHADOW_DAYS,
        });
        ids.push(sub.emailId);
      }
      await waitFor(
        `day ${day} at rest`,
        async () =>
          (await app.ledger.getMany(ids)).every(
            (r) => r && !['received', 'triaged', 'planned', 'running'].includes(r.state),
          )
            ? true
            : undefined,
        60_000,
      );
    }
    // Reviewers decide some of the live week's parked plans, after known delays; one stays waiting.
    const all = await app.ledger.list(100);
    const parked = all
      .filter((r) => r.state === 'awaiting_approval')
      .sort((a, b) => a.emailId.localeCompare(b.emailId));
    const plan: Array<['approve' | 'reject', number]> = [
      ['approve', 240],
      ['reject', 1_500],
      ['approve', 3 * 3_600],
    ];
    for (const [k, [verdict, afterSeconds]] of plan.entries()) {
      const record = parked[k];
      if (!record || k >= parked.length - 1) break;
      const parkedAt = (await app.audit.read(record.emailId)).find((e) => e.type === 'parked')?.ts ?? '';
      now = new Date(Date.parse(parkedAt) + afterSeconds * 1000);
      if (verdict === 'approve')
        await approveParked(app, { emailId: record.emailId, reviewer: LEAD.username });
      else
        await rejectParked(app, {
          emailId: record.emailId,
          reviewer: LEAD.username,
          reason: 'handled by phone',
        });
      decided.push({ emailId: record.emailId, verdict, afterSeconds });
    }
    await waitFor(
      'the approved plans to finish',
      async () => {
        const recs = await app.ledger.getMany(
          decided.filter((d) => d.verdict === 'approve').map((d) => d.emailId),
        );
        return recs.every((r) => r && r.state !== 'running' && r.state !== 'awaiting_approval')
          ? true
          : undefined;
      },
      30_000,
    );
    now = new Date();

    daemon = await startDaemon(config, logger, { roles: ['web'] });
    origin = `http://127.0.0.1:${daemon.http?.port ?? 0}`;
    browser = await launchBrowser();
    const signedIn = await loopbackContext(browser, LEAD);
    blocked = signedIn.blocked;
    page = await signedIn.context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await daemon?.close();
    await workers?.close();
    await app?.close();
    await redis?.close();
  });

  it('has the run the test meant: a shadow week start, live days, parked plans decided after known delays', async () => {
    const { report } = await expected();
    expect(report.totals.emails).toBe(45);
    expect(report.totals.shadowed).toBeGreaterThan(0);
    expect(report.totals.shadow.would_send).toBeGreaterThan(0);
    expect(report.totals.completed_automatically).toBeGreaterThan(0);
    expect(decided.length).toBeGreaterThanOrEqual(2);
    expect(report.totals.decisions).toBe(decided.length);
    expect(report.totals.awaiting_approval).toBeGreaterThan(0);
  });

  it('asks for a login exactly as Bull Board does: 401 without one or with a wrong one, for the page, its data and its files', async () => {
    for (const p of [
      '/admin/report',
      '/admin/report.json',
      '/admin/report/assets/chart.umd.min.js',
      '/admin/report/assets/report-page.js',
      '/admin/queues',
    ]) {
      const none = await fetch(`${origin}${p}`);
      expect(none.status, p).toBe(401);
      expect(none.headers.get('www-authenticate')).toContain('Basic');
      const wrong = await fetch(`${origin}${p}`, {
        headers: { authorization: basic(LEAD.username, 'not-the-password') },
      });
      expect(wrong.status, p).toBe(401);
      const right = await fetch(`${origin}${p}`, {
        headers: { authorization: basic(LEAD.username, LEAD.password) },
      });
      expect(right.status, p).toBe(200);
    }
    const res = await fetch(`${origin}/admin/report?since=1y`, {
      headers: { authorization: basic(LEAD.username, LEAD.password) },
    });
    expect(res.status).toBe(400);
  });

  it('draws its three charts with Chart.js served from our own origin, with the figures of the report', async () => {
    const res = await page.goto(`${origin}/admin/report`);
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toBe(REPORT_CSP);
    await page.locator('body[data-charts~="decisions"]').waitFor({ timeout: 15_000 });
    const want = await expected();

    // Chart.js's own instances, read back: each series sums to the report's figure.
    const series = ChartSeries.parse(
      await page.evaluate(`Object.fromEntries(['outcomes', 'categories', 'decisions'].map((id) => {
        const chart = Chart.getChart('chart-' + id);
        return [id, chart ? chart.data.datasets.map((d) => ({ key: d.mailroomKey, sum: d.data.reduce((a, b) => a + b, 0) })) : []];
      }))`),
    );
    const sums = (id: string) => Object.fromEntries((series[id] ?? []).map((s) => [s.key, s.sum]));
    const t = want.report.totals;
    const states = await app.ledger.countByState();
    expect(sums('outcomes')).toEqual(
      Object.fromEntries(
        Object.entries({
          completed_automatically: t.completed_automatically,
          completed_after_approval: (states.completed ?? 0) - t.completed_automatically,
          awaiting_approval: t.awaiting_approval,
          rejected: t.rejected,
          escalated: t.escalated,
          quarantined: t.quarantined,
          shadowed: t.shadowed,
        }).filter(([, n]) => n > 0),
      ),
    );
    const byCategory: Record<string, number> = {};
    for (const box of want.report.mailboxes)
      for (const c of box.categories) byCategory[c.category] = (byCategory[c.category] ?? 0) + c.row.emails;
    expect(sums('categories')).toEqual(byCategory);
    expect(sums('decisions')).toEqual({ decisions: t.decisions });
    // The time series spreads the week: emails on each of the seven days.
    expect(
      want.timeline.buckets.filter((b) => Object.values(b.outcomes).some((n) => n > 0)).length,
    ).toBeGreaterThanOrEqual(6);

    // Drawn, not only configured: every canvas holds coloured pixels.
    const inked = z.array(z.number()).parse(
      await page.evaluate(`['outcomes', 'categories', 'decisions'].map((id) => {
        const canvas = document.getElementById('chart-' + id);
        const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
        let n = 0;
        for (let i = 0; i < data.length; i += 4) {
          const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
          if (a > 0 && Math.max(r, g, b) - Math.min(r, g, b) > 40) n++;
        }
        return n;
      })`),
    );
    for (const n of inked) expect(n).toBeGreaterThan(500);
    // What a lead sees first (docs/report-page.png is one of these), and the whole page.
    await page.screenshot({ path: path.join(ARTIFACTS, 'report-page.png') });
    await page.screenshot({ path: path.join(ARTIFACTS, 'report-page-full.png'), fullPage: true });
  });

  it('shows the figures `mailroom report` computes, per mailbox and category, and the shadow would-dos', async () => {
    const { report } = await expected();
    const rowOf = (mailbox: string, category: string): ReportRow | undefined => {
      if (mailbox === '*') return report.totals;
      const box = report.mailboxes.find((m) => m.mailbox === mailbox);
      return category === '*' ? box?.row : box?.categories.find((c) => c.category === category)?.row;
    };
    const read = (table: string) =>
      page.evaluate(`[...document.querySelectorAll('table#${table} tbody tr')].map((tr) => ({
        mailbox: tr.dataset.mailbox, category: tr.dataset.category,
        cells: Object.fromEntries([...tr.querySelectorAll('td[data-key]')].map((td) => [td.dataset.key, { text: td.textContent, value: td.dataset.value ?? null }])),
      }))`);
    const outcomes = TableRows.parse(await read('outcomes'));
    // The totals, each mailbox and each of its categories: one row each.
    expect(outcomes).toHaveLength(1 + report.mailboxes.reduce((n, m) => n + 1 + m.categories.length, 0));
    for (const r of outcomes) {
      const row = rowOf(r.mailbox, r.category);
      expect(row, `${r.mailbox}/${r.category}`).toBeDefined();
      if (!row) continue;
      for (const key of [
        'emails',
        'completed_automatically',
        'parked',
        'approved',
        'rejected',
        'awaiting_approval',
        'escalated',
        'quarantined',
        'shadowed',
      ] as const) {
        expect(r.cells[key]?.text, `${r.mailbox}/${r.category} ${key}`).toBe(String(row[key]));
      }
      expect(r.cells.replans?.value).toBe(String(row.replans));
      expect(r.cells['plan_cache.hit_rate']?.value).toBe(
        row.plan_cache.hit_rate === null ? '' : String(row.plan_cache.hit_rate),
      );
      expect(r.cells.median_decision_seconds?.value).toBe(
        row.median_decision_seconds === null ? '' : String(row.median_decision_seconds),
      );
    }
    const shadow = TableRows.parse(await read('shadow'));
    expect(shadow.length).toBeGreaterThan(1);
    for (const r of shadow) {
      const s = rowOf(r.mailbox, r.category)?.shadow;
      expect(s).toBeDefined();
      if (!s) continue;
      expect(r.cells['shadow.emails']?.text).toBe(String(s.emails));
      expect(r.cells['shadow.would_send']?.text).toBe(String(s.would_send));
      expect(r.cells['shadow.auto_approved']?.value).toBe(String(s.auto_approved));
      for (const o of ['complete', 'escalate', 'park'] as const)
        expect(r.cells[`shadow.would.${o}`]?.text).toBe(String(s.would[o] ?? 0));
      expect(r.cells['shadow.effects']?.text).toBe(
        Object.entries(s.effects)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ') || '–',
      );
    }
    const total = shadow.find((r) => r.mailbox === '*');
    expect(Number(total?.cells['shadow.would_send']?.text)).toBeGreaterThan(0);
    const tile = await page.locator('#totals [data-key="emails"] .figure').textContent();
    expect(tile).toBe(String(report.totals.emails));
    // Where each email stands now, once: the outcome tiles add up to the emails (a parked plan
    // later escalated is not counted as parked and escalated both).
    const standing = await page.locator('#totals [data-key^="now."]').evaluateAll((tiles) => tiles.map((t) => Number(t.getAttribute('data-value'))));
    expect(standing.length).toBeGreaterThanOrEqual(7);
    expect(standing.reduce((a, b) => a + b, 0)).toBe(report.totals.emails);
    expect(await page.locator('#totals').textContent()).not.toMatch(/replan|cache|parked/i);
  });

  it('broke no rule of its CSP and reached no host but ours; an injected inline script does not run', async () => {
    expect(consoleErrors).toEqual([]);
    expect([...new Set(blocked)]).toEqual([]);
    const ran = await page.evaluate(`(() => {
      const s = document.createElement('script');
      s.textContent = 'window.__inline = 1';
      document.body.appendChild(s);
      return typeof window.__inline;
    })()`);
    expect(ran).toBe('undefined');
  });

  it("is linked from Bull Board's header menu", async () => {
    await page.goto(`${origin}/admin/queues`);
    // Bull Board lists its `miscLinks` in a menu behind the last button of its header.
    const actions = page.locator('ul[class^="actions-"] > li');
    await actions.last().waitFor({ timeout: 15_000 });
    await actions.last().locator('button').click();
    const entry = page
      .getByRole('menuitem', { name: 'Report' })
      .or(page.getByRole('link', { name: 'Report' }));
    await entry.first().click();
    await page.waitForURL(`${origin}/admin/report`);
    await page.locator('body[data-charts~="decisions"]').waitFor();
  });
});
