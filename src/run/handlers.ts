import type { Job } from 'bullmq';
import type { Config } from '../config/config.js';
import { processNotifyJob } from '../executor/notify.js';
import type { QueueKey } from '../queues/catalog.js';
import type { AppContext } from '../services/services.js';
import { escalateIfOverdue } from './decisions.js';
import { ingest } from './ingest.js';
import { planTriaged } from './planning.js';
import { quarantine } from './rest.js';
import { handleJob, rerunOf } from './settle.js';
import { runStep, stepFailed, stepRetrying } from './steps.js';

/**
 * The lifecycle of an email's run, from the queues' side: what each queue's jobs do. Every
 * transition is a function of this folder (ingest.ts, planning.ts, steps.ts, park.ts,
 * decisions.ts, rest.ts); the review UIs (the CLI, Bull Board) call `approveParked` /
 * `rejectParked` of decisions.ts. What is stored lives in the run store (src/store/run-store.ts);
 * the ledger and the audit trail are written by these transitions and nowhere else along the run.
 *
 *   triaged → planned (adopted) → started → [step]* → completed | escalated
 *                  ↑ replanned ↙         ↘ parked → approved → [step]* … | rejected | escalated
 *   any stage: quarantined (with a reason, in the dead-letter queue); in shadow: shadowed
 */

/** Queue-worker roles: `triage` parses and triages (the ingest queue), then plan, then steps. */
export const ROLES = ['triage', 'planner', 'executor'] as const;
export type Role = (typeof ROLES)[number];

/** Who takes the jobs of one queue, how many at once per process, and what a job does. */
export interface QueueHandler {
  role: Role;
  concurrency(config: Pick<Config, 'concurrency'>): number;
  process(app: AppContext, job: Job): Promise<void>;
}

/**
 * The consumer of every queue of the catalog (src/queues/catalog.ts), in one table: a queue
 * added there without an entry here does not compile. `null`: no worker takes its jobs.
 * The ingest, plan and steps handlers go through `handleJob` (./settle.ts), which settles an
 * email whose job fails for good; the approval and notify queues settle no email.
 */
export const HANDLERS = {
  ingest: {
    role: 'triage',
    concurrency: (c) => c.concurrency,
    process: (app, job) =>
      handleJob(app, 'ingest', job, {
        run: (data, log) => ingest(app, data, log),
        failed: (data, e) => quarantine(app, data.emailId, 'ingest', e, data.source, rerunOf('ingest', job)),
      }),
  },
  plan: {
    role: 'planner',
    concurrency: (c) => c.concurrency,
    // Plan, validate, decide approval, then park or start (./planning.ts).
    process: (app, job) =>
      handleJob(app, 'plan', job, {
        run: (data, log) => planTriaged(app, data.emailId, log),
        async failed(data, e, log) {
          log.error({ code: e.publicCode }, 'planning failed');
          await quarantine(app, data.emailId, 'plan', e, null, rerunOf('plan', job));
        },
      }),
  },
  steps: {
    role: 'executor',
    concurrency: (c) => c.concurrency,
    // One step of a stored plan (and the side-effect-free steps after it); a step that fails for
    // good parks, replans or escalates; one that will be retried is audited (./steps.ts).
    process: (app, job) =>
      handleJob(app, 'steps', job, {
        run: (data, log) => runStep(app, data, job.attemptsMade + 1, log),
        failed: (data, e, log) => stepFailed(app, data, e, job.attemptsMade + 1, log),
        retrying: (data, e, retryInMs) => stepRetrying(app, data, e, job.attemptsMade + 1, retryInMs),
      }),
  },
  // Parked plans are delayed until their deadline: a job that becomes due was not decided in time.
  approval: {
    role: 'executor',
    concurrency: () => 1,
    async process(app, job) {
      await escalateIfOverdue(app, job.id ?? '');
    },
  },
  notify: { role: 'executor', concurrency: () => 4, process: processNotifyJob },
  // Dead letters wait for a human: `mailroom dead-letters` lists and requeues them.
  deadLetter: null,
} as const satisfies { readonly [K in QueueKey]: QueueHandler | null };
