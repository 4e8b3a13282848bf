/**
 * A small OAuth2 authorization server for tests, over HTTP on loopback: the refresh-token grant
 * (rotating, expiring and revoking tokens as a test asks), the device authorization grant
 * (RFC 8628) and token introspection (RFC 7662) for Dovecot's oauth2 passdb. Written for the
 * tests; it checks what a real provider checks (client id and secret, known tokens) and nothing more.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OAuthServerOptions {
  clientId?: string;
  /** @defaultValue none: a public client */
  clientSecret?: string;
  /** Lifetime of access tokens, in seconds. @defaultValue 3600 */
  accessTtlSeconds?: number;
  /** Issue a new refresh token with every refresh (as Microsoft does), revoking the old one. @defaultValue false */
  rotate?: boolean;
  /** A scope the device endpoint refuses with invalid_scope (as Google's refuses its mail scope). @defaultValue none */
  refuseDeviceScope?: string;
}

interface DeviceGrant {
  deviceCode: string;
  userCode: string;
  expiresAt: number;
  scope: string;
  /** The user once someone signed in; `denied` once declined. */
  outcome: { user: string } | 'denied' | null;
}

export interface OAuthServer {
  readonly url: string;
  readonly tokenUrl: string;
  readonly deviceUrl: string;
  readonly introspectionUrl: string;
  readonly clientId: string;
  /** A refresh token for `user`, as if they had signed in. */
  issueRefreshToken(user: string): string;
  /** The provider forgets a refresh token (a revoked consent, a 7-day "Testing" app). */
  revoke(refreshToken: string): void;
  /** Every access token issued so far stops being active (as if its hour were up). */
  expireAccessTokens(): void;
  setAccessTtl(seconds: number): void;
  setRotate(rotate: boolean): void;
  /** Whether an access token is active and whose it is (what introspection answers). */
  check(accessToken: string): { active: boolean; user?: string };
  /** Signs the pending device code in as `user` (or declines it). */
  completeDevice(userCode: string, outcome: { user: string } | 'denied'): void;
  /** The next `n` polls of device codes get `slow_down`. */
  slowDown(n: number): void;
  /** Device codes issued from now on expire after this many seconds. @defaultValue 600 */
  setDeviceExpiry(seconds: number): void;
  /** Runs before each token request is answered (a test's chance to change the world meanwhile); null removes it. */
  onTokenRequest(hook: ((form: Record<string, string>) => void) | null): void;
  /** Requests seen, by kind. */
  readonly counts: { refresh: number; refreshRejected: number; device: number; devicePolls: number; introspections: number };
  /** The form fields of every token request (secrets and all), for assertions on what was sent. */
  readonly tokenRequests: ReadonlyArray<Record<string, string>>;
  /** The form fields of every device authorization request. */
  readonly deviceRequests: ReadonlyArray<Record<string, string>>;
  close(): Promise<void>;
}

const token = (prefix: string) => `${prefix}-${randomBytes(12).toString('hex')}`;

function readForm(req: IncomingMessage): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')))));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

