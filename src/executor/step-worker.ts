import type { Job } from 'bullmq';
import { escalateEmail, park } from '../audit/outcomes.js';
import type { AppContext } from '../context.js';
import { MailroomError, toMailroomError } from '../errors.js';
import type { EmailId } from '../ids.js';
import { adoptPlan, loadTriage, plannerDeps, plannerViewFor } from '../planner/plan-worker.js';
import { replanEmail } from '../planner/planner.js';
import type { ReplanFacts } from '../planner/planner-prompt.js';
import { mailboxActionsFor } from '../ingest/mailbox-actions.js';
import type { StoredPlan } from '../planner/stored-plan.js';
import type { ErrorCode } from '../errors.js';
import { hasAttemptsLeft, jobIdFor, parseJobData } from '../queues/catalog.js';
import type { ToolContext } from '../tools/tool.js';
import { resolveArgs, type LabelledOutput } from './resolve-args.js';
import { isEffect } from './effects.js';
import { loadOutputs, loadPlan } from './plan-store.js';
import { checkApprovedEffect } from './review.js';
import { actsOnTheWorld, endShadowed, previewStep } from './shadow.js';
import { outputLabelFor } from '../planner/plan-validator.js';
import { moneyOverCeiling } from './autonomy-ceiling.js';

/** Values of control arguments for the audit: literals and trusted references, never tainted data. */
function auditArgs(args: Record<string, unknown>, untrusted: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(args).map(([k, v]) => [k, untrusted.includes(k) ? '[untrusted ref]' : v]));
}

/**
 * Runs one step of a plan. Deterministic: the next step is the next in the validated plan, never
 * a model's choice. Each output is persisted before the next step is enqueued; a re-delivered
 * step whose output exists only enqueues its successor.
 */
export async function processStepJob(app: AppContext, job: Job): Promise<void> {
  const { emailId, planId, stepIndex, approvedBy } = parseJobData('steps', job.data);
  const log = app.logger.child({ component: 'executor', emailId, planId, jobId: job.id });
  let stepId = `#${stepIndex}`;
  try {
    const stored = await loadPlan(app, planId);
    const step = stored.plan.steps[stepIndex];
    if (!step) throw new MailroomError('PLAN_INVALID', `plan ${planId} has no step ${stepIndex}`);
    stepId = step.id;
    // The plan waits here for a human; the steps before the gate have run.
    if (stored.gate && stepIndex === stored.gate.step && !approvedBy) {
      if (stored.shadow) await endShadowed(app, emailId, planId, 'park', stored.gate.reasons);
      else await park(app, emailId, planId, 'policy', stored.gate.reasons, stepIndex);
      return;
    }
    const outputs = await loadOutputs(app, planId);
    if (!outputs[step.id]) {
      const tool = app.registry.get(step.tool);
      if (!tool) throw new MailroomError('TOOL_UNKNOWN', `tool ${step.tool} is not in the registry`);
      const triage = await loadTriage(app, emailId);
      const sources = { context: triage.context, emailRef: triage.contentRef, outputs };
      const resolved = resolveArgs(step, tool, sources);
      // An effect after the gate (or any effect an approval is claimed for) runs only as the
      // reviewer saw it: the approval is read from Mailroom's review record, never from job data.
      let reviewer: string | undefined;
      let waits: string[] = [];
      if (isEffect(tool) && (approvedBy !== undefined || (stored.gate !== null && stepIndex >= stored.gate.step))) {
        const verdict = await checkApprovedEffect(app, planId, step, tool, sources);
        if (verdict.ok) reviewer = verdict.reviewer;
        else waits = [verdict.reason];
      } else {
        // A money step left `auto` by an autonomy rule runs only up to the rule's ceiling.
        waits = [...resolved.parkReasons, ...(await moneyOverCeiling(app, emailId, planId, stored.autonomy, step, resolved.args))];
      }
      if (waits.length) {
        if (stored.shadow) await endShadowed(app, emailId, planId, 'park', waits);
        else await park(app, emailId, planId, 'executor', waits, stepIndex);
        return;
      }
      const input = tool.input.safeParse(resolved.args);
      if (!input.success) throw new MailroomError('TOOL_INPUT_INVALID', `arguments of ${tool.name} do not match its schema`);
      await app.ledger.setState(emailId, 'running');
      // In shadow, a step that would act is previewed and audited as `would_do` instead.
      const shadowed = stored.shadow && actsOnTheWorld(tool);
      const args = auditArgs(resolved.args, tool.untrustedInputs);
      if (!shadowed) await app.audit.append(emailId, 'step_started', 'executor', { planId, stepId: step.id, tool: tool.name, args, attempt: job.attemptsMade + 1 });
      const started = Date.now();
      const ctx: ToolContext = {
        emailId,
        planId,
        stepId: step.id,
        idempotencyKey: `${planId}.${step.id}`,
        trusted: triage.context,
        emailRef: triage.contentRef,
        config: app.config,
        redis: app.redis,
        keys: app.keys,
        logger: log.child({ stepId: step.id }),
        llm: app.llm,
        kb: app.kb,
        accounts: app.accounts,
        content: app.content,
        mailer: app.mailer,
        ...(reviewer ? { approvedBy: reviewer } : {}),
        mailbox: mailboxActionsFor(app, emailId, triage.source),
      };
      const rawOutput = shadowed ? await previewStep(app, tool, input.data, ctx, args) : await tool.run(input.data, ctx);
      const output = tool.output.safeParse(rawOutput);
      if (!output.success) throw new MailroomError('TOOL_OUTPUT_INVALID', `output of ${tool.name} does not match its schema`);
      const labelled: LabelledOutput = {
        value: output.data,
        label: outputLabelFor(tool, Object.values(resolved.labels)),
        taintedFields: [...tool.taintedOutputs],
      };
      await app.redis.hset(app.keys.planOutputs(planId), step.id, JSON.stringify(labelled));
      await app.redis.expire(app.keys.planOutputs(planId), app.config.contentTtlSeconds);
      if (!shadowed) await app.audit.append(emailId, 'step_finished', 'executor', {
        planId,
        stepId: step.id,
        tool: tool.name,
        ms: Date.now() - started,
        // Outputs named tainted are not echoed into the audit.
        output: Object.fromEntries(Object.entries(output.data).filter(([k]) => !tool.taintedOutputs.includes(k))),
      });
    }
    const next = stored.plan.steps[stepIndex + 1];
    if (next && step.checkpoint && app.llm.mode === 'openai') {
      if (stored.generation < app.config.maxReplans) {
        await replan(app, emailId, stored, stepIndex + 1, { reason: 'checkpoint', failed: null });
        return;
      }
    }
    if (next) {
      // An approval covers the rest of the plan the reviewer saw, not just the gated step.
      await app.queues.add('steps', { emailId, planId, stepIndex: stepIndex + 1, ...(approvedBy ? { approvedBy } : {}) }, { jobId: jobIdFor(planId, next.id) });
      return;
    }
    await finishPlan(app, emailId, stored);
  } catch (err) {
    const e = toMailroomError(err);
    if (e.retryable && hasAttemptsLeft(job)) throw e;
    await app.audit.append(emailId, 'step_failed', 'executor', { planId, stepId, code: e.publicCode, attempts: job.attemptsMade + 1 });
    const stored = await loadPlan(app, planId).catch(() => null);
    if (e.code === 'NEEDS_REVIEW') {
      if (stored?.shadow) await endShadowed(app, emailId, planId, 'park', [`step ${stepId}: ${e.message}`]);
      else await park(app, emailId, planId, 'executor', [`step ${stepId}: ${e.message}`], stepIndex);
      return;
    }
    const tool = stored?.plan.steps[stepIndex]?.tool;
    if (stored && tool && !NO_REPLAN.has(e.code) && stored.generation < app.config.maxReplans) {
      log.info({ stepId, code: e.publicCode }, 'step failed; replanning');
      await replan(app, emailId, stored, stepIndex, { reason: 'step_failed', failed: { stepId, tool, code: e.publicCode } });
      return;
    }
    log.warn({ stepId, code: e.publicCode }, 'step failed; escalating');
    if (stored?.shadow) await endShadowed(app, emailId, planId, 'escalate', [`${e.publicCode} at step ${stepId}`]);
    else await escalateEmail(app, emailId, 'executor', `${e.publicCode} at step ${stepId}`);
  }
}

