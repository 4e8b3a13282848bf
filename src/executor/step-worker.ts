import type { Job } from 'bullmq';
import type { AppContext } from '../app/context.js';
import { runStep, stepFailed, stepRetrying } from '../run/lifecycle.js';
import { handleJob } from '../run/settle.js';

/**
 * Step stage: runs one step of a stored plan (src/run/lifecycle.ts `runStep`); a step that fails
 * for good parks, replans or escalates (`stepFailed`); one that will be retried is audited
 * (`stepRetrying`).
 */
export async function processStepJob(app: AppContext, job: Job): Promise<void> {
  await handleJob(app, 'steps', job, {
    run: (data, log) => runStep(app, data, job.attemptsMade + 1, log),
    failed: (data, e, log) => stepFailed(app, data, e, job.attemptsMade + 1, log),
    retrying: (data, e, retryInMs) => stepRetrying(app, data, e, job.attemptsMade + 1, retryInMs),
  });
}
