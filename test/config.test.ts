import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { inShadow, loadConfig, verificationAdvice } from '../src/config/config.js';

const ROOT = path.resolve(import.meta.dirname, '..');

describe('loadConfig', () => {
  it.each([
    ['examples/mailroom.config.json', {}],
    ['deploy/mailroom.config.example.json', { SUPPORT_IMAP_PASSWORD: 'x' }],
    ['deploy/dev/mailroom.config.json', { SUPPORT_IMAP_PASSWORD: 'x' }],
  ])('accepts the shipped config %s', (file, env) => {
    // The deploy example lives in /etc/mailroom beside its kb folder, which the repo does not ship.
    const installed = mkdtempSync(path.join(os.tmpdir(), 'mailroom-cfg-'));
    mkdirSync(path.join(installed, 'kb'));
    const configPath = file.startsWith('deploy/') ? path.join(installed, 'config.json') : path.join(ROOT, file);
    if (file.startsWith('deploy/')) copyFileSync(path.join(ROOT, file), configPath);
    const config = loadConfig({ env, configPath });
    expect(config.mailbox.address).toMatch(/@/);
  });

  it('verification: the addresses that are us and the profile the IMAP presets imply, with or without secrets (mailroom process loads none)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-cfg-v-'));
    const file = path.join(dir, 'c.json');
    const imap = (provider: string, user: string) => ({ name: user.split('@')[0], provider, user, oauth2: { clientId: 'c', refreshToken: { file: 'rt' } } });
    const write = (body: object) => writeFileSync(file, JSON.stringify({ mailbox: { address: 'support@acme.example' }, routes: [{ alias: 'Billing@acme.example', category: 'billing' }], ...body }));
    write({ imap: [imap('google', 'help@acme.example'), imap('google', 'sales@acme.example')], verification: { addresses: ['fwd@old.example'] } });
    for (const withoutSecrets of [true, false]) {
      const config = loadConfig({ env: {}, configPath: file, withoutSecrets });
      expect(config.verification).toMatchObject({ profile: 'gmail', maxAgeSeconds: 14 * 86_400 });
      expect([...config.verification.ourAddresses].sort()).toEqual(['billing@acme.example', 'fwd@old.example', 'help@acme.example', 'sales@acme.example', 'support@acme.example']);
    }
    // Mixed providers, or none: the self-run MTA's rule; an explicit profile always wins; null turns the Date window off.
    write({ imap: [imap('google', 'help@acme.example'), imap('microsoft365', 'sales@acme.example')] });
    expect(loadConfig({ env: {}, configPath: file, withoutSecrets: true }).verification.profile).toBe('generic');
    write({ imap: [imap('microsoft365', 'help@acme.example')], verification: { profile: 'rspamd', maxAge: null } });
    expect(loadConfig({ env: {}, configPath: file, withoutSecrets: true }).verification).toMatchObject({ profile: 'rspamd', maxAgeSeconds: null });
    write({ verification: { dnsServers: ['resolver.example'] } });
    expect(() => loadConfig({ env: {}, configPath: file, withoutSecrets: true })).toThrow(/verification\.dnsServers/);
  });

  it('verification.inboundResultsRemoved is off unless set, and a milter profile that can verify nobody is warned about at start', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-cfg-ar-'));
    const file = path.join(dir, 'c.json');
    const load = (body: object) => {
      writeFileSync(file, JSON.stringify({ mailbox: { address: 'support@acme.example' }, authservId: 'mx.acme.example', ...body }));
      return loadConfig({ env: {}, configPath: file, withoutSecrets: true });
    };
    expect(load({ verification: { profile: 'rspamd' } }).verification.inboundResultsRemoved).toBe(false);
    expect(load({ verification: { profile: 'rspamd', inboundResultsRemoved: true } }).verification.inboundResultsRemoved).toBe(true);
    expect(() => load({ verification: { inboundResultsRemoved: 'yes' } })).toThrow(/verification\.inboundResultsRemoved/);
    // Postfix puts the milter's header below its Received: with the flag off and no local check, nobody is verified.
    expect(verificationAdvice(load({ localSenderVerification: false, verification: { profile: 'rspamd' } }))).toMatch(/rspamd .*no sender can be verified/);
    expect(verificationAdvice(load({ localSenderVerification: false, verification: { profile: 'opendkim-opendmarc' } }))).toMatch(/no sender can be verified/);
    expect(verificationAdvice(load({ localSenderVerification: false, verification: { profile: 'rspamd', inboundResultsRemoved: true } }))).toBeNull();
    expect(verificationAdvice(load({ verification: { profile: 'rspamd' } }))).toBeNull();
    expect(verificationAdvice(load({ localSenderVerification: false, verification: { profile: 'gmail' } }))).toBeNull();
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

describe('shadow mode in the configuration', () => {
  const write = (json: unknown) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-cfg-'));
    const file = path.join(dir, 'c.json');
    writeFileSync(file, JSON.stringify(json));
    return file;
  };
  const imap = (name: string, extra: Record<string, unknown> = {}) => ({ name, host: '127.0.0.1', tls: 'none', user: `${name}@acme.example`, password: { env: 'PW' }, ...extra });

  it('mailbox.shadow is the default of every IMAP mailbox, each of which may say otherwise', () => {
    const config = loadConfig({
      env: { PW: 'x' },
      configPath: write({ mailbox: { address: 'support@acme.example', shadow: true }, imap: [imap('a'), imap('b', { shadow: false })] }),
    });
    expect(config.shadow).toBe(true);
    expect(config.mailbox).toEqual({ address: 'support@acme.example', name: 'Support' });
    expect(config.imap.map((a) => [a.name, a.shadow])).toEqual([
      ['a', true],
      ['b', false],
    ]);
  });

  it('is off unless asked for, and --shadow (inShadow) turns every mailbox on for the run', () => {
    const config = loadConfig({ env: { PW: 'x' }, configPath: write({ imap: [imap('a'), imap('b', { shadow: true })] }) });
    expect([config.shadow, ...config.imap.map((a) => a.shadow)]).toEqual([false, false, true]);
    const shadowed = inShadow(config);
    expect([shadowed.shadow, ...shadowed.imap.map((a) => a.shadow)]).toEqual([true, true, true]);
  });
});
