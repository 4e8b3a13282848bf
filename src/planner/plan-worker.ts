import type { Job } from 'bullmq';
import type { AppContext } from '../app/context.js';
import { planTriaged, quarantine } from '../run/lifecycle.js';
import { handleJob, rerunOf } from '../run/settle.js';

/** Plan stage: plan from the planner's view, validate, decide approval, then park or start (src/run/lifecycle.ts). */
export async function processPlanJob(app: AppContext, job: Job): Promise<void> {
  await handleJob(app, 'plan', job, {
    run: (data, log) => planTriaged(app, data.emailId, log),
    async failed(data, e, log) {
      log.error({ code: e.publicCode }, 'planning failed');
      await quarantine(app, data.emailId, 'plan', e, null, rerunOf('plan', job));
    },
  });
}
