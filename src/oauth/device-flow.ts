import { setTimeout as sleepFor } from 'node:timers/promises';
import { z } from 'zod';
import { MailroomError } from '../kernel/errors.js';
import { readSecret } from '../kernel/secrets.js';
import type { OAuth2Client } from '../config/oauth-config.js';
import { OAuthErrorResponse, TokenResponse, postForm } from './token-endpoint.js';

/** Printable ASCII only: what the provider sends is shown on a terminal. */
const Printable = z.string().regex(/^[\x21-\x7e]{1,2000}$/, 'printable text');

/**
 * A device authorization response (RFC 8628 §3.2). Google calls the URL `verification_url`;
 * `interval` may be absent (then 5 s).
 */
export const DeviceAuthorization = z
  .object({
    device_code: z.string().min(1),
    user_code: Printable,
    verification_uri: Printable.pipe(z.string().url()).optional(),
    verification_url: Printable.pipe(z.string().url()).optional(),
    expires_in: z.coerce.number().positive(),
    interval: z.coerce.number().positive().optional(),
  })
  .refine((d) => d.verification_uri !== undefined || d.verification_url !== undefined, 'a verification_uri');
export type DeviceAuthorization = z.infer<typeof DeviceAuthorization>;

/** What the person signing in is shown. */
export interface DevicePrompt {
  verificationUri: string;
  userCode: string;
  expiresInS: number;
}

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** RFC 8628 §3.5: without an `interval`, poll every 5 s; `slow_down` adds 5 s. */
const DEFAULT_INTERVAL_S = 5;
const SLOW_DOWN_S = 5;

export interface DeviceFlowOptions {
  client: Pick<OAuth2Client, 'clientId' | 'clientSecret' | 'tokenUrl' | 'scopes'> & { deviceUrl: string };
  /** Shows the URL and the code (the CLI prints them). */
  onPrompt: (prompt: DevicePrompt) => void;
  signal?: AbortSignal;
  /** @defaultValue Date.now */
  now?: () => number;
}

/**
 * The OAuth2 device authorization grant (RFC 8628): asks for a code, shows where to enter it,
 * polls the token endpoint at the interval the server sets (slower on `slow_down`) until the
 * person signs in, denies, or the code expires. Returns the token response, which must hold a
 * refresh token.
 */
export async function runDeviceFlow(options: DeviceFlowOptions): Promise<TokenResponse & { refresh_token: string }> {
  const { client } = options;
  const now = options.now ?? Date.now;
  const secret = client.clientSecret ? await readSecret(client.clientSecret) : undefined;
  const credentials: Record<string, string> = { client_id: client.clientId, ...(secret ? { client_secret: secret } : {}) };
  const host = new URL(client.deviceUrl).host;

  const started = await postForm(client.deviceUrl, { ...credentials, scope: client.scopes.join(' ') }, options.signal);
  const device = started.status === 200 ? DeviceAuthorization.safeParse(started.body) : null;
  if (!device?.success) {
    const failure = OAuthErrorResponse.safeParse(started.body);
    const why = failure.success ? failure.data.error : `HTTP ${started.status}`;
    if (why === 'invalid_scope') {
      throw new MailroomError(
        'OAUTH_CLIENT_REJECTED',
        `${host} does not grant ${client.scopes.join(' ')} through the device flow (invalid_scope): store a refresh token got another way in the refreshToken file (see the README's Google recipe)`,
      );
    }
    throw new MailroomError(
      failure.success ? 'OAUTH_CLIENT_REJECTED' : 'OAUTH_UNAVAILABLE',
      `${host} did not start a device sign-in (${why}): check the client id, that the app allows the device flow, and the scopes ${client.scopes.join(' ')}`,
    );
  }
  const d = device.data;
  options.onPrompt({ verificationUri: d.verification_uri ?? d.verification_url ?? '', userCode: d.user_code, expiresInS: d.expires_in });

  const deadline = now() + d.expires_in * 1000;
  let intervalS = d.interval ?? DEFAULT_INTERVAL_S;
  for (;;) {
    await sleepFor(intervalS * 1000, undefined, options.signal ? { signal: options.signal } : undefined);
    if (now() > deadline) throw new MailroomError('OAUTH_LOGIN_FAILED', `the code expired before anyone signed in; run the command again`);
    const answer = await postForm(client.tokenUrl, { ...credentials, grant_type: DEVICE_GRANT, device_code: d.device_code }, options.signal);
    const ok = answer.status === 200 ? TokenResponse.safeParse(answer.body) : null;
    if (ok?.success) {
      const refreshToken = ok.data.refresh_token;
      if (!refreshToken) {
        throw new MailroomError('OAUTH_LOGIN_FAILED', `${host} signed in but sent no refresh token: ask for offline access (Microsoft: the offline_access scope)`);
      }
      return { ...ok.data, refresh_token: refreshToken };
    }
    const failure = OAuthErrorResponse.safeParse(answer.body);
    const error = failure.success ? failure.data.error : null;
    if (error === 'authorization_pending') continue;
    if (error === 'slow_down') {
      intervalS += SLOW_DOWN_S;
      continue;
    }
    if (error === 'expired_token') throw new MailroomError('OAUTH_LOGIN_FAILED', 'the code expired before anyone signed in; run the command again');
    if (error === 'access_denied') throw new MailroomError('OAUTH_LOGIN_FAILED', 'the sign-in was declined');
    throw new MailroomError(error ? 'OAUTH_CLIENT_REJECTED' : 'OAUTH_UNAVAILABLE', `${host} refused the device sign-in (${error ?? `HTTP ${answer.status}`})`);
  }
}
