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
import { benchConfig, wholeArgs } from './lib.js';
import { benchPipeline, startMailroom } from './pipeline.js';

const [count, concurrency] = wholeArgs(
  'profile-pipeline.ts',
  [
    { name: 'count', min: 1, max: 1_000_000, default: 300 },
    { name: 'concurrency', min: 1, max: 256, default: undefined },
  ] as const,
  process.argv.slice(2),
);
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
