/**
 * Shared pieces of the benchmark suite (bench/index.ts): the corpus, a Mailroom context on a
 * private Redis, Redis counters, waiting for emails to rest, percentiles. Loopback only.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Redis } from '../src/queues/connection.js';
import { RESTING_STATES, type EmailRecord } from '../src/audit/email-ledger.js';
import { loadConfig, type Config } from '../src/config/config.js';
import type { AppContext } from '../src/services/services.js';
import type { EmailId } from '../src/kernel/ids.js';

export const EXAMPLES = path.resolve(import.meta.dirname, '../examples');

/** Suite-wide knobs: `--quick` shrinks every count so the whole run stays under a minute. */
export interface BenchSize {
  quick: boolean;
}

const sources = (): string[] =>
  readdirSync(path.join(EXAMPLES, 'mailbox'))
    .filter((f) => f.endsWith('.eml'))
    .sort()
    .map((f) => readFileSync(path.join(EXAMPLES, 'mailbox', f), 'latin1'));

/**
 * `count` copies of examples/mailbox, each with a fresh Message-ID so dedup does not fold them:
 * the same mix of categories, robots and attacks as the examples, in order.
 */
export function corpus(count: number, tag: string): Buffer[] {
  const src = sources();
  return Array.from({ length: count }, (_, i) => {
    const s = src[i % src.length] ?? '';
    const raw = /^message-id:/im.test(s)
      ? s.replace(/^(message-id:\s*<)([^>]*)>/im, `$1${tag}${i}.$2>`)
      : `Message-ID: <${tag}${i}@bench.example>\r\n${s}`;
    return Buffer.from(raw, 'latin1');
  });
}

/** How many distinct example emails the corpus cycles through. */
export const corpusCycle = (): number => sources().length;

/**
 * examples/mailroom.config.json against a private Redis under its own prefix. Reply limits are
 * lifted: copies of one sender's mail would trip them, and the bench measures the pipeline.
 */
export function benchConfig(opts: { redisUrl: string; prefix: string; dataDir: string; env?: Record<string, string>; overrides?: Partial<Config> }): Config {
  return loadConfig({
    env: { REDIS_URL: opts.redisUrl, MAILROOM_PREFIX: opts.prefix, MAILROOM_DATA_DIR: opts.dataDir, MAILROOM_LOG_LEVEL: 'silent', ...opts.env },
    configPath: path.join(EXAMPLES, 'mailroom.config.json'),
    overrides: {
      replyLimits: { perSenderPerDay: 1_000_000, perDomainPerHour: 1_000_000, perCasePerDay: 1_000_000, globalPerHour: 1_000_000, maxDomainShare: 1 },
      ...opts.overrides,
    },
  });
}

/** Commands Redis has run since start, summed over `INFO commandstats` (the bench's own calls included). */
export async function redisCommandCount(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  let total = 0;
  for (const m of info.matchAll(/^cmdstat_[^:]+:calls=(\d+)/gm)) total += Number(m[1]);
  return total;
}

/** Calls per command name, for a profile of where round trips go. */
export async function redisCommandsByName(redis: Redis): Promise<Record<string, number>> {
  const info = await redis.info('commandstats');
  const out: Record<string, number> = {};
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1] ?? ''] = Number(m[2]);
  return out;
}

/** CPU seconds the Redis server has used (user + system), from `INFO cpu`. */
export async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  return Number(/^used_cpu_user:([\d.]+)/m.exec(info)?.[1] ?? 0) + Number(/^used_cpu_sys:([\d.]+)/m.exec(info)?.[1] ?? 0);
}

/** `used_memory` of the Redis server, in bytes. */
export async function redisUsedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? 0);
}

/** Emails of this prefix resting now, from the ledger's per-state counts (one HGETALL). */
export async function restingCount(app: Pick<AppContext, 'ledger'>): Promise<number> {
  const counts = await app.ledger.countByState();
  return RESTING_STATES.reduce((n, s) => n + (counts[s] ?? 0), 0);
}

