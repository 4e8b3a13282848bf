/**
 * The benchmark suite: every figure of issue 19 beside its ceiling or peer, measured in one run on
 * private loopback services (redis-server, Dovecot, a scripted OpenAI-compatible server).
 * Run: npm run bench -- [--quick] [--json]
 *   --quick  small counts (a 5,000-email backlog), under a minute
 *   --json   print the result as one JSON object (otherwise a table)
 * Writes bench/results/latest.json, latest.md and latest.svg. Timings depend on the machine and on
 * what else runs on it; compare figures of one run with each other.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTestRedis } from '../test/harness/redis.js';
import { createRedis } from '../src/queues/connection.js';
import { benchBacklog } from './backlog.js';
import { benchBullmqNoop } from './bullmq-noop.js';
import { benchImap } from './imap.js';
import { benchFloor } from './floor.js';
import { benchConfig, round } from './lib.js';
import { benchLlm } from './llm.js';
import { benchLatency, benchPipeline, benchSplitRoles, startMailroom, SUBMIT_WIDTH } from './pipeline.js';
import { comparisons, writeResults } from './report.js';

const args = new Set(process.argv.slice(2));
for (const a of args) {
  if (a !== '--quick' && a !== '--json') {
    process.stderr.write(`bench: unknown option ${a}; use --quick and/or --json\n`);
    process.exit(2);
  }
}
const quick = args.has('--quick');
const size = quick
  ? { noopJobs: 5_000, pipeline: 160, latencySeconds: 3, split: 96, llmEmails: 32, llmLatencyMs: 20, backlog: 5_000, drainSeconds: 2, imap: 200 }
  : { noopJobs: 20_000, pipeline: 2_000, latencySeconds: 20, split: 1_000, llmEmails: 320, llmLatencyMs: 50, backlog: 50_000, drainSeconds: 10, imap: 2_000 };
const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`);

const started = Date.now();
const redis = await startTestRedis();
const control = createRedis(redis.url, 'bench-control');
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-bench-'));
const result: Record<string, number | string | Record<string, number>> = {
  mode: quick ? 'quick' : 'full',
  machine: `${os.availableParallelism()} cores, ${os.cpus()[0]?.model.trim() ?? 'cpu'}, Node ${process.versions.node}, load ${os.loadavg()[0]?.toFixed(1)} at start`,
  started_at: new Date(started).toISOString(),
};
const fresh = async () => {
  await control.flushall();
  return { redisUrl: redis.url, prefix: redis.prefix(), dataDir };
};
try {
  const concurrency = benchConfig({ ...(await fresh()) }).concurrency;
  result.concurrency = concurrency;
  log(`BullMQ no-op ceiling (${size.noopJobs} jobs, concurrency ${concurrency})`);
  Object.assign(result, await benchBullmqNoop(redis.url, { jobs: size.noopJobs, concurrency, prefix: redis.prefix() }));

  log(`pipeline, one process (${size.pipeline} emails)`);
  const mailroom = await startMailroom(benchConfig(await fresh()));
  try {
    const p = await benchPipeline(mailroom.app, size.pipeline);
    Object.assign(result, p);
    const rate = Math.max(1, p.pipeline_emails_per_s / 2);
    log(`latency at ${rate.toFixed(1)} emails/s (half the throughput) for ${size.latencySeconds} s`);
    Object.assign(result, await benchLatency(mailroom.app, rate, size.latencySeconds));
  } finally {
    await mailroom.stop();
  }

  log(`floor pipeline, same emails on the same Redis (${size.pipeline} emails)`);
  const floor = await benchFloor(redis.url, redis.prefix(), size.pipeline, { concurrency, authservId: benchConfig(await fresh()).authservId ?? '', submitWidth: SUBMIT_WIDTH });
  Object.assign(result, floor);
  result.cpu_ratio_to_floor = round((Number(result.cpu_ms_per_email) + Number(result.redis_cpu_ms_per_email)) / floor.floor_cpu_ms_per_email, 2);

  log(`pipeline, roles in separate processes (${size.split} emails)`);
  Object.assign(result, await benchSplitRoles(benchConfig(await fresh()), size.split));

  log(`model calls: Mailroom and a ReAct baseline (${size.llmEmails} emails, ${size.llmLatencyMs} ms a call)`);
  Object.assign(result, await benchLlm(await fresh(), { emails: size.llmEmails, latencyMs: size.llmLatencyMs }));

  log(`IMAP ingest against bare imapflow (${size.imap} messages)`);
  const f = await fresh();
  Object.assign(result, await benchImap({ url: redis.url, prefix: f.prefix }, { messages: size.imap }));

  log(`backlog of ${size.backlog} emails`);
  Object.assign(result, await benchBacklog(benchConfig(await fresh()), { emails: size.backlog, drainSeconds: size.drainSeconds }));
} finally {
  control.disconnect();
  await redis.close();
  rmSync(dataDir, { recursive: true, force: true });
}
result.seconds = Math.round((Date.now() - started) / 1000);
writeResults(path.join(import.meta.dirname, 'results'), result);
if (args.has('--json')) process.stdout.write(`${JSON.stringify(result)}\n`);
else for (const r of comparisons(result)) process.stdout.write(`${r.label.padEnd(36)} ${String(Number(r.figure.toFixed(3))).padStart(10)}  vs ${Number(r.against.toFixed(3))} (${r.againstLabel})\n`);
process.exit(0);
