import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { MailroomError } from '../../src/kernel/errors.js';
import { describeRedisTarget, parseRedisTarget } from '../../src/config/redis-target.js';

describe('parseRedisTarget', () => {
  it('reads one server, with or without TLS', () => {
    expect(parseRedisTarget({ url: 'redis://127.0.0.1:6379' })).toEqual({ kind: 'single', url: 'redis://127.0.0.1:6379', tls: false });
    expect(parseRedisTarget({ url: 'rediss://default:s3cret@cache.example:6380/0' })).toMatchObject({ kind: 'single', tls: true });
  });

  it('reads a cluster from a redis+cluster:// URL, with credentials and TLS', () => {
    expect(parseRedisTarget({ url: 'rediss+cluster://app:p%40ss@10.0.0.1:7000,10.0.0.2:7001' })).toEqual({
      kind: 'cluster',
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
      ],
      tls: true,
      username: 'app',
      password: 'p@ss',
    });
    expect(parseRedisTarget({ clusterNodes: 'a:7000, b:7001,[::1]:7002' })).toEqual({
      kind: 'cluster',
      nodes: [
        { host: 'a', port: 7000 },
        { host: 'b', port: 7001 },
        { host: '::1', port: 7002 },
      ],
      tls: false,
    });
  });

  it('names the setting when it does not parse, and never prints a password', () => {
    for (const bad of [{ url: 'http://x:1' }, { url: 'not a url' }, { clusterNodes: 'a' }, { clusterNodes: 'a:99999' }, { url: 'redis://a:1', clusterNodes: 'b:2' }]) {
      expect(() => parseRedisTarget(bad), JSON.stringify(bad)).toThrow(MailroomError);
    }
    const target = parseRedisTarget({ url: 'rediss+cluster://app:hunter2@h:7000' });
    expect(target && describeRedisTarget(target)).toBe('rediss+cluster://app:***@h:7000');
  });

  it('loadConfig reports a bad REDIS_CLUSTER_NODES as a config error at start', () => {
    expect(() => loadConfig({ env: { REDIS_CLUSTER_NODES: 'h1' } })).toThrow(/REDIS_CLUSTER_NODES/);
    expect(loadConfig({ env: { REDIS_CLUSTER_NODES: 'h1:7000,h2:7001' } }).redisUrl).toBe('redis+cluster://h1:7000,h2:7001');
  });
});
