import { z } from 'zod';
import { MailroomError } from '../kernel/errors.js';
import type { Logger } from '../kernel/logger.js';
import { readSecret, writeSecretFile } from '../kernel/secrets.js';
import { oauth2Key, type OAuth2Client } from '../config/oauth-config.js';
import { OAuthErrorResponse, TokenResponse, postForm } from './token-endpoint.js';

/** What a token source last saw, as /healthz and `mailroom status` show it. */
export const OAuthState = z.object({
  state: z.enum(['ok', 'refresh token rejected', 'no refresh token', 'client rejected', 'unavailable']),
  /** ISO time of the observation. */
  at: z.string(),
  /** One line: what is wrong and what to do (empty when ok). */
  detail: z.string(),
});
export type OAuthState = z.infer<typeof OAuthState>;

/** How a state reads in /healthz: `auth failed: refresh token rejected` for a rejected refresh token. */
export function describeOAuthState(state: OAuthState['state']): string {
  return state === 'ok' ? 'ok' : state === 'unavailable' ? 'token endpoint unavailable' : `auth failed: ${state}`;
}

/** An access token and when it stops working (ms since the epoch). */
export interface AccessToken {
  token: string;
  expiresAt: number;
}

export interface TokenSource {
  /** Who uses it, for messages: `imap account support`, or `imap account support and smtp` when they share credentials. */
  readonly label: string;
  /**
   * A token that is good for a while yet: the cached one, or a new one when it is within the
   * refresh margin of its expiry. Concurrent callers share one request.
   */
  token(): Promise<AccessToken>;
  /**
   * After a server refused `failed`: a new token, fetched once however many callers report the
   * same failed token (a second report of it gets the token that replaced it).
   */
  renew(failed: string): Promise<AccessToken>;
}

export interface TokenSourceOptions {
  client: OAuth2Client;
  label: string;
  /** What to run to store a new refresh token, for the rejected-token message. */
  loginHint: string;
  logger: Logger;
  /** Told each change of state (not each refresh), once per user's label: the daemon records it in Redis. */
  onState?: (label: string, state: OAuthState) => void;
  /** @defaultValue Date.now */
  now?: () => number;
}

/** Lifetime assumed when a token response has no `expires_in` (Google and Microsoft say 3600). */
const DEFAULT_LIFETIME_S = 3600;
/** A token is replaced when this much of its life is left: 5 minutes, or a quarter of a short life. */
const refreshMarginMs = (lifetimeMs: number) => Math.min(300_000, lifetimeMs / 4);

const REFRESH_REJECTED = new Set(['invalid_grant']);
const CLIENT_REJECTED = new Set(['invalid_client', 'unauthorized_client', 'invalid_scope', 'unsupported_grant_type']);

/**
 * Fetches and caches access tokens with the refresh-token grant. The refresh token is read from
 * its file at each refresh (so `mailroom auth login` is picked up without a restart) and a rotated
 * one is written back atomically. A refresh token the provider rejected is not sent again: every
 * call fails at once with OAUTH_REFRESH_REJECTED until the file holds another one.
 */
