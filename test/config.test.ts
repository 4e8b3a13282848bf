import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';

const ROOT = path.resolve(import.meta.dirname, '..');

describe('loadConfig', () => {
  it.each([
    ['examples/mailroom.config.json', {}],
    ['deploy/mailroom.config.example.json', { SUPPORT_IMAP_PASSWORD: 'x' }],
    ['deploy/dev/mailroom.config.json', { SUPPORT_IMAP_PASSWORD: 'x' }],
  ])('accepts the shipped config %s', (file, env) => {
    const config = loadConfig({ env, configPath: path.join(ROOT, file) });
    expect(config.mailbox.address).toMatch(/@/);
  });

  it('defaults to the embedded Redis and the offline provider with no environment at all', () => {
    const config = loadConfig({ env: {}, cwd: '/tmp' });
    expect(config).toMatchObject({ redisUrl: undefined, openai: undefined, prefix: '{mailroom}', dataDir: '/tmp/.mailroom' });
  });

  it('reports every problem in one error with its path and a stable code', () => {
    let caught: unknown;
    try {
      loadConfig({ env: { REDIS_URL: 'not a url', MAILROOM_PREFIX: 'no-hash-tag' }, cwd: '/tmp' });
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code: 'CONFIG_INVALID' });
    expect(String((caught as Error).message)).toContain('REDIS_URL');
  });

  it('refuses a prefix without a hash tag (Redis Cluster would split the keys)', () => {
    expect(() => loadConfig({ env: { MAILROOM_PREFIX: 'mailroom' }, cwd: '/tmp' })).toThrow(/hash-tagged/);
  });
});
