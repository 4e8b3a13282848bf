/**
 * The pipeline figure alone, for profiling and for A/B runs of one change:
 *   npx tsx bench/profile-pipeline.ts [count] [concurrency]
 *   node --import tsx --cpu-prof bench/profile-pipeline.ts 400
 * Prints one JSON line (throughput, jobs, Redis commands and CPU per email).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTestRedis } from '../test/harness/redis.js';
import { benchConfig } from './lib.js';
import { benchPipeline, startMailroom } from './pipeline.js';

const count = Number(process.argv[2] ?? 300);
const concurrency = process.argv[3] ? Number(process.argv[3]) : undefined;
const redis = await startTestRedis();
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-bench-'));
const mailroom = await startMailroom(benchConfig({ redisUrl: redis.url, prefix: redis.prefix(), dataDir, ...(concurrency ? { overrides: { concurrency } } : {}) }));
const result = await benchPipeline(mailroom.app, count);
process.stdout.write(`${JSON.stringify({ concurrency: mailroom.app.config.concurrency, ...result })}\n`);
await mailroom.stop();
await redis.close();
rmSync(dataDir, { recursive: true, force: true });
process.exit(0);
