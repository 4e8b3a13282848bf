/**
 * End-to-end throughput of the offline pipeline: N emails (copies of examples/mailbox) submitted
 * as fast as Mailroom takes them, timed until every one rests; Redis commands and BullMQ jobs per
 * email from the server's own counters; latency at a steady arrival rate below saturation; and the
 * same throughput with the three worker roles in separate processes (bench/role-worker.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import nodeFlags from '../bin/node-flags.json' with { type: 'json' };
import type { Config } from '../src/config/config.js';
import { createContext } from '../src/app/context.js';
import { type AppContext } from '../src/services/services.js';
import { startWorkers, type RunningWorkers } from '../src/app/workers.js';
import { ROLES, type Role } from '../src/run/handlers.js';
import type { EmailId } from '../src/kernel/ids.js';
import { closeParseThreads } from '../src/ingest/parse-isolated.js';
import { submitEmail } from '../src/ingest/submit.js';
import { createLogger } from '../src/kernel/logger.js';
import { corpus, corpusCycle, jobsDone, mapLimit, percentile, redisCommandCount, redisCommandsByName, redisCpuSeconds, restingCount, round, waitResting } from './lib.js';

const logger = createLogger({ level: 'silent' });
/** Submissions in flight at once, as several IMAP watchers or a file batch would. */
export const SUBMIT_WIDTH = 16;

export interface PipelineResult {
  pipeline_emails_per_s: number;
  jobs_per_email: number;
  redis_commands_per_email: number;
  /**
   * CPU time per email of this process (all its threads) and of redis-server: on a shared,
   * loaded machine these move far less than wall-clock throughput, so changes are judged by them.
   */
  cpu_ms_per_email: number;
  /**
   * CPU time per email of this process's main thread alone: the workers' JavaScript runs there
   * (parsing runs in worker threads), so it bounds throughput on any number of cores.
   */
  main_cpu_ms_per_email: number;
  redis_cpu_ms_per_email: number;
  /** The commands an email costs, by name (the larger ones), for a profile to start from. */
  redis_commands_top: Record<string, number>;
  outcomes: Record<string, number>;
}

async function submitAll(app: Pick<AppContext, 'config' | 'ledger' | 'audit' | 'content' | 'queues'>, raws: readonly Buffer[], tag: string): Promise<EmailId[]> {
  const subs = await mapLimit(raws, SUBMIT_WIDTH, (raw, i) => submitEmail(app, raw, { kind: 'file', path: `${tag}-${i}.eml` }));
  return subs.map((s) => s.emailId);
}

/** Warm-up on one copy of each example: parse threads load, modules compile. Not timed. */
async function warmUp(app: AppContext, tag: string): Promise<void> {
  const before = await restingCount(app);
  await waitResting(app, await submitAll(app, corpus(corpusCycle(), tag), tag), 180_000, before);
}

/** An in-process Mailroom with every worker role, warmed up. */
export async function startMailroom(
  config: Config,
  /** Changes the context before the workers start (the LLM bench times model calls here). */
  adapt: (app: AppContext) => void = () => {},
): Promise<{ app: AppContext; workers: RunningWorkers; stop(): Promise<void> }> {
  const app = await createContext(config, logger);
  adapt(app);
  const workers = startWorkers(app);
  await warmUp(app, 'warm');
  return {
    app,
    workers,
    async stop() {
      await workers.close();
      await app.close();
      await closeParseThreads();
    },
  };
}