export function createTokenSource(options: TokenSourceOptions): TokenSource & { addUser(label: string, loginHint: string): void } {
  const { client, logger } = options;
  const now = options.now ?? Date.now;
  /** Everyone on these credentials (IMAP and SMTP on one login): each sees the state under its own label. */
  const users = new Map([[options.label, options.loginHint]]);
  const labels = () => [...users.keys()].sort();
  const label = () => labels().join(' and ');
  const loginHint = () => users.get(labels()[0] ?? '') ?? options.loginHint;
  const log = logger.child({ component: 'oauth2', source: options.label });
  const host = new URL(client.tokenUrl).host;
  let cached: (AccessToken & { refreshAt: number }) | null = null;
  let inflight: Promise<AccessToken> | null = null;
  /** Refresh tokens the provider replaced → their successors (for an env token, or a file we could not write). */
  const replaced = new Map<string, string>();
  let rejected: string | null = null;
  let lastState: OAuthState['state'] | null = null;

  let lastDetail = '';
  const setState = (state: OAuthState['state'], detail = '') => {
    if (state === lastState) return;
    lastState = state;
    lastDetail = detail;
    for (const l of labels()) options.onState?.(l, { state, at: new Date(now()).toISOString(), detail });
  };

  const rejectedError = () => {
    const where = 'file' in client.refreshToken ? client.refreshToken.file : `environment variable ${client.refreshToken.env ?? ''}`;
    return new MailroomError(
      'OAUTH_REFRESH_REJECTED',
      `${label()}: auth failed: refresh token rejected by ${host} (invalid_grant: it expired or was revoked); run \`${loginHint()}\` to store a new one in ${where}`,
    );
  };

  const currentRefreshToken = async (): Promise<string> => {
    let value: string;
    try {
      value = await readSecret(client.refreshToken);
    } catch (err) {
      if (!('file' in client.refreshToken)) throw err;
      const e = new MailroomError(
        'OAUTH_NO_REFRESH_TOKEN',
        `${label()}: auth failed: no refresh token in ${client.refreshToken.file}; run \`${loginHint()}\` to sign in and store one`,
        { cause: err },
      );
      setState('no refresh token', e.message);
      throw e;
    }
    for (let next = replaced.get(value); next !== undefined; next = replaced.get(value)) value = next;
    return value;
  };

  const rotate = async (old: string, next: string) => {
    replaced.set(old, next);
    if ('file' in client.refreshToken) {
      try {
        await writeSecretFile(client.refreshToken.file, next);
        replaced.delete(old);
        log.info({ file: client.refreshToken.file }, 'the provider rotated the refresh token; stored the new one');
      } catch (err) {
        log.error({ code: err instanceof MailroomError ? err.publicCode : 'error', file: client.refreshToken.file }, 'the provider rotated the refresh token and the file cannot be written: the new one is kept in memory only, until a restart');
      }
    } else {
      log.warn('the provider rotated the refresh token; an environment variable cannot be rewritten, so the new one is kept in memory only: keep refresh tokens in a file ({ "file": … })');
    }
  };

  const refresh = async (retried = false): Promise<AccessToken> => {
    const refreshToken = await currentRefreshToken();
    if (refreshToken === rejected) throw rejectedError();
    const form: Record<string, string> = { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: client.clientId };
    if (client.clientSecret) form.client_secret = await readSecret(client.clientSecret);
    if (client.scopes.length) form.scope = client.scopes.join(' ');
    let answer;
    try {
      answer = await postForm(client.tokenUrl, form);
    } catch (err) {
      setState('unavailable', err instanceof Error ? err.message : String(err));
      throw err;
    }
    const ok = answer.status === 200 ? TokenResponse.safeParse(answer.body) : null;
    if (ok?.success) {
      const at = now();
      const lifetimeMs = (ok.data.expires_in ?? DEFAULT_LIFETIME_S) * 1000;
      cached = { token: ok.data.access_token, expiresAt: at + lifetimeMs, refreshAt: at + lifetimeMs - refreshMarginMs(lifetimeMs) };
      rejected = null;
      if (ok.data.refresh_token && ok.data.refresh_token !== refreshToken) await rotate(refreshToken, ok.data.refresh_token);
      log.debug({ expiresInS: lifetimeMs / 1000 }, 'access token refreshed');
      setState('ok');
      return { token: cached.token, expiresAt: cached.expiresAt };
    }
    const failure = OAuthErrorResponse.safeParse(answer.body);
    const error = failure.success ? failure.data.error : null;
    if (error !== null && REFRESH_REJECTED.has(error)) {
      // Another Mailroom process on the same file may have rotated it meanwhile (the provider
      // then retires the token we read): the file's new token gets one try before we give up.
      if (!retried && (await currentRefreshToken().catch(() => refreshToken)) !== refreshToken) return refresh(true);
      rejected = refreshToken;
      cached = null;
      const e = rejectedError();
      setState('refresh token rejected', e.message);
      throw e;
    }
    if (error !== null && CLIENT_REJECTED.has(error)) {
      const e = new MailroomError('OAUTH_CLIENT_REJECTED', `${label()}: auth failed: ${host} refused the OAuth2 client (${error}): check its clientId, clientSecret and scopes`);
      setState('client rejected', e.message);
      throw e;
    }
    const e = new MailroomError('OAUTH_UNAVAILABLE', `${label()}: ${host} answered ${answer.status}${error ? ` (${error})` : ''} instead of an access token`);
    setState('unavailable', e.message);
    throw e;
  };

  const shared = (): Promise<AccessToken> => {
    inflight ??= refresh(false).finally(() => {
      inflight = null;
    });
    return inflight;
  };

  return {
    get label() {
      return label();
    },
    addUser(user, hint) {
      if (users.has(user)) return;
      users.set(user, hint);
      // A later user learns the state the earlier ones already saw.
      if (lastState !== null) options.onState?.(user, { state: lastState, at: new Date(now()).toISOString(), detail: lastDetail });
    },
    async token() {
      if (cached && now() < cached.refreshAt) return { token: cached.token, expiresAt: cached.expiresAt };
      return shared();
    },
    async renew(failed) {
      if (inflight) return inflight;
      if (cached && cached.token !== failed && now() < cached.refreshAt) return { token: cached.token, expiresAt: cached.expiresAt };
      cached = null;
      return shared();
    },
  };
}

/** The token sources of one process: one per set of credentials, however many connections use it. */
export interface TokenSources {
  /** The source for `client`, made on first use; a later user with the same credentials shares it, and messages name them all. */
  get(client: OAuth2Client, label: string, loginHint: string): TokenSource;
}

export function createTokenSources(options: Omit<TokenSourceOptions, 'client' | 'label' | 'loginHint'>): TokenSources {
  const sources = new Map<string, ReturnType<typeof createTokenSource>>();
  return {
    get(client, label, loginHint) {
      const key = oauth2Key(client);
      const known = sources.get(key);
      if (known) {
        known.addUser(label, loginHint);
        return known;
      }
      const source = createTokenSource({ ...options, client, label, loginHint });
      sources.set(key, source);
      return source;
    },
  };
}
