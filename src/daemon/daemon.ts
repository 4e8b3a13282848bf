import type { Config } from '../config.js';
import { createContext } from '../context.js';
import type { Logger } from '../logger.js';
import { startWorkers } from './workers.js';

/** How long shutdown may take before the process exits anyway. */
const SHUTDOWN_BOUND_MS = 30_000;

/** `mailroom start`: all roles in one process until SIGTERM/SIGINT, then a bounded clean stop. */
export async function runDaemon(config: Config, logger: Logger): Promise<void> {
  const app = await createContext(config, logger);
  const workers = startWorkers(app);
  logger.info({ provider: app.llm.mode, redis: app.embeddedRedis ? 'embedded' : 'external', roles: ['ingest', 'planner', 'executor'] }, 'mailroom started');
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'stopping');
      const timer = setTimeout(() => {
        logger.error('shutdown bound exceeded; exiting');
        process.exit(1);
      }, SHUTDOWN_BOUND_MS);
      timer.unref();
      void workers
        .close()
        .then(() => app.close())
        .finally(() => {
          clearTimeout(timer);
          resolve();
        });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  logger.info('stopped');
}
