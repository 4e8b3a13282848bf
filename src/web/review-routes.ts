import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../services/services.js';
import { MailroomError } from '../kernel/errors.js';
import { parseApprovalJobId } from '../executor/review-ids.js';
import { approveParked, rejectParked } from '../run/decisions.js';
import { readReview } from '../executor/review-record.js';
import { QueueCatalog } from '../queues/catalog.js';
import { REVIEW_DECISION } from './review-html.js';

/** The reason a rejection from the dashboard carries (its remove button asks for none). */
export const DASHBOARD_REJECT_REASON = 'rejected in Bull Board';

function refuse(reply: FastifyReply, status: number, error: string): FastifyReply {
  return reply.code(status).send({ error, message: error });
}

/**
 * A dashboard is not an authority. Every request that is not a read is refused here, before
 * Bull Board sees it, except two on the approval queue, which become Mailroom's own decisions
 * with the signed-in reviewer's name: promote = approve, remove = reject. Neither reads the
 * job's data; the job id names the plan and its park, and the rest comes from the review record.
 */
export function guardDashboardWrites(server: FastifyInstance, app: AppContext, base: string): void {
  const decision = new RegExp(`^${base}/api/queues/([^/?#]+)/([^/?#]+)/(promote|clean)$`);
  server.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if (req.method === 'GET' || req.method === 'HEAD') return;
    const path = req.url.split('?')[0] ?? '';
    // The review page's own forms (src/web/review-page.ts) check their token and decide there.
    if (req.method === 'POST' && REVIEW_DECISION.test(path)) return;
    const m = req.method === 'PUT' ? decision.exec(path) : null;
    const queue = m?.[1] ? safeDecode(m[1]) : null;
    if (!m || queue !== QueueCatalog.approval.name) {
      app.logger.warn({ method: req.method, path: path.slice(0, 200), reviewer: req.reviewer }, 'dashboard write refused');
      return refuse(reply, 403, 'Mailroom allows only approve (promote) and reject (remove) on the approval queue');
    }
    const ids = parseApprovalJobId(safeDecode(m[2] ?? '') ?? '');
    const review = ids ? await readReview(app, ids.planId) : null;
    if (!ids || !review) return refuse(reply, 404, 'no parked plan with this job id');
    try {
      const reviewer = req.reviewer;
      const { emailId } = review.record;
      if (m[3] === 'promote') await approveParked(app, { emailId, reviewer, seq: ids.seq });
      else await rejectParked(app, { emailId, reviewer, seq: ids.seq, reason: DASHBOARD_REJECT_REASON });
      return reply.code(204).send();
    } catch (err) {
      if (err instanceof MailroomError && err.code === 'INPUT_NOT_FOUND') return refuse(reply, 409, err.message);
      throw err;
    }
  });
}

function safeDecode(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}
