import { randomInt } from 'node:crypto';
import { Job } from 'bullmq';
import type { Config } from '../../src/config/config.js';
import { createContext } from '../../src/app/context.js';
import { type AppContext } from '../../src/services/services.js';
import { HANDLERS } from '../../src/run/handlers.js';
import { emailIdFor, planIdFor, type EmailId, type PlanId, type EmailRef } from '../../src/kernel/ids.js';
import type { TrustedContext, UntrustedContent } from '../../src/model/trusted-context.js';
import { createLogger } from '../../src/kernel/logger.js';
import type { Plan } from '../../src/model/plan.js';
import type { StoredPlan } from '../../src/model/stored-plan.js';
import { toolContextFor } from '../../src/run/steps.js';
import { claimPlan, loadOutputs, saveTriage } from '../../src/store/run-store.js';
import type { ToolContext } from '../../src/tools/tool.js';
import { exampleConfig } from './example-config.js';
import { startTestRedis, type TestRedis } from './redis.js';

/**
 * A real AppContext on the test Redis, with the example accounts, KB and teams. Replans are off
 * by default: these tests drive steps one by one and look at a tool's own failure.
 */
export async function exampleApp(redis: TestRedis, env: Record<string, string> = {}, overrides: Partial<Config> = {}): Promise<AppContext> {
  const config = exampleConfig({ redis, env, overrides: { maxReplans: 0, ...overrides } });
  return createContext(config, createLogger({ level: 'silent' }));
}

/** An {@link exampleApp} on a Redis of its own; `close()` closes both. */
export interface ExampleApp {
  readonly redis: TestRedis;
  readonly app: AppContext;
  close(): Promise<void>;
}

export async function startExampleApp(): Promise<ExampleApp> {
  const redis = await startTestRedis();
  const app = await exampleApp(redis);
  return {
    redis,
    app,
    async close() {
      await app.close();
      await redis.close();
    },
  };
}

export interface EmailSpec {
  /** The verified sender address, or null for an unverified sender. */
  verified: string | null;
  category?: string;
  subject?: string;
  text: string;
}

/** Stores an email's untrusted content and its trusted context the way ingest does. */
export async function storeEmail(app: AppContext, spec: EmailSpec): Promise<{ emailId: EmailId; contentRef: EmailRef; context: TrustedContext }> {
  const emailId = emailIdFor(app.config.mailbox.address, `<${Math.random().toString(16).slice(2)}@test>`);
  const content: UntrustedContent = {
    messageId: `<${emailId}@test.example>`,
    references: [],
    subject: spec.subject ?? 'A question',
    fromDisplayName: 'Customer',
    fromAddress: spec.verified,
    replyTo: null,
    text: spec.text,
    html: null,
    attachments: [],
  };
  const contentRef = await app.content.putContent(content);
  const record = spec.verified ? app.accounts.byEmail(spec.verified) : undefined;
  const context: TrustedContext = {
    emailId,
    mailbox: app.config.mailbox.address,
    folder: null,
    uid: null,
    sizeBytes: spec.text.length,
    receivedAt: new Date().toISOString(),
    sender: spec.verified ? { verified: true, address: spec.verified, method: 'dmarc' } : { verified: false, reason: 'no authentication results' },
    account: record ? { id: record.id, tier: record.tier, openTickets: record.openTickets } : null,
    category: { name: spec.category ?? 'billing', source: 'classifier' },
    attachments: { count: 0, types: [] },
    auto: { kind: 'none', reason: '' },
  };
  await saveTriage(app, emailId, { trusted: context, emailRef: contentRef });
  await app.ledger.create(emailId, 'test');
  await app.ledger.setState(emailId, 'triaged', { category: context.category.name });
  return { emailId, contentRef, context };
}

/** The context a step worker would give a tool. */
export function toolContext(app: AppContext, email: { emailId: EmailId; contentRef: EmailRef; context: TrustedContext }, stepId = 's1', planId: PlanId = planIdFor(email.emailId, randomInt(1_000_000_000))): ToolContext {
  return toolContextFor(app, { emailId: email.emailId, planId, stepId, triage: { trusted: email.context, emailRef: email.contentRef }, logger: app.logger });
}

/**
 * Stores a plan as the plan worker would (but without validating it: tests use this to force a
 * plan past the validator) and runs its steps one by one through the real step worker.
 */
export async function runStoredPlan(app: AppContext, emailId: EmailId, plan: Plan): Promise<PlanId> {
  const planId = planIdFor(emailId, 0);
  const stored: StoredPlan = { planId, emailId, plan, planner: 'llm', registryVersion: app.registry.version, createdAt: new Date().toISOString(), generation: 0, gate: null };
  await claimPlan(app, stored);
  for (let stepIndex = 0; stepIndex < plan.steps.length; stepIndex++) {
    const jobId = await app.queues.add('steps', { emailId, planId, stepIndex }, { jobId: `t__${planId}__${stepIndex}` });
    const job = await Job.fromId(app.queues.get('steps'), jobId);
    if (!job) throw new Error('job vanished');
    await HANDLERS.steps.process(app, job);
    const state = (await app.ledger.getMany([emailId]))[0]?.state;
    if (state === 'escalated' || state === 'awaiting_approval' || state === 'quarantined') break;
  }
  return planId;
}

/** Step outputs as persisted by the executor. */
export async function stepOutputs(app: AppContext, planId: PlanId): Promise<Record<string, { value: Record<string, unknown>; label: { tainted: boolean; conf: string } }>> {
  return loadOutputs(app, planId);
}
