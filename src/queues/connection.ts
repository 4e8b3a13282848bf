import { Redis } from 'ioredis';
import { MailroomError } from '../errors.js';

export type { Redis };

/** The URL with any password replaced, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(invalid URL)';
  }
}

/**
 * Checks that Redis answers before anything else starts, so a wrong REDIS_URL is one clear error
 * instead of an endless reconnect loop.
 */
export async function assertRedisReachable(url: string, timeoutMs = 3_000): Promise<void> {
  const probe = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    await probe.ping();
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new MailroomError(
      'REDIS_UNREACHABLE',
      `Redis at ${redactUrl(url)} is unreachable (${reason}); start it, fix REDIS_URL, or unset REDIS_URL to use the embedded redis-server`,
      { cause: err },
    );
  } finally {
    probe.disconnect();
  }
}

/**
 * The one Redis connection factory. BullMQ workers need `maxRetriesPerRequest: null` so that
 * blocking commands survive reconnects; the same settings suit our own commands.
 */
export function createRedis(url: string, name: string): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: null, connectionName: `mailroom:${name}` });
  // Errors surface through the commands that fail; an unhandled 'error' event would kill the process.
  redis.on('error', () => undefined);
  return redis;
}
