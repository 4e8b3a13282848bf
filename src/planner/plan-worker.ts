import type { Job } from 'bullmq';
import { park, quarantine } from '../audit/outcomes.js';
import type { AppContext } from '../context.js';
import { MailroomError, toMailroomError } from '../errors.js';
import { newPlanId, type EmailId } from '../ids.js';
import { hasAttemptsLeft } from '../ingest/ingest-worker.js';
import { TriageRecord } from '../ingest/triage.js';
import { jobIdFor, parseJobData } from '../queues/catalog.js';
import { decideApproval } from './approval-policy.js';
import type { StoredPlan } from './stored-plan.js';
import { planOffline } from './planner.js';
import { planRobot } from './robot-planner.js';

export async function loadTriage(app: AppContext, emailId: EmailId): Promise<TriageRecord> {
  const raw = await app.redis.get(app.keys.context(emailId));
  if (!raw) throw new MailroomError('CONTENT_EXPIRED', `no trusted context stored for ${emailId}`);
  return TriageRecord.parse(JSON.parse(raw));
}

/** Plan stage: plan from the trusted context, validate, decide approval, then park or start. */
export async function processPlanJob(app: AppContext, job: Job): Promise<void> {
  const { emailId } = parseJobData('plan', job.data);
  const log = app.logger.child({ component: 'planner', emailId, jobId: job.id });
  try {
    const { context } = await loadTriage(app, emailId);
    // Robots (RFC 3834) are decided before any planner runs: no model is ever asked about them.
    const robot = context.auto.kind === 'none' ? null : context.auto.kind;
    const outcome = robot ? planRobot(robot, app.registry) : planOffline(context, app.registry);
    const planId = newPlanId();
    const stored: StoredPlan = {
      planId,
      emailId,
      plan: outcome.plan,
      planner: outcome.planner,
      registryVersion: app.registry.version,
      createdAt: app.clock().toISOString(),
      ...(robot && outcome.planner === 'robot' ? { completionReason: robot } : {}),
    };
    await app.redis.set(app.keys.plan(planId), JSON.stringify(stored), 'EX', app.config.contentTtlSeconds);
    for (const errors of outcome.rejected) {
      await app.audit.append(emailId, 'validated', 'planner', { ok: false, errors: errors.map((e) => ({ rule: e.rule, stepId: e.stepId, arg: e.arg })) });
    }
    await app.audit.append(emailId, 'planned', outcome.planner, { planId, plan: outcome.plan, cacheHit: outcome.cacheHit, registryVersion: app.registry.version });
    await app.audit.append(emailId, 'validated', 'planner', { ok: outcome.validation.ok, planId });
    const approval = decideApproval(outcome.plan, app.registry, context, outcome.validation.parkReasons);
    await app.ledger.setState(emailId, 'planned', { planId, tools: outcome.plan.steps.map((s) => s.tool).join(',') });
    if (approval.decision === 'park') {
      await park(app, emailId, planId, 'policy', approval.reasons);
      return;
    }
    await app.audit.append(emailId, 'approved', 'policy', { planId, auto: true });
    const first = outcome.plan.steps[0];
    await app.queues.add('steps', { emailId, planId, stepIndex: 0 }, { jobId: jobIdFor(planId, first?.id ?? 's0') });
    log.debug({ planId, planner: outcome.planner }, 'planned');
  } catch (err) {
    const e = toMailroomError(err);
    if (e.retryable && hasAttemptsLeft(job)) throw e;
    log.error({ code: e.publicCode }, 'planning failed');
    await quarantine(app, emailId, 'plan', e, null);
  }
}