/**
 * Failures a new plan cannot fix, or must not try to: an unknown delivery outcome needs a human
 * to look; a taint violation is an attack or a bug; expired content cannot be read again.
 */
const NO_REPLAN: ReadonlySet<ErrorCode> = new Set(['DELIVERY_UNKNOWN', 'TAINT_VIOLATION', 'CONTENT_EXPIRED', 'SENDER_UNVERIFIED']);

/** Numbers, booleans and nulls of untainted output fields: the only outputs a replan may see. */
export function typedFacts(output: LabelledOutput): Record<string, number | boolean | null> {
  const facts: Record<string, number | boolean | null> = {};
  for (const [k, v] of Object.entries(output.value)) {
    if (output.taintedFields.includes(k)) continue;
    if (typeof v === 'number' || typeof v === 'boolean' || v === null) facts[k] = v;
  }
  return facts;
}

/** Replaces the rest of a plan with a new one made from trusted facts only. */
async function replan(
  app: AppContext,
  emailId: EmailId,
  stored: StoredPlan,
  upTo: number,
  what: Pick<ReplanFacts, 'reason' | 'failed'>,
): Promise<void> {
  const outputs = await loadOutputs(app, stored.planId);
  const completed = stored.plan.steps
    .slice(0, upTo)
    .flatMap((s) => (outputs[s.id] ? [{ stepId: s.id, tool: s.tool, facts: typedFacts(outputs[s.id] as LabelledOutput) }] : []));
  const { context } = await loadTriage(app, emailId);
  const outcome = await replanEmail(plannerDeps(app), plannerViewFor(app, context), { ...what, completed });
  await adoptPlan(app, emailId, context, outcome, { generation: stored.generation + 1, replaces: stored.planId });
}

async function finishPlan(app: AppContext, emailId: EmailId, stored: StoredPlan): Promise<void> {
  const escalated = stored.plan.steps.some((s) => s.tool === 'escalate');
  if (stored.shadow) {
    await endShadowed(app, emailId, stored.planId, escalated ? 'escalate' : 'complete', escalated ? ['plan escalated to a human'] : []);
    return;
  }
  if (escalated) {
    await escalateEmail(app, emailId, 'executor', 'plan escalated to a human', { planId: stored.planId });
    return;
  }
  const reason = stored.completionReason ?? '';
  await app.ledger.setState(emailId, 'completed', { reason });
  await app.audit.append(emailId, 'completed', 'executor', { planId: stored.planId, ...(reason ? { reason } : {}) });
}
