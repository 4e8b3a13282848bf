import type { Job } from 'bullmq';
import { z } from 'zod';
import { RESTING_STATES } from '../audit/email-ledger.js';
import type { AppContext } from '../services/services.js';
import { MailroomError, toMailroomError } from '../kernel/errors.js';
import { EmailId } from '../kernel/ids.js';
import { lazyChild, type Logger } from '../kernel/logger.js';
import { hasAttemptsLeft, QueueCatalog, RerunJob, retryDelayMs, type JobData, type QueueKey } from '../queues/catalog.js';
import { failureReason, quarantine } from './rest.js';

/** The worker queues whose jobs carry an email and whose failures must settle it. */
export const WORK_QUEUES = ['ingest', 'plan', 'steps'] as const satisfies readonly QueueKey[];
export type WorkQueue = (typeof WORK_QUEUES)[number];

/** Whether a failed job of this queue settles an email (the dead-letter route), or settles none. */
export function isWorkQueue(queue: QueueKey): queue is WorkQueue {
  return (WORK_QUEUES as readonly QueueKey[]).includes(queue);
}

/** The email a job names, if its data names one at all (read even when the rest does not parse). */
export function emailIdOfJob(data: unknown): EmailId | null {
  const named = z.object({ emailId: EmailId }).safeParse(data);
  return named.success ? named.data.emailId : null;
}

/**
 * Brings the email of a job that failed for good to rest: `quarantined` with the reason, in the
 * dead-letter queue. An email already at rest is left alone (false); a job naming no email is
 * dead-lettered on its own.
 */
export async function settleForGood(app: AppContext, queue: WorkQueue, emailId: EmailId | null, cause: MailroomError, job: Pick<Job, 'id' | 'data'>): Promise<boolean> {
  if (emailId) {
    const rec = await app.ledger.get(emailId);
    if (rec && RESTING_STATES.includes(rec.state)) return false;
  }
  app.logger.error({ queue, jobId: job.id, emailId, code: cause.publicCode }, 'job failed for good; dead-lettered');
  await quarantine(app, emailId, queue, cause, null, rerunOf(queue, job));
  return true;
}

/** The job as a dead letter keeps it to run again; none when its data does not parse. */
export function rerunOf(queue: WorkQueue, job: Pick<Job, 'id' | 'data'>): RerunJob | undefined {
  const rerun = RerunJob.safeParse({ queue, id: job.id, data: job.data });
  return rerun.success ? rerun.data : undefined;
}

/** What a worker does with a job of its queue: run it, and settle it when it fails for good. */
export interface JobHandler<K extends WorkQueue> {
  run(data: JobData<K>, log: Logger): Promise<void>;
  /** The job failed for good (not retryable, or its last attempt): bring the email to rest. */
  failed(data: JobData<K>, err: MailroomError, log: Logger): Promise<void>;
  /** The job failed and BullMQ will try it again after `retryInMs`: say so, with the cause. */
  retrying?(data: JobData<K>, err: MailroomError, retryInMs: number, log: Logger): Promise<void>;
}

/**
 * The one way a worker runs a job of an email's run: parse its data, run it, and on failure
 * throw for a retry while one is left and the error is retryable, else settle it. A job whose
 * data does not match its schema is not run and not retried: it goes to the dead-letter queue
 * with the reason, and the email it names (if any, and not at rest) is quarantined.
 */
export async function handleJob<K extends WorkQueue>(app: AppContext, queue: K, job: Job, handler: JobHandler<K>): Promise<void> {
  const parsed = QueueCatalog[queue].schema.safeParse(job.data);
  if (!parsed.success) {
    const emailId = emailIdOfJob(job.data);
    // Field paths are ours (the queue's schema), clipped: a job edited by hand may carry anything.
    const where = [...new Set(parsed.error.issues.map((i) => i.path.map(String).join('.').slice(0, 40) || '(root)'))].slice(0, 5).join(', ');
    const cause = new MailroomError('JOB_DATA_INVALID', `${queue} job ${String(job.id).slice(0, 80)}: data does not match its schema (at ${where})`);
    await settleForGood(app, queue, emailId, cause, job);
    return;
  }
  // The schema is this queue's own: its output is this queue's job data.
  const data = parsed.data as JobData<K>;
  // Made only if something is logged: most jobs log nothing.
  const log = lazyChild(app.logger, { component: COMPONENT[queue], emailId: data.emailId, jobId: job.id });
  try {
    await handler.run(data, log);
  } catch (err) {
    const e = toMailroomError(err);
    if (e.retryable && hasAttemptsLeft(job)) {
      const retryInMs = retryDelayMs(job);
      log.warn({ code: e.publicCode, reason: failureReason(e), attempt: job.attemptsMade + 1, retryInMs }, `${queue} job failed; will retry`);
      await handler.retrying?.(data, e, retryInMs, log);
      throw e;
    }
    if (!(err instanceof MailroomError)) log.error({ err }, `${queue} job failed`);
    await handler.failed(data, e, log);
  }
}

const COMPONENT: Record<WorkQueue, string> = { ingest: 'ingest', plan: 'planner', steps: 'executor' };
