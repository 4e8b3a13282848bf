import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../services/services.js';
import { MailroomError } from '../kernel/errors.js';
import { refundHistory } from '../executor/effects.js';
import { approvalJobId } from '../executor/review-ids.js';
import { readReview, type ReviewState } from '../executor/review-record.js';
import { EmailId, PlanId } from '../kernel/ids.js';
import { boardSectionsOf } from '../queues/approval-job.js';
import { approveParked, rejectParked } from '../run/decisions.js';
import { caseHistory } from '../run/case-history.js';
import { secure } from './report-page.js';
import { REVIEW_ASSETS, REVIEW_PATH, renderNoReview, renderReviewPage, reviewUrl } from './review-html.js';

const Params = z.object({ emailId: EmailId });
const DecisionForm = z.object({
  seq: z.coerce.number().int().min(1),
  token: z.string().min(1).max(200),
  reason: z.string().max(2_000).optional(),
});

/** A decision form is small; anything larger is not ours. */
const FORM_LIMIT_BYTES = 8 * 1024;

/**
 * Binds a decision form to the reviewer it was shown to and the park it decides, so a page on
 * another site cannot make a signed-in browser approve (basic auth is sent with any request).
 * The key lives as long as the process; a form from before a restart asks to reload.
 */
function formTokens() {
  const key = randomBytes(32);
  const sign = (reviewer: string, emailId: string, seq: number) => createHmac('sha256', key).update(`${reviewer}\n${emailId}\n${seq}`).digest('base64url');
  return {
    sign,
    check(reviewer: string, emailId: string, seq: number, token: string): boolean {
      const want = Buffer.from(sign(reviewer, emailId, seq));
      const got = Buffer.from(token);
      return want.length === got.length && timingSafeEqual(want, got);
    },
  };
}

/** The request came from a page of this server (browsers send Origin with every form POST). */
function sameOrigin(req: FastifyRequest): boolean {
  const origin = req.headers.origin;
  const site = req.headers['sec-fetch-site'];
  // A browser that hides the origin ("null", under a no-referrer policy) still says where the request came from.
  if (origin === undefined || origin === 'null') return site === undefined ? origin === undefined : site === 'same-origin';
  return URL.canParse(origin) && new URL(origin).host === req.headers.host;
}

/** The review page's headers: Mailroom's own, with the origin sent on its forms (same origin only). */
const reviewHeaders = (reply: FastifyReply, cache: string) => secure(reply, cache).header('referrer-policy', 'same-origin');

/**
 * Mounts the review page at `/admin/review/<emailId>`: what approving does, stated in full, with
 * Approve and Reject-with-a-reason forms that become Mailroom's decisions under the signed-in
 * reviewer's name, and the decided state afterwards. Bull Board links each parked plan here.
 * Decisions read Mailroom's review record, never the board's job data.
 */
export function reviewPagePlugin(app: AppContext, options: { boardPath: string }) {
  const css = readFileSync(path.join(import.meta.dirname, 'assets', 'review-page.css'));
  const tokens = formTokens();
  return async (server: FastifyInstance): Promise<void> => {
    server.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: FORM_LIMIT_BYTES }, (_req, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(typeof body === 'string' ? body : body.toString('utf8'))));
    });

    async function stateOf(emailId: EmailId): Promise<ReviewState | null> {
      const planId = PlanId.safeParse((await app.ledger.get(emailId))?.planId);
      return planId.success ? readReview(app, planId.data) : null;
    }

    async function page(req: FastifyRequest, reply: FastifyReply, emailId: EmailId, problem?: string): Promise<FastifyReply> {
      const state = await stateOf(emailId);
      if (!state) return reviewHeaders(reply, 'no-store').code(404).type('text/html; charset=utf-8').send(renderNoReview(emailId, options.boardPath));
      const job = await app.queues.get('approval').getJob(approvalJobId(state.record.planId, state.record.seq));
      const ledger = await app.ledger.get(emailId);
      const html = renderReviewPage({
        state,
        email: ledger ? { state: ledger.state, reason: ledger.reason } : null,
        // What an order has had refunded matters before the decision; after it, it counts this refund too.
        notes: state.status === 'pending' ? await refundHistory(app, state.record.effects) : new Map(),
        board: job ? boardSectionsOf(job.data) : null,
        caseHistory: await caseHistory(app, emailId),
        boardPath: options.boardPath,
        token: tokens.sign(req.reviewer, emailId, state.record.seq),
        problem,
      });
      return reviewHeaders(reply, 'no-store').code(problem ? 409 : 200).type('text/html; charset=utf-8').send(html);
    }

    server.get(`${REVIEW_ASSETS}/review-page.css`, async (_req, reply) => reviewHeaders(reply, 'private, max-age=300').type('text/css; charset=utf-8').send(css));

    server.get<{ Params: { emailId: string } }>(`${REVIEW_PATH}/:emailId`, async (req, reply) => {
      const params = Params.safeParse(req.params);
      if (!params.success) return reviewHeaders(reply, 'no-store').code(404).type('text/html; charset=utf-8').send(renderNoReview(req.params.emailId.slice(0, 40), options.boardPath));
      return page(req, reply, params.data.emailId);
    });

    for (const verdict of ['approve', 'reject'] as const) {
      server.post<{ Params: { emailId: string } }>(`${REVIEW_PATH}/:emailId/${verdict}`, async (req, reply) => {
        const params = Params.safeParse(req.params);
        const form = DecisionForm.safeParse(req.body ?? {});
        if (!params.success || !form.success) return reviewHeaders(reply, 'no-store').code(400).type('text/plain; charset=utf-8').send('not a decision form\n');
        const { emailId } = params.data;
        const { seq, token } = form.data;
        if (!sameOrigin(req) || !tokens.check(req.reviewer, emailId, seq, token)) {
          app.logger.warn({ emailId, reviewer: req.reviewer, verdict }, 'review decision refused: not from this server’s page');
          return page(req, reply, emailId, 'This form is out of date or was not sent from this page (after a restart, reload the page). Nothing was decided.');
        }
        const reason = form.data.reason?.trim() ?? '';
        if (verdict === 'reject' && !reason) return page(req, reply, emailId, 'A rejection needs a reason. Nothing was decided.');
        try {
          if (verdict === 'approve') await approveParked(app, { emailId, reviewer: req.reviewer, seq });
          else await rejectParked(app, { emailId, reviewer: req.reviewer, seq, reason });
        } catch (err) {
          if (err instanceof MailroomError && err.code === 'INPUT_NOT_FOUND') return page(req, reply, emailId, `Not decided: ${err.message}.`);
          throw err;
        }
        // Post/redirect/get: a reload shows the decided review, and never decides twice.
        return reviewHeaders(reply, 'no-store').redirect(reviewUrl(emailId), 303);
      });
    }
  };
}
