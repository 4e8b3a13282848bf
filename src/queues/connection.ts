import { readFileSync } from 'node:fs';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { Cluster, Redis as SingleRedis } from 'ioredis';
import { z } from 'zod';
import { MailroomError } from '../kernel/errors.js';

/**
 * A connection Mailroom and BullMQ talk through: one Redis server, or a Redis Cluster. Every key
 * shares the hash-tagged prefix, so everything (BullMQ's scripts, our MULTI and Lua) runs on one
 * slot of a cluster, and code written against one type works on the other.
 */
export type Redis = SingleRedis | Cluster;

/** One seed node of a Redis Cluster. */
export const RedisNode = z.object({ host: z.string().min(1), port: z.number().int().min(1).max(65535) });
export type RedisNode = z.infer<typeof RedisNode>;

/**
 * Where Redis is, parsed once from `REDIS_URL` / `REDIS_CLUSTER_NODES`:
 * - `redis://[user:pass@]host:port[/db]`, `rediss://…` (TLS): one server;
 * - `redis+cluster://[user:pass@]h1:p1,h2:p2,…`, `rediss+cluster://…` (TLS): a cluster, from any
 *   of its nodes (the others are discovered).
 */
export const RedisTarget = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('single'), url: z.string().min(1), tls: z.boolean() }),
  z.object({
    kind: z.literal('cluster'),
    nodes: z.array(RedisNode).min(1),
    tls: z.boolean(),
    username: z.string().optional(),
    password: z.string().optional(),
  }),
]);
export type RedisTarget = z.infer<typeof RedisTarget>;

/** How to connect beyond the target: a private CA for a managed Redis with its own certificates. */
export interface RedisConnectOptions {
  /** PEM file of the CA that signed the server's certificate (`REDIS_TLS_CA_FILE`). @defaultValue the system CAs */
  tlsCaFile?: string;
}

const CLUSTER_SCHEME = /^(rediss?)\+cluster:\/\/(?:([^@/]*)@)?([^/?#]+)\/?$/i;

function parseNodes(list: string, where: string): RedisNode[] {
  const nodes = list.split(',').map((s) => s.trim()).filter(Boolean);
  if (nodes.length === 0) throw new MailroomError('CONFIG_INVALID', `${where}: name at least one cluster node as host:port`);
  return nodes.map((hp) => {
    const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+):(\d{1,5})$/i.exec(hp);
    const port = Number(m?.[2]);
    if (!m?.[1] || !(port >= 1 && port <= 65535)) {
      throw new MailroomError('CONFIG_INVALID', `${where}: "${hp}" is not host:port`);
    }
    return { host: m[1].replace(/^\[|\]$/g, ''), port };
  });
}

/**
 * Parses `REDIS_URL` (one server or a `redis+cluster://` URL) or `REDIS_CLUSTER_NODES`
 * (`h1:p1,h2:p2`); one clear MAILROOM_CONFIG_INVALID naming the setting when it does not parse.
 */
export function parseRedisTarget(value: { url?: string; clusterNodes?: string }): RedisTarget | undefined {
  if (value.url !== undefined && value.clusterNodes !== undefined) {
    throw new MailroomError('CONFIG_INVALID', 'set REDIS_URL or REDIS_CLUSTER_NODES, not both (a cluster with a password or TLS: REDIS_URL=rediss+cluster://user:pass@h1:p1,h2:p2)');
  }
  if (value.clusterNodes !== undefined) {
    return { kind: 'cluster', nodes: parseNodes(value.clusterNodes, 'REDIS_CLUSTER_NODES'), tls: false };
  }
  const url = value.url;
  if (url === undefined) return undefined;
  const cluster = CLUSTER_SCHEME.exec(url);
  if (cluster) {
    const [, scheme = '', auth, hosts = ''] = cluster;
    const colon = auth === undefined ? -1 : auth.indexOf(':');
    const username = auth === undefined ? '' : decodeURIComponent(colon < 0 ? auth : auth.slice(0, colon));
    const password = auth === undefined || colon < 0 ? '' : decodeURIComponent(auth.slice(colon + 1));
    return {
      kind: 'cluster',
      nodes: parseNodes(hosts, 'REDIS_URL'),
      tls: scheme.toLowerCase() === 'rediss',
      ...(username ? { username } : {}),
      ...(password ? { password } : {}),
    };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new MailroomError('CONFIG_INVALID', 'REDIS_URL must be a URL such as redis://127.0.0.1:6379, rediss://user:pass@host:6380 or redis+cluster://h1:7000,h2:7001');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new MailroomError('CONFIG_INVALID', `REDIS_URL: scheme ${parsed.protocol} is not one of redis:, rediss:, redis+cluster:, rediss+cluster:`);
  }
  return { kind: 'single', url, tls: parsed.protocol === 'rediss:' };
}

/** The target as one line for messages and logs, without any password. */
export function describeRedisTarget(target: RedisTarget | string): string {
  if (typeof target === 'string') return redactUrl(target);
  if (target.kind === 'single') return redactUrl(target.url);
  const auth = target.password ? `${target.username ?? ''}:***@` : target.username ? `${target.username}@` : '';
  return `${target.tls ? 'rediss' : 'redis'}+cluster://${auth}${target.nodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
}

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