/**
 * Waits until every email rests (terminal or awaiting approval) and returns their records in the
 * order of `ids`. It polls the ledger's per-state counts (O(1) a poll) until `restingBefore` plus
 * the new emails rest, then reads the records once: polling every record would load Redis and this
 * process in proportion to the backlog, and so slow down what it measures.
 */
export async function waitResting(
  app: Pick<AppContext, 'ledger'>,
  ids: readonly EmailId[],
  timeoutMs: number,
  /** Resting emails of this prefix before `ids` were submitted. */
  restingBefore: number,
  /** Adds the commands this wait sent, so a command count can leave them out. */
  polls: { commands: number } = { commands: 0 },
): Promise<EmailRecord[]> {
  const unique = new Set(ids).size;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    polls.commands += 1;
    if ((await restingCount(app)) >= restingBefore + unique) break;
    if (Date.now() > deadline) throw new Error(`bench: emails did not come to rest within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  polls.commands += ids.length;
  const records = await app.ledger.getMany(ids);
  const missing = records.filter((r) => !r || !RESTING_STATES.includes(r.state)).length;
  if (missing) throw new Error(`bench: ${missing} emails are counted resting but their records are not`);
  return records.filter((r): r is EmailRecord => r !== null);
}

/** Completed + failed jobs of every queue (the catalog keeps the last 10,000 completed). */
export async function jobsDone(app: Pick<AppContext, 'queues'>): Promise<number> {
  let n = 0;
  for (const q of app.queues.all()) {
    const c = await q.getJobCounts('completed', 'failed');
    n += (c.completed ?? 0) + (c.failed ?? 0);
  }
  return n;
}

/** The p-th percentile (0–100) of `values`, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (!values.length) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0;
}

/** Runs `fn` over `items` with at most `width` in flight, keeping order of results. */
export async function mapLimit<T, R>(items: readonly T[], width: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i] as T, i);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, lane));
  return out;
}

/** Samples this process's RSS until stopped; returns the peak in MB. */
export function rssSampler(everyMs = 50): { stop(): number } {
  let peak = process.memoryUsage.rss();
  const t = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), everyMs);
  return {
    stop() {
      clearInterval(t);
      peak = Math.max(peak, process.memoryUsage.rss());
      return Math.round(peak / 1024 / 1024);
    },
  };
}

export const round = (n: number, digits = 2): number => Number(n.toFixed(digits));

/**
 * A bench driver's positional whole numbers (`npx tsx bench/x.ts [a] [b] …`), each in its range or
 * absent (its default). Anything else, or too many, exits 2 with one line giving the usage.
 */
export function wholeArgs<T extends ReadonlyArray<{ name: string; min: number; max: number; default: number | undefined }>>(
  script: string,
  specs: T,
  argv: readonly string[],
): { [K in keyof T]: T[K]['default'] extends number ? number : number | undefined } {
  const usage = `usage: ${script} ${specs.map((s) => `[${s.name} ${s.min}-${s.max}]`).join(' ')}`;
  const fail = (why: string): never => {
    process.stderr.write(`${why}; ${usage}\n`);
    process.exit(2);
  };
  if (argv.length > specs.length) fail(`bench: ${argv.length} arguments, at most ${specs.length}`);
  const values = specs.map((s, i) => {
    const a = argv[i];
    if (a === undefined) return s.default;
    const v = /^\d+$/.test(a) ? Number(a) : NaN;
    return Number.isSafeInteger(v) && v >= s.min && v <= s.max ? v : fail(`bench: ${s.name} must be a whole number from ${s.min} to ${s.max}, not ${JSON.stringify(a)}`);
  });
  // The mapped type is what `values` holds: a spec's default when absent, else a checked number.
  return values as { [K in keyof T]: T[K]['default'] extends number ? number : number | undefined };
}
