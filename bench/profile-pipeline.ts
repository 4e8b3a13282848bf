/**
 * The pipeline figure alone, for profiling and for A/B runs of one change:
 *   npx tsx bench/profile-pipeline.ts [count] [concurrency]
 *   BENCH_CPU_PROFILE=out.cpuprofile npx tsx bench/profile-pipeline.ts 1000
 * Prints one JSON line (throughput, jobs, Redis commands and CPU per email). With
 * `BENCH_CPU_PROFILE` the main thread's CPU profile of the timed part only (no start-up, no
 * warm-up) is written there; `node --cpu-prof` profiles the whole process instead.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import os from 'node:os';
import path from 'node:path';
import { startTestRedis } from '../test/harness/redis.js';
import { benchConfig } from './lib.js';
import { benchPipeline, startMailroom } from './pipeline.js';

const count = Number(process.argv[2] ?? 300);
const concurrency = process.argv[3] ? Number(process.argv[3]) : undefined;
const profileTo = process.env.BENCH_CPU_PROFILE;
const redis = await startTestRedis();
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-bench-'));
const mailroom = await startMailroom(benchConfig({ redisUrl: redis.url, prefix: redis.prefix(), dataDir, ...(concurrency ? { overrides: { concurrency } } : {}) }));
const session = profileTo ? new Session() : undefined;
if (session) {
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
}
const result = await benchPipeline(mailroom.app, count);
if (session && profileTo) {
  const { profile } = await session.post('Profiler.stop');
  writeFileSync(profileTo, JSON.stringify(profile));
  session.disconnect();
}
process.stdout.write(`${JSON.stringify({ concurrency: mailroom.app.config.concurrency, ...result })}\n`);
await mailroom.stop();
await redis.close();
rmSync(dataDir, { recursive: true, force: true });
process.exit(0);
