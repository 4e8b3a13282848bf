import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { z } from 'zod';
import { StepAutonomy } from '../model/autonomy.js';
import type { AuditTrail, AuditType } from '../audit/audit-trail.js';
import { statesWithZeros } from '../audit/email-ledger.js';
import { createPlanCache } from '../planner/plan-cache.js';
import type { AppContext } from '../services/services.js';
import type { FolderWatcher } from '../sources/imap-watcher.js';

/**
 * Prometheus metrics of one process. Emails by state and queue depths are read from Redis at
 * scrape time, so any process shows the whole system's; LLM calls, plan-cache results, step
 * durations and IMAP counters are this process's own (scrape every process that runs them).
 */
export interface Metrics {
  readonly registry: Registry;
  /** Wraps the audit trail so step durations and plan-cache results are counted as they are recorded. */
  observeAudit(trail: AuditTrail): AuditTrail;
  /** Folder watchers of this process, read at scrape time. */
  watchers: readonly FolderWatcher[];
}

/** What the metrics read at scrape time. */
export type MetricsSource = Pick<AppContext, 'ledger' | 'queues' | 'llm' | 'redis' | 'keys'>;

/**
 * The metrics of an app, or of an app still being built (a function returning it at scrape time),
 * so that the app's audit trail can be built wrapped by {@link Metrics.observeAudit}.
 */
