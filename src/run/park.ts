import { type AppContext } from '../services/services.js';
import { type EmailId } from '../kernel/ids.js';
import type { StoredPlan } from '../model/stored-plan.js';
import { queueParkedNotice } from '../executor/notify.js';
import { openReview } from '../executor/review.js';
import { recordSuggestions } from '../executor/suggest.js';
import { shadowed } from './rest.js';

/** Parked: a plan waits for a human at its gate (or, in shadow, ends `shadowed` instead). */

/**
 * Parked: the plan waits for a human at step `resumeAt` (the review record and the approval job
 * are src/executor/review.ts's `openReview`); a shadow plan ends `shadowed` instead.
 */
export async function park(
  app: AppContext,
  emailId: EmailId,
  plan: Pick<StoredPlan, 'planId' | 'shadow' | 'autonomy'>,
  actor: string,
  reasons: string[],
  resumeAt: number,
): Promise<void> {
  const { planId } = plan;
  if (plan.shadow) {
    await shadowed(app, emailId, planId, 'park', reasons);
    return;
  }
  const { record, clipped } = await openReview(app, emailId, planId, reasons, resumeAt);
  // Autonomy `suggest`: what the plan would do is recorded as would-do effects for the reviewer.
  await recordSuggestions(app, emailId, planId, plan, record.effects);
  await app.ledger.setState(emailId, 'awaiting_approval', { reason: clipped.join('; ').slice(0, 300) });
  await app.audit.append(emailId, 'parked', actor, {
    planId,
    reasons: clipped,
    resumeAt,
    seq: record.seq,
    digest: record.digest,
    deadline: record.deadline,
  });
  await queueParkedNotice(app, { emailId, planId, seq: record.seq });
  app.logger.info({ emailId, planId, seq: record.seq }, 'plan parked for review');
}
