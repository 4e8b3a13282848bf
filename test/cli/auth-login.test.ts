import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOAuthServer, type OAuthServer } from '../harness/oauth-server.js';

const BIN = path.resolve(import.meta.dirname, '../../bin/mailroom.js');
const USER = 'support@acme.example';

/** Runs the CLI; `onOutput` sees stdout as it comes (to act on the printed code). */
function mailroom(args: string[], onOutput: (stdout: string) => void = () => undefined): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      onOutput(stdout);
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

describe('mailroom auth login: the device-code flow against a loopback authorization server', () => {
  let oauth: OAuthServer;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-auth-login-'));
  const configPath = path.join(dir, 'mailroom.config.json');
  const tokenFile = path.join(dir, 'secrets', 'support.refresh-token');
  beforeAll(async () => {
    oauth = await startOAuthServer({ refuseDeviceScope: 'https://mail.google.com/' });
    writeFileSync(
      configPath,
      JSON.stringify({
        imap: [
          {
            name: 'support',
            host: '127.0.0.1',
            tls: 'none',
            user: USER,
            oauth2: { clientId: oauth.clientId, refreshToken: { file: 'secrets/support.refresh-token' }, tokenUrl: oauth.tokenUrl, deviceUrl: oauth.deviceUrl },
          },
        ],
      }),
    );
  });
  afterAll(async () => {
    await oauth?.close();
  });

  it('prints the URL and the code, waits through slow_down, and stores a working refresh token 0600 where the config says', async () => {
    oauth.slowDown(1);
    let signedIn = false;
    const res = await mailroom(['-c', configPath, 'auth', 'login', '--provider', 'microsoft'], (out) => {
      const code = /enter the code (\S+) /.exec(out)?.[1];
      if (code && !signedIn) {
        signedIn = true;
        oauth.completeDevice(code, { user: USER });
      }
    });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(`To sign in, open ${oauth.url}/verify and enter the code`);
    expect(res.stdout).toContain(`Signed in: stored the refresh token for support in ${tokenFile} (mode 0600).`);
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    // The scopes of the --provider preset went to the device endpoint (the entry names none);
    // slow_down added 5 s to the interval (RFC 8628 §3.5), hence this test's 7 s.
    expect(oauth.deviceRequests.at(-1)?.scope).toBe('https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access');
    expect(oauth.counts.devicePolls).toBeGreaterThanOrEqual(2);
    const stored = readFileSync(tokenFile, 'utf8').trim();
    expect(res.stdout).not.toContain(stored);
    const refreshed = await fetch(oauth.tokenUrl, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: stored, client_id: oauth.clientId }) });
    expect(refreshed.status).toBe(200);
  });

  it('a declined sign-in and an expired code are one line each, and the stored token is left alone', async () => {
    const before = readFileSync(tokenFile, 'utf8');
    let answered = false;
    const denied = await mailroom(['-c', configPath, 'auth', 'login', '--provider', 'microsoft'], (out) => {
      const code = /enter the code (\S+) /.exec(out)?.[1];
      if (code && !answered) {
        answered = true;
        oauth.completeDevice(code, 'denied');
      }
    });
    expect(denied.code).toBe(77);
    expect(denied.stderr.trim().split('\n')).toEqual(['mailroom: the sign-in was declined [MAILROOM_OAUTH_LOGIN_FAILED]']);

    oauth.setDeviceExpiry(0.2);
    const expired = await mailroom(['-c', configPath, 'auth', 'login', '--provider', 'microsoft']);
    oauth.setDeviceExpiry(600);
    expect(expired.code).toBe(77);
    expect(expired.stderr.trim().split('\n')).toEqual(['mailroom: the code expired before anyone signed in; run the command again [MAILROOM_OAUTH_LOGIN_FAILED]']);
    expect(readFileSync(tokenFile, 'utf8')).toBe(before);
  });

  it('a provider that does not match the entry, a scope the device flow refuses, or an unknown account, is one clear line', async () => {
    const google = path.join(dir, 'google.config.json');
    writeFileSync(google, JSON.stringify({ imap: [{ name: 'gmail', provider: 'google', user: USER, oauth2: { clientId: 'c', refreshToken: { file: 'g.rt' } } }] }));
    const wrong = await mailroom(['-c', google, 'auth', 'login', '--provider', 'microsoft']);
    expect(wrong.code).toBe(78);
    expect(wrong.stderr.trim()).toBe('mailroom: --provider microsoft: gmail is configured with provider "google" [MAILROOM_CONFIG_INVALID]');
    // Google's own endpoints, here on loopback, refusing the mail scope in the device flow.
    const googleHere = path.join(dir, 'google-here.config.json');
    writeFileSync(googleHere, JSON.stringify({ imap: [{ name: 'gmail', provider: 'google', user: USER, oauth2: { clientId: oauth.clientId, refreshToken: { file: 'g.rt' }, tokenUrl: oauth.tokenUrl, deviceUrl: oauth.deviceUrl } }] }));
    const scope = await mailroom(['-c', googleHere, 'auth', 'login', '--provider', 'google']);
    expect(scope.code).toBe(77);
    expect(scope.stderr.trim().split('\n')).toHaveLength(1);
    expect(scope.stderr).toContain('does not grant https://mail.google.com/ through the device flow (invalid_scope)');
    expect(scope.stderr).toContain("README's Google recipe");
    const unknown = await mailroom(['-c', configPath, 'auth', 'login', '--provider', 'microsoft', '--account', 'sales']);
    expect(unknown.stderr.trim()).toBe('mailroom: --account: "sales" has no oauth2 login; choose one of support [MAILROOM_CONFIG_INVALID]');
  });
});
