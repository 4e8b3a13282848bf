import { Worker, type Job } from 'bullmq';
import type { AppContext } from '../context.js';
import { processIngestJob } from '../ingest/ingest-worker.js';
import { processPlanJob } from '../planner/plan-worker.js';
import { processStepJob } from '../executor/step-worker.js';
import { escalateIfOverdue } from '../executor/review.js';
import { processNotifyJob } from '../executor/notify.js';
import { QueueCatalog } from '../queues/catalog.js';

/** Queue-worker roles: `triage` parses and triages (the ingest queue), then plan, then steps. */
export const ROLES = ['triage', 'planner', 'executor'] as const;
export type Role = (typeof ROLES)[number];

export interface RunningWorkers {
  workers: Worker[];
  /**
   * Stops taking jobs and lets running ones finish (BullMQ's close), within the caller's bound.
   * `force` does not wait: running jobs are handed back (BullMQ sees them stalled and re-runs them).
   */
  close(force?: boolean): Promise<void>;
}

/** Starts the BullMQ workers of the given roles against the shared context. */
export function startWorkers(app: AppContext, roles: readonly Role[] = ROLES): RunningWorkers {
  // A crashed worker's job is re-delivered once its lock lapses and the stalled check sees it.
  const common = {
    connection: app.redis,
    prefix: app.config.prefix,
    lockDuration: app.config.lockDurationMs,
    stalledInterval: app.config.lockDurationMs,
  };
  const make = (name: string, fn: (job: Job) => Promise<void>, concurrency: number) => {
    const w = new Worker(name, fn, { ...common, concurrency });
    w.on('error', (err) => app.logger.error({ err, queue: name }, 'worker error'));
    // Processors settle every email themselves; a job that still fails for good means the
    // settling itself failed (e.g. Redis gone), and the email needs someone to look.
    w.on('failed', (job, err) => {
      if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) {
        app.logger.error({ err, queue: name, jobId: job.id }, 'job failed for good; its email may not have reached a final state');
      }
    });
    return w;
  };
  const workers: Worker[] = [];
  if (roles.includes('triage')) workers.push(make(QueueCatalog.ingest.name, (j) => processIngestJob(app, j), app.config.concurrency));
  if (roles.includes('planner')) workers.push(make(QueueCatalog.plan.name, (j) => processPlanJob(app, j), app.config.concurrency));
  if (roles.includes('executor')) {
    workers.push(make(QueueCatalog.steps.name, (j) => processStepJob(app, j), app.config.concurrency));
    // Parked plans are delayed until their deadline: a job that becomes due was not decided in time.
    workers.push(
      make(
        QueueCatalog.approval.name,
        async (j) => {
          await escalateIfOverdue(app, j.id ?? '');
        },
        1,
      ),
    );
    workers.push(make(QueueCatalog.notify.name, (j) => processNotifyJob(app, j), 4));
  }
  return {
    workers,
    async close(force = false) {
      await Promise.all(workers.map((w) => w.close(force)));
    },
  };
}