/** Throughput, jobs and Redis commands per email, all roles in this process. */
export async function benchPipeline(app: AppContext, count: number): Promise<PipelineResult> {
  const raws = corpus(count, 'p');
  const polls = { commands: 0 };
  const before = await restingCount(app);
  const cmd0 = await redisCommandCount(app.redis);
  const by0 = await redisCommandsByName(app.redis);
  const jobs0 = await jobsDone(app);
  const rcpu0 = await redisCpuSeconds(app.redis);
  const cpu0 = process.cpuUsage();
  const main0 = process.threadCpuUsage();
  const started = performance.now();
  const ids = await submitAll(app, raws, 'p');
  const records = await waitResting(app, ids, 600_000, before, polls);
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const main = process.threadCpuUsage(main0);
  const rcpu1 = await redisCpuSeconds(app.redis);
  const cmd1 = await redisCommandCount(app.redis);
  const by1 = await redisCommandsByName(app.redis);
  const jobs1 = await jobsDone(app);
  // The bench's own polling (one HGETALL per pending email per poll) is not the pipeline's cost.
  by1.hgetall = (by1.hgetall ?? 0) - polls.commands;
  const outcomes: Record<string, number> = {};
  for (const r of records) outcomes[r.state] = (outcomes[r.state] ?? 0) + 1;
  const top = Object.entries(by1)
    .map(([k, v]) => [k, (v - (by0[k] ?? 0)) / count] as const)
    .filter(([, v]) => v >= 0.1)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12);
  return {
    pipeline_emails_per_s: round(count / seconds, 1),
    jobs_per_email: round((jobs1 - jobs0) / count),
    redis_commands_per_email: round((cmd1 - cmd0 - polls.commands) / count, 1),
    cpu_ms_per_email: round((cpu.user + cpu.system) / 1000 / count, 1),
    main_cpu_ms_per_email: round((main.user + main.system) / 1000 / count, 2),
    redis_cpu_ms_per_email: round(((rcpu1 - rcpu0) * 1000) / count, 2),
    redis_commands_top: Object.fromEntries(top.map(([k, v]) => [k, round(v, 2)])),
    outcomes,
  };
}

/**
 * Submit-to-rest latency at a steady arrival rate (emails/s) for `seconds`: each email's time from
 * its submit call to the ledger's `updatedAt` of its resting state.
 */
export async function benchLatency(app: AppContext, rate: number, seconds: number): Promise<{ latency_ms_p50: number; latency_ms_p99: number; latency_rate_per_s: number }> {
  const count = Math.max(10, Math.round(rate * seconds));
  const raws = corpus(count, 'l');
  const submitted: Array<{ id: EmailId; at: number }> = [];
  const before = await restingCount(app);
  const start = Date.now();
  const inFlight: Array<Promise<void>> = [];
  for (let i = 0; i < count; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const at = Date.now();
    inFlight.push(
      submitEmail(app, raws[i] as Buffer, { kind: 'file', path: `l-${i}.eml` }).then((s) => {
        submitted.push({ id: s.emailId, at });
      }),
    );
  }
  await Promise.all(inFlight);
  const records = await waitResting(app, submitted.map((s) => s.id), 300_000, before);
  const lat = records.map((r, i) => Date.parse(r.updatedAt) - (submitted[i]?.at ?? 0));
  return { latency_ms_p50: Math.round(percentile(lat, 50)), latency_ms_p99: Math.round(percentile(lat, 99)), latency_rate_per_s: round(rate, 1) };
}

/** A worker-role process (bench/role-worker.ts), started with the V8 flags Mailroom's own processes get, that has said it is ready. */
export async function spawnRole(config: Config, roles: readonly Role[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...nodeFlags.flags, '--import', 'tsx', path.join(import.meta.dirname, 'role-worker.ts'), roles.join(',')], {
    env: { ...process.env, BENCH_REDIS_URL: config.redisUrl ?? '', BENCH_PREFIX: config.prefix, BENCH_DATA_DIR: config.dataDir },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`bench: role process ${roles.join(',')} exited (${String(code)})`)));
    lines.on('line', (l) => {
      if (l.trim() === 'ready') resolve();
    });
  });
  return child;
}

/**
 * The same throughput with triage, planner and executor each in its own process; this process
 * only submits and waits. Start-up and warm-up are not timed.
 */
export async function benchSplitRoles(config: Config, count: number): Promise<{ pipeline_split_emails_per_s: number }> {
  const children = await Promise.all(ROLES.map((r) => spawnRole(config, [r])));
  const app = await createContext(config, logger);
  try {
    await warmUp(app, 'swarm');
    const before = await restingCount(app);
    const started = performance.now();
    const ids = await submitAll(app, corpus(count, 's'), 's');
    await waitResting(app, ids, 600_000, before);
    return { pipeline_split_emails_per_s: round(count / ((performance.now() - started) / 1000), 1) };
  } finally {
    await app.close();
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            c.once('exit', () => resolve());
            c.kill('SIGTERM');
          }),
      ),
    );
  }
}
