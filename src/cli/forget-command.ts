import type { Config } from '../config/config.js';
import { createContext } from '../app/context.js';
import { forgetCustomer, type ForgetResult } from '../run/forget.js';
import type { Logger } from '../kernel/logger.js';

/**
 * `mailroom forget <address> --by NAME`: erases the customer's emails from Redis and the history
 * store (src/run/forget.ts) and records who, when and how many, never the address.
 */
export async function runForget(config: Config, logger: Logger, options: { address: string; by: string }): Promise<ForgetResult> {
  const app = await createContext(config, logger, { attachToRunning: true });
  try {
    return await forgetCustomer(
      { redis: app.redis, keys: app.keys, queues: app.queues, store: app.history, outboxDir: config.smtp.outboxDir, clock: app.clock },
      options,
    );
  } finally {
    await app.close();
  }
}
