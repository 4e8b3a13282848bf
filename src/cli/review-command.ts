import type { Config } from '../config.js';
import { createContext } from '../context.js';
import { MailroomError } from '../errors.js';
import { approveParked, rejectParked } from '../executor/review.js';
import { EmailId } from '../ids.js';
import type { Logger } from '../logger.js';
import { ApprovalJob } from '../queues/catalog.js';

function emailIdArg(id: string): EmailId {
  const parsed = EmailId.safeParse(id);
  if (!parsed.success) throw new MailroomError('INPUT_NOT_FOUND', `"${id}" is not an email id (em_ and 16 hex digits)`);
  return parsed.data;
}

/** `mailroom pending`: the plans waiting for a human, oldest first. */
export async function runPending(config: Config, logger: Logger, limit: number): Promise<ApprovalJob[]> {
  const app = await createContext(config, logger);
  try {
    const jobs = await app.queues.get('approval').getJobs(['waiting', 'delayed'], 0, limit - 1, true);
    return jobs.map((j) => ApprovalJob.safeParse(j.data)).flatMap((r) => (r.success ? [r.data] : []));
  } finally {
    await app.close();
  }
}

/** `mailroom approve|reject <emailId> --by NAME`: a reviewer's decision, audited with the name. */
export async function runReview(
  config: Config,
  logger: Logger,
  decision: { verdict: 'approve' | 'reject'; emailId: string; reviewer: string; reason?: string },
): Promise<void> {
  const emailId = emailIdArg(decision.emailId);
  if (!decision.reviewer.trim()) throw new MailroomError('CONFIG_INVALID', '--by needs the reviewer’s name');
  const app = await createContext(config, logger);
  try {
    if (decision.verdict === 'approve') await approveParked(app, { emailId, reviewer: decision.reviewer });
    else await rejectParked(app, { emailId, reviewer: decision.reviewer, reason: decision.reason ?? '' });
  } finally {
    await app.close();
  }
}
