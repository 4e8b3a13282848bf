/**
 * A backlog: N emails submitted with no worker running (an outage, a burst), then the workers of
 * one process start on it for a while. Peak RSS of that process, and Redis memory per queued email
 * beyond the raw message itself (ledger record, audit entry, ingest job, indexes).
 */
import { createContext } from '../src/context.js';
import { readFileSync } from 'node:fs';
import { ROLES } from '../src/daemon/workers.js';
import { closeParseThreads } from '../src/ingest/parse-isolated.js';
import { submitEmail } from '../src/ingest/submit.js';
import { createLogger } from '../src/logger.js';
import type { Config } from '../src/config.js';
import { corpus, mapLimit, redisUsedMemory, round, rssSampler } from './lib.js';
import { spawnRole } from './pipeline.js';

/** A process's peak RSS in MB from /proc (Linux); null where that is not available. */
function peakRssMb(pid: number | undefined): number | null {
  try {
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${String(pid)}/status`, 'utf8'))?.[1];
    return kb ? Math.round(Number(kb) / 1024) : null;
  } catch {
    return null;
  }
}

export interface BacklogResult {
  backlog_emails: number;
  /** Peak RSS of a Mailroom process working on the backlog (VmHWM; this process's where /proc is missing). */
  rss_mb_peak: number;
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
    await new Promise((r) => setTimeout(r, opts.drainSeconds * 1000));
    const peak = peakRssMb(child.pid);
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
    return {
      backlog_emails: opts.emails,
      rss_mb_peak: peak ?? submitterRss,
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