export async function startOAuthServer(options: OAuthServerOptions = {}): Promise<OAuthServer> {
  const clientId = options.clientId ?? 'mailroom-test-client';
  let accessTtl = options.accessTtlSeconds ?? 3600;
  let rotate = options.rotate ?? false;
  let deviceExpiry = 600;
  let slowDowns = 0;
  const refreshTokens = new Map<string, string>();
  const accessTokens = new Map<string, { user: string; expiresAt: number }>();
  const devices = new Map<string, DeviceGrant>();
  const counts = { refresh: 0, refreshRejected: 0, device: 0, devicePolls: 0, introspections: 0 };
  const tokenRequests: Array<Record<string, string>> = [];
  const deviceRequests: Array<Record<string, string>> = [];

  const clientOk = (form: Record<string, string>) => form.client_id === clientId && (options.clientSecret === undefined || form.client_secret === options.clientSecret);
  const issueAccess = (user: string) => {
    const access = token('at');
    accessTokens.set(access, { user, expiresAt: Date.now() + accessTtl * 1000 });
    return access;
  };
  const check = (access: string) => {
    const known = accessTokens.get(access);
    return known && known.expiresAt > Date.now() ? { active: true, user: known.user } : { active: false };
  };

  let hook: ((form: Record<string, string>) => void) | null = null;
  const tokenGrant = (form: Record<string, string>, res: ServerResponse) => {
    tokenRequests.push(form);
    hook?.(form);
    if (!clientOk(form)) return send(res, 401, { error: 'invalid_client' });
    if (form.grant_type === 'refresh_token') {
      counts.refresh += 1;
      const user = refreshTokens.get(form.refresh_token ?? '');
      if (!user) {
        counts.refreshRejected += 1;
        return send(res, 400, { error: 'invalid_grant', error_description: 'the refresh token is expired or revoked' });
      }
      const body: Record<string, unknown> = { access_token: issueAccess(user), token_type: 'Bearer', expires_in: accessTtl };
      if (rotate) {
        refreshTokens.delete(form.refresh_token ?? '');
        const next = token('rt');
        refreshTokens.set(next, user);
        body.refresh_token = next;
      }
      return send(res, 200, body);
    }
    if (form.grant_type === 'urn:ietf:params:oauth:grant-type:device_code') {
      counts.devicePolls += 1;
      const grant = devices.get(form.device_code ?? '');
      if (!grant) return send(res, 400, { error: 'invalid_grant' });
      if (grant.expiresAt < Date.now()) return send(res, 400, { error: 'expired_token' });
      if (slowDowns > 0) {
        slowDowns -= 1;
        return send(res, 400, { error: 'slow_down' });
      }
      if (grant.outcome === null) return send(res, 400, { error: 'authorization_pending' });
      if (grant.outcome === 'denied') return send(res, 400, { error: 'access_denied' });
      devices.delete(grant.deviceCode);
      const refresh = token('rt');
      refreshTokens.set(refresh, grant.outcome.user);
      return send(res, 200, { access_token: issueAccess(grant.outcome.user), token_type: 'Bearer', expires_in: accessTtl, refresh_token: refresh, scope: grant.scope });
    }
    return send(res, 400, { error: 'unsupported_grant_type' });
  };

  const server = createServer((req, res) => {
    void readForm(req).then((form) => {
      const path = (req.url ?? '').split('?')[0];
      if (req.method !== 'POST') return send(res, 405, { error: 'invalid_request' });
      if (path === '/token') return tokenGrant(form, res);
      if (path === '/device') {
        counts.device += 1;
        deviceRequests.push(form);
        if (!clientOk(form)) return send(res, 401, { error: 'invalid_client' });
        if (options.refuseDeviceScope && (form.scope ?? '').split(' ').includes(options.refuseDeviceScope)) {
          return send(res, 400, { error: 'invalid_scope', error_description: `Invalid device flow scope: ${options.refuseDeviceScope}` });
        }
        const grant: DeviceGrant = {
          deviceCode: token('dc'),
          userCode: `${randomBytes(2).toString('hex')}-${randomBytes(2).toString('hex')}`.toUpperCase(),
          expiresAt: Date.now() + deviceExpiry * 1000,
          scope: form.scope ?? '',
          outcome: null,
        };
        devices.set(grant.deviceCode, grant);
        // A fractional interval keeps the tests quick; real servers say 5.
        return send(res, 200, { device_code: grant.deviceCode, user_code: grant.userCode, verification_uri: `${url}/verify`, expires_in: deviceExpiry, interval: 0.05 });
      }
      if (path === '/introspect') {
        counts.introspections += 1;
        const result = check(form.token ?? '');
        return send(res, 200, result.active ? { active: true, username: result.user } : { active: false });
      }
      return send(res, 404, { error: 'invalid_request' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo; // a TCP listen always yields an AddressInfo
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    tokenUrl: `${url}/token`,
    deviceUrl: `${url}/device`,
    introspectionUrl: `${url}/introspect`,
    clientId,
    issueRefreshToken(user) {
      const refresh = token('rt');
      refreshTokens.set(refresh, user);
      return refresh;
    },
    revoke: (refreshToken) => void refreshTokens.delete(refreshToken),
    expireAccessTokens() {
      for (const t of accessTokens.values()) t.expiresAt = 0;
    },
    setAccessTtl: (seconds) => void (accessTtl = seconds),
    setRotate: (value) => void (rotate = value),
    check,
    completeDevice(userCode, outcome) {
      const grant = [...devices.values()].find((g) => g.userCode === userCode);
      if (!grant) throw new Error(`no pending device code ${userCode}`);
      grant.outcome = outcome;
    },
    slowDown: (n) => void (slowDowns = n),
    onTokenRequest: (fn) => void (hook = fn),
    setDeviceExpiry: (seconds) => void (deviceExpiry = seconds),
    counts,
    tokenRequests,
    deviceRequests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
