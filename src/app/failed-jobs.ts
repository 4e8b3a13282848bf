import { UnrecoverableError, type Job } from 'bullmq';
import type { AppContext } from '../services/services.js';
import { MailroomError, toMailroomError } from '../kernel/errors.js';
import { emailIdOfJob, settleForGood, type WorkQueue } from '../run/settle.js';


/** Whether BullMQ has given up on this job: no attempts left, or failed without a retry (stalled too often, unrecoverable). */
export function failedForGood(job: Job, err: unknown): boolean {
  return job.attemptsMade >= (job.opts.attempts ?? 1) || Boolean(job.deferredFailure) || err instanceof UnrecoverableError;
}

/**
 * Brings the email of a job BullMQ gave up on to rest: the dead-letter queue and `quarantined`
 * with the reason. Processors settle every failure they see themselves (src/run/settle.ts); this
 * covers what they cannot see — a job that killed its worker more than `maxStalledCount` times (a
 * poison job, which BullMQ fails without running it again) or a last attempt whose own settling
 * failed. Idempotent: an email already at rest is left alone.
 */
export async function settleFailedJob(app: AppContext, queue: WorkQueue, job: Job, err: unknown): Promise<boolean> {
  const cause = job.deferredFailure
    ? new MailroomError('JOB_STALLED', `the ${queue} job stopped its worker ${job.stalledCounter} time(s) (a crash or a kill each time); not retried again`)
    : toMailroomError(err);
  return settleForGood(app, queue, emailIdOfJob(job.data), cause, job);
}

/**
 * Settles the emails of jobs that failed for good while no process could (e.g. it died right
 * after BullMQ failed the job). Run when a worker starts; reads at most `limit` recent failures.
 */
export async function sweepFailedJobs(app: AppContext, queue: WorkQueue, limit = 1_000): Promise<number> {
  let settled = 0;
  const failed = await app.queues.get(queue).getFailed(0, limit - 1);
  for (const job of failed) {
    if (await settleFailedJob(app, queue, job, new Error(job.failedReason))) settled += 1;
  }
  return settled;
}
