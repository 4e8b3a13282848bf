import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { loginAdvice } from '../../src/config/providers.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-presets-'));
function load(file: Record<string, unknown>, env: Record<string, string> = {}) {
  const configPath = path.join(dir, `c${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(configPath, JSON.stringify(file));
  return loadConfig({ env, configPath });
}

describe('provider presets fill in what each provider documents, and every value stays overridable', () => {
  it('google: imap.gmail.com on 993, the mail.google.com scope, Google token and device endpoints', () => {
    const config = load({
      imap: [{ name: 'support', provider: 'google', user: 'support@acme.example', oauth2: { clientId: 'cid', clientSecret: { env: 'GOOGLE_SECRET' }, refreshToken: { file: 'secrets/google.rt' } } }],
      smtp: { provider: 'google', user: 'support@acme.example', oauth2: { clientId: 'cid', clientSecret: { env: 'GOOGLE_SECRET' }, refreshToken: { file: 'secrets/google.rt' } } },
    }, { GOOGLE_SECRET: 's' });
    const [account] = config.imap;
    expect(account).toMatchObject({ provider: 'google', host: 'imap.gmail.com', port: 993, tls: 'implicit' });
    expect(account?.auth).toEqual({
      method: 'oauth2',
      client: {
        provider: 'google',
        clientId: 'cid',
        clientSecret: { value: 's', env: 'GOOGLE_SECRET' },
        refreshToken: { file: path.join(dir, 'secrets/google.rt') },
        tokenUrl: 'https://oauth2.googleapis.com/token',
        deviceUrl: 'https://oauth2.googleapis.com/device/code',
        scopes: ['https://mail.google.com/'],
      },
    });
    expect(config.smtp.server).toMatchObject({ host: 'smtp.gmail.com', port: 465, tls: 'implicit', auth: { method: 'oauth2', user: 'support@acme.example' } });
  });

  it('microsoft365: Outlook hosts, STARTTLS on 587 for SMTP, the tenant in the endpoints, IMAP and SMTP scopes with offline_access', () => {
    const oauth2 = { clientId: 'app', refreshToken: { file: 'ms.rt' }, tenant: 'acme.onmicrosoft.com' };
    const config = load({ imap: [{ name: 'support', provider: 'microsoft365', user: 'support@acme.example', oauth2 }], smtp: { provider: 'microsoft365', user: 'support@acme.example', oauth2 } });
    expect(config.imap[0]).toMatchObject({ host: 'outlook.office365.com', port: 993, tls: 'implicit' });
    expect(config.smtp.server).toMatchObject({ host: 'smtp.office365.com', port: 587, tls: 'starttls' });
    const client = config.imap[0]?.auth.method === 'oauth2' ? config.imap[0].auth.client : null;
    expect(client?.tokenUrl).toBe('https://login.microsoftonline.com/acme.onmicrosoft.com/oauth2/v2.0/token');
    expect(client?.deviceUrl).toBe('https://login.microsoftonline.com/acme.onmicrosoft.com/oauth2/v2.0/devicecode');
    expect(client?.scopes).toEqual(['https://outlook.office.com/IMAP.AccessAsUser.All', 'https://outlook.office.com/SMTP.Send', 'offline_access']);
    const defaultTenant = load({ imap: [{ name: 'support', provider: 'microsoft365', user: 'support@acme.example', oauth2: { clientId: 'app', refreshToken: { file: 'ms.rt' } } }] });
    const c = defaultTenant.imap[0]?.auth.method === 'oauth2' ? defaultTenant.imap[0].auth.client : null;
    expect(c?.tokenUrl).toBe('https://login.microsoftonline.com/organizations/oauth2/v2.0/token');
  });

  it('overrides win: host, port, tls and endpoints given in the entry replace the preset', () => {
    const config = load({
      imap: [{ name: 'support', provider: 'microsoft365', host: 'imap.example.net', tls: 'starttls', user: 'u', oauth2: { clientId: 'app', refreshToken: { file: 'ms.rt' }, tokenUrl: 'https://sso.example.net/token', scopes: ['imap'] } }],
    });
    expect(config.imap[0]).toMatchObject({ host: 'imap.example.net', port: 143, tls: 'starttls' });
    expect(config.imap[0]?.auth).toMatchObject({ client: { tokenUrl: 'https://sso.example.net/token', scopes: ['imap'] } });
  });

  it('fastmail and generic: app passwords; generic needs its host, an oauth2 entry without a preset needs its tokenUrl', () => {
    const fm = load({ imap: [{ name: 'support', provider: 'fastmail', user: 'u@fastmail.example', password: { env: 'PW' } }] }, { PW: 'p' });
    expect(fm.imap[0]).toMatchObject({ host: 'imap.fastmail.com', port: 993, tls: 'implicit', auth: { method: 'password' } });
    expect(() => load({ imap: [{ name: 'support', user: 'u', password: { env: 'PW' } }] }, { PW: 'p' })).toThrow(/imap\.0\.host: required for provider "generic"/);
    expect(() => load({ imap: [{ name: 'support', host: 'h', user: 'u', oauth2: { clientId: 'c', refreshToken: { file: 'f' } } }] })).toThrow(/imap\.0\.oauth2\.tokenUrl: required/);
    expect(() => load({ imap: [{ name: 'support', host: 'h', user: 'u', oauth2: { clientId: 'c', clientSecret: { env: 'NOPE' }, refreshToken: { file: 'f' }, tokenUrl: 'https://t.example/' } }] })).toThrow(
      /imap\.0\.oauth2\.clientSecret: environment variable NOPE is not set/,
    );
    expect(() => load({ imap: [{ name: 'support', host: 'h', user: 'u', password: { env: 'PW' }, oauth2: { clientId: 'c', refreshToken: { file: 'f' } } }] }, { PW: 'p' })).toThrow(
      /exactly one of password, accessToken or oauth2/,
    );
    expect(() => load({ smtp: { url: 'smtp://h:25', provider: 'google' } })).toThrow(/smtp: set url or a server/);
  });

  it('a password where the provider expects OAuth2 gets a warning that says why; elsewhere none', () => {
    expect(loginAdvice('microsoft365', 'password', 'smtp')).toMatch(/^smtp: provider "microsoft365" with a password: Microsoft turns basic auth off .*550 5\.7\.30.*use "oauth2"/);
    expect(loginAdvice('google', 'password', 'imap account support')).toMatch(/Google restricts app passwords/);
    expect(loginAdvice('microsoft365', 'oauth2', 'smtp')).toBeNull();
    expect(loginAdvice('fastmail', 'password', 'smtp')).toBeNull();
    expect(loginAdvice('generic', 'password', 'smtp')).toBeNull();
  });
});
