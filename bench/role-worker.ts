/**
 * A child process of the split-roles benchmark: the given worker roles (comma-separated argv[2])
 * against the bench's Redis and prefix, with the bench's config. Prints `ready` once its workers
 * run; stops cleanly on SIGTERM.
 */
import { createContext } from '../src/app/context.js';
import { startWorkers } from '../src/app/workers.js';
import { ROLES, type Role } from '../src/run/handlers.js';
import { closeParseThreads } from '../src/ingest/parse-isolated.js';
import { createLogger } from '../src/kernel/logger.js';
import { benchConfig } from './lib.js';

const isRole = (r: string): r is Role => (ROLES as readonly string[]).includes(r);
const roles = (process.argv[2] ?? '').split(',').filter(isRole);
const config = benchConfig({
  redisUrl: process.env.BENCH_REDIS_URL ?? '',
  prefix: process.env.BENCH_PREFIX ?? '',
  dataDir: process.env.BENCH_DATA_DIR ?? '',
});
const app = await createContext(config, createLogger({ level: 'silent' }));
const workers = startWorkers(app, roles);
await Promise.all(workers.workers.map((w) => w.waitUntilReady()));
process.stdout.write('ready\n');
process.once('SIGTERM', () => {
  void (async () => {
    await workers.close();
    await app.close();
    await closeParseThreads();
    process.exit(0);
  })();
});
