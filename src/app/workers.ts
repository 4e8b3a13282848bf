import { Worker, type Job } from 'bullmq';
import type { AppContext } from '../services/services.js';
import { HANDLERS, ROLES, type Role } from '../run/handlers.js';
import { MAX_STALLED_COUNT, QueueCatalog, type QueueKey } from '../queues/catalog.js';
import { failedForGood, settleFailedJob, sweepFailedJobs } from './failed-jobs.js';
import { isWorkQueue, type WorkQueue } from '../run/settle.js';
import { watchFetching } from './fetch-watchdog.js';

export interface RunningWorkers {
  workers: Worker[];
  /**
   * Stops taking jobs and lets running ones finish (BullMQ's close), within the caller's bound.
   * `force` does not wait: running jobs are handed back (BullMQ sees them stalled and re-runs them).
   */
  close(force?: boolean): Promise<void>;
}

/** Starts the BullMQ workers of the given roles against the shared context. */
export function startWorkers(
  app: AppContext,
  roles: readonly Role[] = ROLES,
  options: {
    /** Called once when a worker stops fetching while its queue has work (see fetch-watchdog.ts). @defaultValue log only */
    onStuck?: (queue: string) => void;
  } = {},
): RunningWorkers {
  const stopWatching: Array<() => void> = [];
  // A crashed worker's job is re-delivered once its lock lapses and the stalled check sees it.
  const common = {
    connection: app.queues.connection,
    prefix: app.config.prefix,
    lockDuration: app.config.lockDurationMs,
    stalledInterval: app.config.lockDurationMs,
    maxStalledCount: MAX_STALLED_COUNT,
  };
  const make = (queue: WorkQueue, fn: (job: Job) => Promise<void>, concurrency: number) => {
    const name = QueueCatalog[queue].name;
    const w = new Worker(name, fn, { ...common, concurrency });
    w.on('error', (err) => app.logger.error({ err, queue: name }, 'worker error'));
    // Processors settle every email themselves; a job that still fails for good stalled too often
    // (a poison job) or could not settle (e.g. Redis gone): dead-letter it and quarantine its email.
    w.on('failed', (job, err) => {
      if (job && failedForGood(job, err)) {
        settleFailedJob(app, queue, job, err).catch((e: unknown) =>
          app.logger.error(
            { err: e, queue: name, jobId: job.id },
            'could not dead-letter a failed job; the next start sweeps it',
          ),
        );
      }
    });
    stopWatching.push(
      watchFetching(w, app.queues.get(queue), {
        concurrency,
        onStuck: () => {
          app.logger.error({ queue: name }, 'worker stopped taking jobs although jobs wait');
          options.onStuck?.(name);
        },
      }),
    );
    // What failed for good while no process could settle it (it died right then) is settled now.
    sweepFailedJobs(app, queue).catch((e: unknown) =>
      app.logger.error({ err: e, queue: name }, 'failed-job sweep did not finish'),
    );
    return w;
  };
  /** Workers beside an email's run (deadlines, notices): they settle no email, so no dead-letter route. */
  const side = (queue: QueueKey, fn: (job: Job) => Promise<void>, concurrency: number) => {
    const name = QueueCatalog[queue].name;
    const w = new Worker(name, fn, { ...common, concurrency });
    w.on('error', (err) => app.logger.error({ err, queue: name }, 'worker error'));
    return w;
  };
  // One worker per queue whose handler (src/run/handlers.ts) has a role this process runs.
  const workers: Worker[] = [];
  for (const queue of Object.keys(HANDLERS) as QueueKey[]) {
    const handler = HANDLERS[queue];
    if (!handler || !roles.includes(handler.role)) continue;
    const fn = (job: Job) => handler.process(app, job);
    const concurrency = handler.concurrency(app.config);
    workers.push(isWorkQueue(queue) ? make(queue, fn, concurrency) : side(queue, fn, concurrency));
  }
  return {
    workers,
    async close(force = false) {
      for (const stop of stopWatching) stop();
      await Promise.all(workers.map((w) => w.close(force)));
    },
  };
}
