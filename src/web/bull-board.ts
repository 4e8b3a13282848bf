import { createBullBoard } from '@bull-board/api';
import type { QueueJobJson } from '@bull-board/api/typings/app';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../services/services.js';
import { formatAge } from '../executor/review-view.js';
import { ApprovalJob } from '../queues/approval-job.js';
import { QueueCatalog, type QueueKey } from '../queues/catalog.js';
import { REPORT_PATH } from './report-html.js';
import { REVIEW_PATH, reviewUrl } from './review-html.js';
import { guardDashboardWrites } from './review-routes.js';

/** Where Bull Board lives on the web role's server. */
export const BOARD_PATH = '/admin/queues';

const DESCRIPTIONS: Record<QueueKey, string> = {
  ingest: 'Emails received, waiting to be parsed and triaged.',
  plan: 'Triaged emails waiting for a plan.',
  approval:
    'Plans waiting for a human. Open a job\'s review (its "Review and decide" link): it states what approving does, message by message, ' +
    'and has Approve and Reject-with-a-reason. Promote (↰) and Remove (the bin) here approve and reject too. Every decision is recorded with your name.',
  steps: 'Steps of approved or automatic plans, run one at a time.',
  notify: 'Notices to the reviewers that a plan waits (webhook), retried while the receiver fails.',
  deadLetter: 'Mail or jobs that could not be handled, with the reason.',
};

/** The approval job's data with its age filled in at display time. */
function withAge(data: unknown): unknown {
  const parsed = ApprovalJob.safeParse(data);
  if (!parsed.success) return data;
  const parked = Date.parse(parsed.data.time.parked);
  return { ...parsed.data, time: { ...parsed.data.time, age: formatAge(Date.now() - parked) } };
}

/** Each parked plan links to its review page (the job's data names the email; a job we did not write links nowhere useful). */
function reviewLink(job: QueueJobJson): { displayText: string; href: string } {
  const parsed = ApprovalJob.safeParse(job.data);
  return { displayText: 'Review and decide', href: parsed.success ? reviewUrl(parsed.data.ids.emailId) : REVIEW_PATH };
}

/**
 * Bull Board's page asks fonts.googleapis.com for its fonts; the daemon's users may be offline and
 * the board must not tell a third party who reviews when. The page falls back to system fonts.
 */
const REMOTE_FONTS = /<link[^>]+href="https:\/\/fonts\.(?:googleapis|gstatic)\.com[^>]*>\s*/g;

/**
 * Bull Board offers change-delay, duplicate and edit-data on every job; Mailroom's guard refuses
 * them (a review is decided, never edited), so the page does not show buttons that only fail.
 */
const HIDDEN_ACTIONS = '<style>button:has(svg.lucide-clock),button:has(svg.lucide-files),button:has(svg.lucide-pencil){display:none!important}</style>';

/** Bull Board's page as Mailroom serves it: no third-party fonts, no buttons the guard refuses. */
function boardPage(server: FastifyInstance): void {
  server.addHook('onSend', async (req, reply, payload) => {
    if (!req.url.startsWith(BOARD_PATH) || typeof payload !== 'string') return payload;
    if (!String(reply.getHeader('content-type') ?? '').startsWith('text/html')) return payload;
    return payload.replace(REMOTE_FONTS, '').replace('</head>', `${HIDDEN_ACTIONS}</head>`);
  });
}

/**
 * Mounts Bull Board at {@link BOARD_PATH} with every queue. Only the approval queue offers
 * actions, and only two of them pass: promote (approve) and remove (reject), which our own guard
 * turns into Mailroom's decisions; every other write is refused before Bull Board sees it.
 */
export function bullBoardPlugin(app: AppContext) {
  return async (server: FastifyInstance): Promise<void> => {
    guardDashboardWrites(server, app, BOARD_PATH);
    boardPage(server);
    const serverAdapter = new FastifyAdapter();
    serverAdapter.setBasePath(BOARD_PATH);
    const adapters = (Object.keys(QueueCatalog) as QueueKey[]).map((key) => {
      const adapter = new BullMQAdapter(app.queues.get(key), {
        readOnlyMode: key !== 'approval',
        allowRetries: false,
        description: DESCRIPTIONS[key],
        displayName: key === 'approval' ? 'approval — plans waiting for a human' : QueueCatalog[key].name,
        ...(key === 'approval' ? { externalJobUrl: reviewLink } : {}),
      });
      if (key === 'approval') adapter.setFormatter('data', withAge);
      return adapter;
    });
    createBullBoard({
      queues: adapters,
      serverAdapter,
      options: { uiConfig: { boardTitle: 'Mailroom', hideDocsLink: true, miscLinks: [{ text: 'Report', url: REPORT_PATH }], jobDetails: { defaultTab: 'Data' }, showWorkers: false } },
    });
    await server.register(serverAdapter.registerPlugin(), { prefix: BOARD_PATH });
  };
}
