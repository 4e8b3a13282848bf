import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.js';
import { createContext } from '../context.js';
import { startWorkers } from '../daemon/workers.js';
import { MailroomError } from '../errors.js';
import type { EmailId } from '../ids.js';
import { submitEmail } from '../ingest/submit.js';
import type { Logger } from '../logger.js';
import { RESTING_STATES, type EmailRecord } from '../audit/email-ledger.js';
import { DeadLetterJob } from '../queues/catalog.js';
import { collectEmailFiles } from './collect-files.js';
import { summarize, type ProcessSummary } from './summary.js';

export interface ProcessOptions {
  paths: readonly string[];
  /** Give up waiting after this long; unfinished emails count as lost. */
  timeoutMs: number;
  /** Called as emails come to rest: (resting, total). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * `mailroom process`: enqueue every message, run all roles in this process until each email
 * rests (a terminal state or awaiting approval), and summarise.
 */
export async function runProcess(config: Config, logger: Logger, options: ProcessOptions): Promise<ProcessSummary> {
  const files = collectEmailFiles(options.paths);
  const started = Date.now();
  const app = await createContext(config, logger);
  const workers = startWorkers(app);
  try {
    const entries: Array<{ file: string; emailId: EmailId; duplicate: boolean }> = [];
    for (const file of files) {
      const raw = readFileSync(file);
      const sub = await submitEmail(app, raw, { kind: 'file', path: path.resolve(file) });
      entries.push({ file: path.relative(process.cwd(), file) || file, ...sub });
    }
    const ids = entries.map((e) => e.emailId);
    const deadline = Date.now() + options.timeoutMs;
    const records: Array<EmailRecord | null> = ids.map(() => null);
    // Only emails not yet at rest are read again: a resting email stays put while this runs, and
    // reading every record every poll would load Redis in proportion to the batch.
    let pending = ids.map((_, i) => i);
    for (;;) {
      const fresh = await app.ledger.getMany(pending.map((i) => ids[i] as EmailId));
      pending.forEach((at, k) => (records[at] = fresh[k] ?? null));
      pending = pending.filter((at) => !isResting(records[at] ?? null));
      options.onProgress?.(ids.length - pending.length, ids.length);
      if (pending.length === 0 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const usage = app.llm.usage();
    return summarize(
      entries.map((e, i) => ({ ...e, record: records[i] ?? null })),
      { llm: { provider: app.llm.mode, calls: usage.calls, byRole: usage.byRole }, elapsedMs: Date.now() - started },
    );
  } finally {
    await workers.close();
    await app.close();
  }
}

function isResting(record: EmailRecord | null): boolean {
  return record !== null && RESTING_STATES.includes(record.state);
}

/** `mailroom status`: counts by state and the latest emails. */
export async function runStatus(config: Config, logger: Logger, limit: number) {
  if (!config.redisUrl && !existsData(config)) {
    throw new MailroomError('INPUT_NOT_FOUND', `no Mailroom data in ${config.dataDir}; run \`mailroom process\` or set REDIS_URL`);
  }
  const app = await createContext(config, logger);
  try {
    const recent = await app.ledger.list(limit);
    const total = await app.ledger.count();
    // The ledger keeps per-state counts on every transition (the same numbers /metrics serves).
    const counts = Object.fromEntries(Object.entries(await app.ledger.countByState()).filter(([, n]) => (n ?? 0) > 0));
    const queues: Record<string, Record<string, number>> = {};
    for (const q of app.queues.all()) queues[q.name] = await q.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed');
    const deadLetters = (await app.queues.get('deadLetter').getJobs(['waiting', 'completed', 'failed'], 0, limit - 1))
      .map((j) => DeadLetterJob.safeParse(j.data))
      .flatMap((r) => (r.success ? [r.data] : []));
    const stats = await app.redis.hgetall(app.keys.stats());
    const planCache = { hits: Number(stats.plan_cache_hits ?? 0), misses: Number(stats.plan_cache_misses ?? 0) };
    return { total, states: counts, queues, planCache, deadLetters, recent };
  } finally {
    await app.close();
  }
}

function existsData(config: Config): boolean {
  try {
    readFileSync(path.join(config.dataDir, 'redis', 'appendonlydir', 'appendonly.aof.manifest'));
    return true;
  } catch {
    return false;
  }
}