export function createMetrics(source: MetricsSource | (() => MetricsSource)): Metrics {
  const app = typeof source === 'function' ? lazySource(source) : source;
  const registry = new Registry();
  registry.setDefaultLabels({ app: 'mailroom' });
  const metrics: Metrics = { registry, observeAudit, watchers: [] };

  new Gauge({
    name: 'mailroom_emails',
    help: 'Emails by ledger state (whole system, from Redis)',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const [state, n] of Object.entries(await statesWithZeros(app.ledger))) this.set({ state }, n);
    },
  });
  new Gauge({
    name: 'mailroom_queue_jobs',
    help: 'Jobs per queue and BullMQ state (whole system, from Redis)',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const q of app.queues.all()) {
        const counts = await q.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized');
        for (const [state, n] of Object.entries(counts)) this.set({ queue: q.name, state }, n);
      }
    },
  });

  // The gateway keeps running totals; counters advance by the difference at each scrape.
  const seen = { calls: new Map<string, number>(), prompt: 0, completion: 0 };
  const llmCalls = new Counter({ name: 'mailroom_llm_calls_total', help: 'LLM calls by role (this process)', labelNames: ['role', 'provider'], registers: [registry] });
  const llmTokens = new Counter({ name: 'mailroom_llm_tokens_total', help: 'LLM tokens by kind (this process)', labelNames: ['kind'], registers: [registry] });
  const syncLlm = () => {
    const usage = app.llm.usage();
    for (const [role, n] of Object.entries(usage.byRole)) {
      const delta = n - (seen.calls.get(role) ?? 0);
      if (delta > 0) llmCalls.inc({ role, provider: app.llm.mode }, delta);
      seen.calls.set(role, n);
    }
    if (usage.promptTokens > seen.prompt) llmTokens.inc({ kind: 'prompt' }, usage.promptTokens - seen.prompt);
    if (usage.completionTokens > seen.completion) llmTokens.inc({ kind: 'completion' }, usage.completionTokens - seen.completion);
    seen.prompt = usage.promptTokens;
    seen.completion = usage.completionTokens;
  };
  new Gauge({
    name: 'mailroom_llm_provider_offline',
    help: '1 when the offline provider is in use',
    registers: [registry],
    collect() {
      syncLlm();
      this.set(app.llm.mode === 'offline' ? 1 : 0);
    },
  });

  // Whole system, from the counts the plan cache keeps in Redis: the numbers `mailroom status`
  // prints, whichever process planned. Advanced by the difference at each scrape.
  let cacheStats: ReturnType<typeof createPlanCache> | null = null;
  const seenCache = { hit: 0, miss: 0 };
  new Counter({
    name: 'mailroom_plan_cache_total',
    help: 'Plan-cache lookups by result (whole system, from Redis)',
    labelNames: ['result'],
    registers: [registry],
    async collect() {
      cacheStats ??= createPlanCache(app.redis, app.keys);
      const { hits, misses } = await cacheStats.stats();
      if (hits > seenCache.hit) this.inc({ result: 'hit' }, hits - seenCache.hit);
      if (misses > seenCache.miss) this.inc({ result: 'miss' }, misses - seenCache.miss);
      // Present from the start, at 0, like every ledger state.
      this.inc({ result: 'hit' }, 0);
      this.inc({ result: 'miss' }, 0);
      seenCache.hit = hits;
      seenCache.miss = misses;
    },
  });
  const stepSeconds = new Histogram({
    name: 'mailroom_step_duration_seconds',
    help: 'Duration of plan steps by tool (this process)',
    labelNames: ['tool'],
    buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const stepsFailed = new Counter({ name: 'mailroom_steps_failed_total', help: 'Failed plan steps (this process)', registers: [registry] });
  const wouldDo = new Counter({
    name: 'mailroom_shadow_would_do_total',
    help: 'Write and external steps shadow mode previewed instead of running, by tool (this process)',
    labelNames: ['tool'],
    registers: [registry],
  });

  const autonomySteps = new Counter({
    name: 'mailroom_autonomy_steps_total',
    help: 'Write and external steps given an autonomy level, by tool and level (this process); a money step parked over its ceiling at run time counts again at review',
    labelNames: ['tool', 'level'],
    registers: [registry],
  });
  const suggestions = new Counter({
    name: 'mailroom_autonomy_suggestions_total',
    help: 'Effects recorded as suggestions for a person (autonomy level suggest), by tool (this process)',
    labelNames: ['tool'],
    registers: [registry],
  });

  const imapCounter = (name: string, help: string, pick: (w: FolderWatcher) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['account', 'folder'],
      registers: [registry],
      collect() {
        this.reset();
        for (const w of metrics.watchers) this.set({ account: w.account, folder: w.folder }, pick(w));
      },
    });
  imapCounter('mailroom_imap_connected', '1 while the folder watcher is connected (this process)', (w) => (w.stats.connected ? 1 : 0));
  imapCounter('mailroom_imap_ingested_total', 'Messages taken in from the folder (this process)', (w) => w.stats.ingested);
  imapCounter('mailroom_imap_duplicates_total', 'Messages seen again and skipped by dedup (this process)', (w) => w.stats.duplicates);
  imapCounter('mailroom_imap_quarantined_total', 'Messages quarantined at the source (this process)', (w) => w.stats.quarantined);
  imapCounter('mailroom_imap_connects_total', 'Successful connections (this process)', (w) => w.stats.connects);
  imapCounter('mailroom_imap_uidvalidity_changes_total', 'UIDVALIDITY changes handled (this process)', (w) => w.stats.uidValidityChanges);

  const notices = new Counter({
    name: 'mailroom_review_notices_total',
    help: 'Notices to reviewers that a plan waits, by result (this process); failed counts every failed try',
    labelNames: ['result'],
    registers: [registry],
  });

  /** The steps of an `autonomy` audit event (src/planner/autonomy.ts), as the report reads them. */
  const AutonomySteps = z.array(StepAutonomy);

  const observe = (type: AuditType, actor: string, data: Record<string, unknown>) => {
    if (type === 'step_finished' && typeof data.ms === 'number') stepSeconds.observe({ tool: String(data.tool ?? 'unknown') }, data.ms / 1000);
    if (type === 'step_failed') stepsFailed.inc();
    if (type === 'notified') notices.inc({ result: 'sent' });
    if (type === 'notify_failed') notices.inc({ result: 'failed' });
    // Autonomy suggestions (actor `autonomy`) are would-dos too, but not shadow mode's.
    if (type === 'would_do' && actor === 'shadow') wouldDo.inc({ tool: String(data.tool ?? 'unknown') });
    if (type === 'would_do' && actor === 'autonomy') suggestions.inc({ tool: String(data.tool ?? 'unknown') });
    if (type === 'autonomy') {
      const steps = AutonomySteps.safeParse(data.steps);
      for (const step of steps.success ? steps.data : []) autonomySteps.inc({ tool: step.tool, level: step.level });
    }
  };
  function observeAudit(trail: AuditTrail): AuditTrail {
    return {
      read: (emailId) => trail.read(emailId),
      async append(emailId, type, actor, data = {}) {
        await trail.append(emailId, type, actor, data);
        observe(type, actor, data);
      },
      async appendAll(emailId, entries) {
        await trail.appendAll(emailId, entries);
        for (const e of entries) observe(e.type, e.actor, e.data ?? {});
      },
    };
  }
  return metrics;
}

/** A source whose members are looked up on each use (the app exists by the first scrape). */
function lazySource(get: () => MetricsSource): MetricsSource {
  return {
    get ledger() {
      return get().ledger;
    },
    get queues() {
      return get().queues;
    },
    get llm() {
      return get().llm;
    },
    get redis() {
      return get().redis;
    },
    get keys() {
      return get().keys;
    },
  };
}
