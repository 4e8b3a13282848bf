import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { buildReport } from '../report/report.js';
import { parseDuration } from '../kernel/duration.js';
import { TimelineBuilder } from '../report/report-timeline.js';
import type { AppContext } from '../services/services.js';
import { REPORT_ASSETS, REPORT_PATH, renderReportPage } from './report-html.js';

/**
 * Scripts, styles and data from our own origin only; no inline script or style, no frames, no
 * form or base elsewhere. Chart.js sizes its canvas through the CSSOM, which `style-src` allows.
 */
export const REPORT_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** The longest window the page reads (a year of daily buckets is already a long page). */
const MAX_WINDOW_MS = 366 * 86_400_000;

const ReportQuery = z.object({ since: z.string().max(16).default('7d') });

/**
 * The files the page loads, read once at start: Chart.js from its npm package (the daemon may
 * have no Internet, and the CSP allows no other origin), our page script and style.
 */
function loadAssets(): Map<string, { type: string; body: Buffer }> {
  const chartDir = path.dirname(createRequire(import.meta.url).resolve('chart.js'));
  const own = path.join(import.meta.dirname, 'assets');
  return new Map([
    [
      'chart.umd.min.js',
      { type: 'text/javascript; charset=utf-8', body: readFileSync(path.join(chartDir, 'chart.umd.min.js')) },
    ],
    [
      'report-page.js',
      { type: 'text/javascript; charset=utf-8', body: readFileSync(path.join(own, 'report-page.js')) },
    ],
    [
      'report-page.css',
      { type: 'text/css; charset=utf-8', body: readFileSync(path.join(own, 'report-page.css')) },
    ],
  ]);
}

/** The headers of every page Mailroom serves itself (the report, the review): its CSP, no sniffing, no referrer. */
export function secure(reply: FastifyReply, cache: string): FastifyReply {
  return reply
    .header('content-security-policy', REPORT_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', cache);
}

/**
 * Mounts `mailroom report` as a page at {@link REPORT_PATH} (`?since=7d`, any duration the CLI
 * takes up to a year), the same figures as JSON at `REPORT_PATH.json`, and the page's files.
 * Sign-in is the server's own hook, the same as Bull Board's: nothing here is reachable without it.
 */
export function reportPagePlugin(
  app: Pick<AppContext, 'redis' | 'keys' | 'ledger' | 'clock'>,
  options: { boardPath: string },
) {
  const assets = loadAssets();
  return async (server: FastifyInstance): Promise<void> => {
    /** The report and its time series from one pass over the window, or a 400 for a bad `since`. */
    async function compute(query: unknown, reply: FastifyReply) {
      const parsed = ReportQuery.safeParse(query ?? {});
      const ms = parsed.success ? parseDuration(parsed.data.since) : null;
      if (!parsed.success || ms === null || ms <= 0 || ms > MAX_WINDOW_MS) {
        void secure(reply, 'no-store')
          .code(400)
          .type('text/plain; charset=utf-8')
          .send('since: a duration such as 24h, 7d or 2w, at most a year\n');
        return null;
      }
      const until = app.clock();
      const window = { since: new Date(until.getTime() - ms), until };
      const timeline = new TimelineBuilder(window);
      const report = await buildReport(app, window, (facts) => timeline.add(facts));
      return { since: parsed.data.since, report, timeline: timeline.build() };
    }

    server.get(REPORT_PATH, async (req, reply) => {
      const result = await compute(req.query, reply);
      if (!result) return reply;
      return secure(reply, 'no-store')
        .type('text/html; charset=utf-8')
        .send(renderReportPage({ ...result, boardPath: options.boardPath }));
    });
    server.get(`${REPORT_PATH}.json`, async (req, reply) => {
      const result = await compute(req.query, reply);
      if (!result) return reply;
      return secure(reply, 'no-store').send({ report: result.report, timeline: result.timeline });
    });
    server.get<{ Params: { name: string } }>(`${REPORT_ASSETS}/:name`, async (req, reply) => {
      const asset = assets.get(req.params.name);
      if (!asset) return secure(reply, 'no-store').code(404).send({ error: 'not found' });
      return secure(reply, 'private, max-age=300').type(asset.type).send(asset.body);
    });
  };
}
