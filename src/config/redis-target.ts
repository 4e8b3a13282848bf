import { z } from 'zod';
import { MailroomError } from '../kernel/errors.js';

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

const CLUSTER_SCHEME = /^(rediss?)\+cluster:\/\/(?:([^@/]*)@)?([^/?#]+)\/?$/i;

function parseNodes(list: string, where: string): RedisNode[] {
  const nodes = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (nodes.length === 0)
    throw new MailroomError('CONFIG_INVALID', `${where}: name at least one cluster node as host:port`);
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
    throw new MailroomError(
      'CONFIG_INVALID',
      'set REDIS_URL or REDIS_CLUSTER_NODES, not both (a cluster with a password or TLS: REDIS_URL=rediss+cluster://user:pass@h1:p1,h2:p2)',
    );
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
    throw new MailroomError(
      'CONFIG_INVALID',
      'REDIS_URL must be a URL such as redis://127.0.0.1:6379, rediss://user:pass@host:6380 or redis+cluster://h1:7000,h2:7001',
    );
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new MailroomError(
      'CONFIG_INVALID',
      `REDIS_URL: scheme ${parsed.protocol} is not one of redis:, rediss:, redis+cluster:, rediss+cluster:`,
    );
  }
  return { kind: 'single', url, tls: parsed.protocol === 'rediss:' };
}

/** The target as one line for messages and logs, without any password. */
export function describeRedisTarget(target: RedisTarget | string): string {
  if (typeof target === 'string') return redactUrl(target);
  if (target.kind === 'single') return redactUrl(target.url);
  const auth = target.password
    ? `${target.username ?? ''}:***@`
    : target.username
      ? `${target.username}@`
      : '';
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
