/**
 * A backlog: N emails submitted with no worker running (an outage, a burst), then the workers of
 * one process start on it for a while. Peak RSS of that process, and Redis memory per queued email
 * beyond the raw message itself (ledger record, audit entry, ingest job, indexes).
 *
 * Alone, for A/B runs of a memory change (a private redis-server, one JSON line):
 *   npx tsx bench/backlog.ts [emails] [drainSeconds]    (defaults 5000 and 2, the --quick sizes)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestRedis } from '../test/harness/redis.js';
import { createContext } from '../src/app/context.js';
import { ROLES } from '../src/run/handlers.js';
import { closeParseThreads } from '../src/ingest/parse-isolated.js';
import { submitEmail } from '../src/ingest/submit.js';
import { createLogger } from '../src/kernel/logger.js';
import type { Config } from '../src/config/config.js';
import { benchConfig, corpus, mapLimit, redisUsedMemory, round, rssSampler, wholeArgs } from './lib.js';
import { spawnRole } from './pipeline.js';

/** A process's peak (VmHWM) or current (VmRSS) RSS in MB from /proc (Linux); null where that is not available. */
function procRssMb(pid: number | undefined, field: 'VmHWM' | 'VmRSS' = 'VmHWM'): number | null {
  try {
    const kb = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${String(pid)}/status`, 'utf8'))?.[1];
    return kb ? Math.round(Number(kb) / 1024) : null;
  } catch {
    return null;
  }
}

export interface BacklogResult {
  backlog_emails: number;
  /** Peak RSS of a Mailroom process working on the backlog (VmHWM; this process's where /proc is missing). */
  rss_mb_peak: number;
  /** Its RSS once its workers were ready, before the first job: what start-up alone costs (absent without /proc). */
  rss_mb_ready?: number;
  /** Peak RSS of the bench process that submitted the backlog. */
  rss_mb_peak_submitter: number;
  redis_bytes_per_queued_email: number;
  /** How long the submissions took (the backlog's own ingest rate). */
  backlog_submit_emails_per_s: number;
}

export async function benchBacklog(config: Config, opts: { emails: number; drainSeconds: number }): Promise<BacklogResult> {
  const app = await createContext(config, createLogger({ level: 'silent' }));
  const rss = rssSampler();
  try {
    const mem0 = await redisUsedMemory(app.redis);
    let rawBytes = 0;
    const started = performance.now();
    // Built in slices so the bench's own copies of the mail do not count as Mailroom's memory.
    for (let at = 0; at < opts.emails; at += 1000) {
      const raws = corpus(Math.min(1000, opts.emails - at), `b${at}-`);
      for (const r of raws) rawBytes += r.length;
      await mapLimit(raws, 64, (raw, i) => submitEmail(app, raw, { kind: 'file', path: `b-${at + i}.eml` }));
    }
    const submitSeconds = (performance.now() - started) / 1000;
    const mem1 = await redisUsedMemory(app.redis);
    const submitterRss = rss.stop();
    // A Mailroom process (every worker role) starts on the backlog: its peak RSS, parse threads
    // included, while it pulls from a queue this deep. Its own process, so the bench's submitting
    // does not count.
    const child = await spawnRole(config, ROLES);
    const ready = procRssMb(child.pid, 'VmRSS');
    await new Promise((r) => setTimeout(r, opts.drainSeconds * 1000));
    const peak = procRssMb(child.pid);
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
    return {
      backlog_emails: opts.emails,
      rss_mb_peak: peak ?? submitterRss,
      ...(ready === null ? {} : { rss_mb_ready: ready }),
      rss_mb_peak_submitter: submitterRss,
      redis_bytes_per_queued_email: Math.round((mem1 - mem0 - rawBytes) / opts.emails),
      backlog_submit_emails_per_s: round(opts.emails / submitSeconds, 1),
    };
  } finally {
    rss.stop();
    await app.close();
    await closeParseThreads();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [emails, drainSeconds] = wholeArgs(
    'backlog.ts',
    [
      { name: 'emails', min: 1, max: 1_000_000, default: 5000 },
      { name: 'drainSeconds', min: 1, max: 3600, default: 2 },
    ] as const,
    process.argv.slice(2),
  );
  const redis = await startTestRedis();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-bench-'));
  try {
    const result = await benchBacklog(benchConfig({ redisUrl: redis.url, prefix: redis.prefix(), dataDir }), { emails, drainSeconds });
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await redis.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  process.exit(0);
}
