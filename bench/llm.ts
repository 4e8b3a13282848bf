/**
 * Model cost per email: Mailroom with a scripted OpenAI-compatible server (test/harness) that adds a
 * fixed latency to every call, against a ReAct baseline (bench/react-baseline.ts) on the same
 * emails and server. Also planner calls per email in steady state (plan cache on, after a warm-up
 * over the examples) and with no cache (the planner asked once per email's view).
 */
import { roleResponder, startOpenAiServer, type Responder } from '../test/harness/openai-server.js';
import type { Config } from '../src/config/config.js';
import type { AppContext } from '../src/services/services.js';
import type { EmailId } from '../src/kernel/ids.js';
import type { LlmGateway } from '../src/llm/gateway.js';
import { plannerViewFor } from '../src/run/planning.js';
import { loadTriage } from '../src/store/run-store.js';
import { planEmail } from '../src/planner/planner.js';
import { submitEmail } from '../src/ingest/submit.js';
import { benchConfig, corpus, mapLimit, percentile, restingCount, round, waitResting } from './lib.js';
import { startMailroom } from './pipeline.js';
import { baselineReply, baselineScript, runBaseline } from './react-baseline.js';

/** A valid plan in the model's schema (every argument present, optional ones null). */
const PLAN = {
  steps: [
    { id: 'facts', tool: 'read_facts', args: { email: '{{email.ref}}' }, checkpoint: false },
    { id: 'kb', tool: 'search_kb', args: { topic: '{{context.category.name}}' }, checkpoint: false },
    {
      id: 'draft',
      tool: 'draft_reply',
      args: { article: '{{steps.kb.output.articleId}}', order: null, topic: '{{steps.facts.output.topic}}', questionKind: '{{steps.facts.output.questionKind}}', language: '{{steps.facts.output.language}}', sentiment: '{{steps.facts.output.sentiment}}', outcome: null, amount: null, audience: null },
      checkpoint: false,
    },
    { id: 'send', tool: 'send_reply', args: { draft: '{{steps.draft.output.ref}}' }, checkpoint: false },
  ],
};

export interface LlmResult {
  llm_latency_ms_per_call: number;
  planner_calls_per_email: number;
  planner_calls_per_email_nocache: number;
  llm_calls_per_email: number;
  llm_tokens_per_email: number;
  llm_wall_s_per_email: number;
  baseline_llm_calls_per_email: number;
  baseline_llm_tokens_per_email: number;
  baseline_llm_wall_s_per_email: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wraps the gateway to record the wall time of each of its calls. */
function timed(inner: LlmGateway, wall: { calls: number[] }): LlmGateway {
  return {
    mode: inner.mode,
    model: inner.model,
    usage: () => inner.usage(),
    async structured(req) {
      const t = performance.now();
      try {
        return await inner.structured(req);
      } finally {
        wall.calls.push(performance.now() - t);
      }
    },
  };
}

export async function benchLlm(base: { redisUrl: string; prefix: string; dataDir: string }, opts: { emails: number; latencyMs: number }): Promise<LlmResult> {
  const answer: Responder = roleResponder({
    planner: () => ({ content: JSON.stringify(PLAN) }),
    baseline: (req) => ({ content: baselineReply(typeof req.body === 'object' && req.body !== null && 'messages' in req.body ? req.body.messages : [], String(req.headers['x-bench-script'] ?? '').split(',').filter(Boolean)) }),
  });
  const server = await startOpenAiServer(async (req) => {
    await sleep(opts.latencyMs);
    return answer(req);
  });
  const config: Config = benchConfig({ ...base, env: { OPENAI_API_KEY: 'sk-bench', OPENAI_BASE_URL: server.url, OPENAI_MODEL: 'bench-model' } });
  const wall = { calls: [] as number[] };
  // Warm-up inside startMailroom fills the plan cache with one plan per distinct view.
  const mailroom = await startMailroom(config, (app) => (app.llm = timed(app.llm, wall)));
  const { app } = mailroom;
  try {
    const raws = corpus(opts.emails, 'm');
    const u0 = app.llm.usage();
    const planner0 = server.requestsByRole('planner').length;
    const before = await restingCount(app);
    wall.calls = [];
    const ids = (await mapLimit(raws, 16, (raw, i) => submitEmail(app, raw, { kind: 'file', path: `m-${i}.eml` }))).map((s) => s.emailId);
    const records = await waitResting(app, ids, 600_000, before);
    const u1 = app.llm.usage();
    const n = opts.emails;
    const mailroomCall = percentile(wall.calls, 50);
    const plannerCalls = server.requestsByRole('planner').length - planner0;
    const nocache = await plannerCallsNoCache(app, ids, server.requestsByRole.bind(server));
    // The baseline does, on the same emails, the actions Mailroom's plan took for each.
    let b = { calls: 0, tokens: 0 };
    const baselineCalls: number[] = [];
    const runs = await mapLimit(raws, 8, (raw, i) =>
      runBaseline({ baseUrl: server.url, tools: app.registry.tools, raw, script: baselineScript((records[i]?.tools ?? '').split(',').filter(Boolean), app.registry.tools) }),
    );
    for (const r of runs) {
      b = { calls: b.calls + r.calls, tokens: b.tokens + r.tokens };
      baselineCalls.push(...r.callMs);
    }
    // Model wall time per email: its calls (each waits for the one before) times the median call.
    // The median, because Mailroom's calls share the CPU with its pipeline and the baseline's do not.
    const mailroomCalls = (u1.calls - u0.calls) / n;
    return {
      llm_latency_ms_per_call: opts.latencyMs,
      planner_calls_per_email: round(plannerCalls / n, 3),
      planner_calls_per_email_nocache: round(nocache / n, 3),
      llm_calls_per_email: round(mailroomCalls, 2),
      llm_tokens_per_email: Math.round((u1.promptTokens + u1.completionTokens - u0.promptTokens - u0.completionTokens) / n),
      llm_wall_s_per_email: round((mailroomCalls * mailroomCall) / 1000, 3),
      baseline_llm_calls_per_email: round(b.calls / n, 2),
      baseline_llm_tokens_per_email: Math.round(b.tokens / n),
      baseline_llm_wall_s_per_email: round(((b.calls / n) * percentile(baselineCalls, 50)) / 1000, 3),
    };
  } finally {
    await mailroom.stop();
    await server.close();
  }
}

/** Planner calls with no plan cache: the planner asked once for each email's own view. */
async function plannerCallsNoCache(app: AppContext, ids: readonly EmailId[], byRole: (role: string) => readonly unknown[]): Promise<number> {
  const before = byRole('planner').length;
  await mapLimit(ids, 8, async (id) => {
    // Quarantined mail never reached the planner: nothing to ask about.
    const triage = await loadTriage(app, id).catch(() => null);
    if (!triage) return;
    await planEmail({ llm: app.llm, registry: app.registry, cache: null }, plannerViewFor(app, triage.trusted));
  });
  return byRole('planner').length - before;
}
