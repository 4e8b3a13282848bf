import { startTestRedis } from '../test/harness/redis.js';
import { benchConfig } from './lib.js';
import { benchPipeline, startMailroom } from './pipeline.js';
import { mkdtempSync } from 'node:fs';
const redis = await startTestRedis();
const m = await startMailroom(benchConfig({ redisUrl: redis.url, prefix: redis.prefix(), dataDir: mkdtempSync('/tmp/mb-') }));
const r = await benchPipeline(m.app, Number(process.argv[2] ?? 300));
process.stdout.write(`${JSON.stringify(r)}\n`);
await m.stop(); await redis.close(); process.exit(0);
