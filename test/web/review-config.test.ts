import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { authenticate, isLoopback, webAuthFor } from '../../src/web/auth.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-review-config-'));
function configFile(json: unknown): string {
  const file = path.join(dir, `c${Math.random().toString(16).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(json));
  return file;
}
const basic = (n: string, p: string) => `Basic ${Buffer.from(`${n}:${p}`).toString('base64')}`;

describe('review configuration', () => {
  it('reads named reviewers from MAILROOM_REVIEWERS and from the config file (passwords from the environment)', () => {
    const config = loadConfig({
      env: { MAILROOM_REVIEWERS: 'alice:a:b:c, bob:pw2', CAROL_PW: 'pw3' },
      configPath: configFile({ approval: { reviewers: [{ name: 'carol', password: { env: 'CAROL_PW' } }] } }),
    });
    expect(config.approval.reviewers).toEqual([
      { name: 'carol', password: 'pw3' },
      { name: 'alice', password: 'a:b:c' },
      { name: 'bob', password: 'pw2' },
    ]);
    const auth = webAuthFor(config);
    expect(auth.generated).toBe(false);
    expect(authenticate(auth, basic('alice', 'a:b:c'))).toBe('alice');
    expect(authenticate(auth, basic('bob', 'pw3'))).toBeNull();
    expect(authenticate(auth, basic('carol', 'pw3'))).toBe('carol');
    expect(authenticate(auth, undefined)).toBeNull();
    expect(authenticate(auth, 'Basic !!!')).toBeNull();
  });

  it('names every problem: a missing password variable, a malformed entry, a duplicate name', () => {
    const file = configFile({ approval: { reviewers: [{ name: 'carol', password: { env: 'NOT_SET' } }] } });
    expect(() => loadConfig({ env: { MAILROOM_REVIEWERS: 'nopassword,carol:x' }, configPath: file })).toThrow(
      /approval\.reviewers\.0\.password: environment variable NOT_SET is not set; MAILROOM_REVIEWERS: each entry is name:password/,
    );
    expect(() => loadConfig({ env: { MAILROOM_REVIEWERS: 'bob:x,bob:y' } })).toThrow(/reviewer names must be unique/);
    // Commands that never serve the web or touch IMAP do not need any of these secrets.
    expect(loadConfig({ env: {}, configPath: file, withoutSecrets: true }).approval.reviewers).toEqual([]);
  });

  it('without reviewers, one password is generated per start; only loopback counts as loopback', () => {
    const config = loadConfig({ env: {} });
    const [a, b] = [webAuthFor(config), webAuthFor(config)];
    expect(a.generated).toBe(true);
    expect(a.reviewers[0]?.password).not.toBe(b.reviewers[0]?.password);
    expect(a.reviewers[0]?.password.length).toBeGreaterThanOrEqual(20);
    expect(['127.0.0.1', '127.1.2.3', '::1', 'localhost'].every(isLoopback)).toBe(true);
    expect(['0.0.0.0', '::', '10.0.0.1', '127.0.0.1.nip.io', 'localhost.example'].some(isLoopback)).toBe(false);
  });

  it('a deadline in seconds or as 90m/48h/7d; content never expires before the deadline', () => {
    expect(loadConfig({ env: {} }).approval.deadlineSeconds).toBe(48 * 3600);
    expect(loadConfig({ env: {}, configPath: configFile({ approval: { deadline: '90m' } }) }).approval.deadlineSeconds).toBe(5400);
    const long = loadConfig({ env: {}, configPath: configFile({ approval: { deadline: '30d' }, contentTtlSeconds: 3600 }) });
    expect(long.approval.deadlineSeconds).toBe(30 * 86400);
    expect(long.contentTtlSeconds).toBeGreaterThan(long.approval.deadlineSeconds);
    expect(() => loadConfig({ env: {}, configPath: configFile({ approval: { deadline: 'soon' } }) })).toThrow(/approval\.deadline/);
  });
});
