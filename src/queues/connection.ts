import { readFileSync } from 'node:fs';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { Cluster, Redis as SingleRedis } from 'ioredis';
import { MailroomError } from '../kernel/errors.js';
import { describeRedisTarget, parseRedisTarget, type RedisTarget } from '../config/redis-target.js';

/**
 * A connection Mailroom and BullMQ talk through: one Redis server, or a Redis Cluster. Every key
 * shares the hash-tagged prefix, so everything (BullMQ's scripts, our MULTI and Lua) runs on one
 * slot of a cluster, and code written against one type works on the other.
 */
export type Redis = SingleRedis | Cluster;

/** How to connect beyond the target: a private CA for a managed Redis with its own certificates. */
export interface RedisConnectOptions {
  /** PEM file of the CA that signed the server's certificate (`REDIS_TLS_CA_FILE`). @defaultValue the system CAs */
  tlsCaFile?: string;
}

function tlsOptions(target: RedisTarget, options: RedisConnectOptions): TlsOptions | undefined {
  if (!target.tls) return undefined;
  if (!options.tlsCaFile) return {};
  try {
    return { ca: readFileSync(options.tlsCaFile) };
  } catch (err) {
    throw new MailroomError('CONFIG_INVALID', `REDIS_TLS_CA_FILE ${options.tlsCaFile} cannot be read`, { cause: err });
  }
}

/** Per-connection settings shared by probes and long-lived clients. */
interface ClientSettings {
  name: string;
  /** Long-lived clients (BullMQ's too) need null: blocking commands must survive reconnects. */
  maxRetriesPerRequest: number | null;
  lazyConnect: boolean;
  /** Probes give up at once instead of reconnecting. */
  probe: boolean;
  connectTimeout?: number;
  /** Commands issued in the same tick leave in one write (ioredis auto-pipelining). */
  autoPipelining?: boolean;
}

function build(target: RedisTarget, options: RedisConnectOptions, s: ClientSettings): Redis {
  const tls = tlsOptions(target, options);
  const base = {
    connectionName: `mailroom:${s.name}`,
    maxRetriesPerRequest: s.maxRetriesPerRequest,
    ...(tls ? { tls } : {}),
    ...(s.connectTimeout !== undefined ? { connectTimeout: s.connectTimeout } : {}),
    ...(s.probe ? { retryStrategy: () => null, enableOfflineQueue: false } : {}),
    ...(s.autoPipelining ? { enableAutoPipelining: true } : {}),
  };
  if (target.kind === 'single') return new SingleRedis(target.url, { ...base, lazyConnect: s.lazyConnect });
  return new Cluster(target.nodes, {
    lazyConnect: s.lazyConnect,
    redisOptions: {
      ...base,
      ...(target.username ? { username: target.username } : {}),
      ...(target.password ? { password: target.password } : {}),
    },
    // Managed clusters behind TLS announce node addresses their certificates name; keep them as announced.
    ...(tls ? { dnsLookup: (address: string, callback: (err: null, address: string) => void) => callback(null, address) } : {}),
    // A failover or a restarted node: wait and retry rather than fail the command.
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 500,
    retryDelayOnTryAgain: 200,
    ...(s.probe ? { clusterRetryStrategy: () => null, enableOfflineQueue: false } : {}),
    ...(s.autoPipelining ? { enableAutoPipelining: true } : {}),
  });
}

/**
 * Checks that Redis answers before anything else starts, so a wrong REDIS_URL is one clear error
 * instead of an endless reconnect loop. A cluster must also report `cluster_state:ok`.
 */
export async function assertRedisReachable(target: RedisTarget | string, timeoutMs = 3_000, options: RedisConnectOptions = {}): Promise<void> {
  const t = typeof target === 'string' ? toTarget(target) : target;
  const probe = build(t, options, { name: 'probe', maxRetriesPerRequest: 0, lazyConnect: true, probe: true, connectTimeout: timeoutMs });
  probe.on('error', () => undefined);
  try {
    await withTimeout(probe.connect(), timeoutMs);
    await withTimeout(probe.ping(), timeoutMs);
    if (probe instanceof Cluster) {
      const info = await withTimeout(probe.cluster('INFO'), timeoutMs);
      if (!/cluster_state:ok/.test(String(info))) throw new Error('the cluster reports a state other than ok');
    }
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new MailroomError(
      'REDIS_UNREACHABLE',
      `Redis at ${describeRedisTarget(t)} is unreachable (${reason}); start it, fix REDIS_URL / REDIS_CLUSTER_NODES, or unset them to use the embedded redis-server`,
      { cause: err },
    );
  } finally {
    probe.disconnect();
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

function toTarget(url: string): RedisTarget {
  const t = parseRedisTarget({ url });
  if (!t) throw new MailroomError('CONFIG_INVALID', 'a Redis URL is required');
  return t;
}

/**
 * The one Redis connection factory (a single server or a cluster). BullMQ workers need
 * `maxRetriesPerRequest: null` so that blocking commands survive reconnects; the same settings
 * suit our own commands, which wait out a Redis restart instead of failing the job.
 * `autoPipelining` sends the commands issued in one tick in one write: for Mailroom's own
 * connection (many jobs' writes at once), not BullMQ's, where ioredis would copy every Lua
 * script BullMQ defines into each tick's pipeline.
 */
export function createRedis(target: RedisTarget | string, name: string, options: RedisConnectOptions & { autoPipelining?: boolean } = {}): Redis {
  const t = typeof target === 'string' ? toTarget(target) : target;
  const { autoPipelining, ...connect } = options;
  const redis = build(t, connect, { name, maxRetriesPerRequest: null, lazyConnect: false, probe: false, ...(autoPipelining ? { autoPipelining } : {}) });
  // Errors surface through the commands that fail; an unhandled 'error' event would kill the process.
  redis.on('error', () => undefined);
  return redis;
}

/**
 * Every key matching `match`, a `SCAN` page at a time. On a Redis Cluster each master is
 * scanned (SCAN sees one node's keys; the hash tag puts ours on one of them).
 */
export async function* scanKeys(redis: Redis, match: string): AsyncGenerator<string[]> {
  const nodes: SingleRedis[] = redis instanceof Cluster ? redis.nodes('master') : [redis];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', match, 'COUNT', 1000);
      cursor = next;
      if (found.length) yield found;
    } while (cursor !== '0');
  }
}
