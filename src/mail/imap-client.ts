import { ImapFlow } from 'imapflow';
import { z } from 'zod';
import { MailroomError } from '../kernel/errors.js';
import type { Logger } from '../kernel/logger.js';
import type { TokenSource, TokenSources } from '../oauth/token-source.js';
import { readSecret } from '../kernel/secrets.js';
import type { ImapAccount } from '../config/imap-config.js';

/** imapflow's marks on a refused login and on a required STARTTLS the server does not offer. */
const AuthFailed = z.object({ authenticationFailed: z.literal(true) });
const TlsFailed = z.object({ tlsFailed: z.literal(true) });

/**
 * Maps what imapflow throws to our codes: a refused login and a `tls` mode that does not fit the
 * port are named as such (a retry cannot fix either), the rest is a reachability problem. Decided
 * on imapflow's flags and Node's error codes, never on message text.
 */
export function toImapError(err: unknown, account: string): MailroomError {
  if (err instanceof MailroomError) return err;
  if (AuthFailed.safeParse(err).success) {
    return new MailroomError('IMAP_AUTH_FAILED', `IMAP login to ${account} was refused (auth failed): check its user and its password or token`, { cause: err });
  }
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : 'error';
  if (TlsFailed.safeParse(err).success) {
    return new MailroomError('IMAP_TLS_FAILED', `IMAP server of ${account} does not offer STARTTLS: check its "tls" setting ("implicit" for an IMAPS port such as 993)`, { cause: err });
  }
  if (code.startsWith('ERR_SSL_') || code === 'EPROTO') {
    return new MailroomError('IMAP_TLS_FAILED', `IMAP port of ${account} does not speak TLS (${code}): check its "tls" setting ("starttls" for a plain port such as 143) and its port`, { cause: err });
  }
  if (code === 'GREETING_TIMEOUT') {
    return new MailroomError('IMAP_UNREACHABLE', `IMAP server of ${account} sent no greeting (GREETING_TIMEOUT): if its port expects TLS from the start, set "tls": "implicit"`, { cause: err });
  }
  return new MailroomError('IMAP_UNREACHABLE', `IMAP connection to ${account} failed (${code})`, { cause: err });
}

export interface ImapClientOptions {
  /** IDLE automatically when the connection is quiet (the watcher); off for one-shot sessions. */
  autoIdle: boolean;
  logger: Logger;
  /** Where an `oauth2` account gets its access tokens. */
  tokens: TokenSources;
}

/** What `mailroom auth login` an account's operator runs when its refresh token is rejected. */
export function imapLoginHint(account: Pick<ImapAccount, 'name' | 'provider'>): string {
  return `mailroom auth login --provider ${account.provider === 'google' ? 'google' : 'microsoft'} --account ${account.name}`;
}

/** The token source of an `oauth2` account; null for the others. */
export function imapTokenSource(account: ImapAccount, tokens: TokenSources): TokenSource | null {
  if (account.auth.method !== 'oauth2') return null;
  return tokens.get(account.auth.client, `imap account ${account.name}`, imapLoginHint(account));
}

/**
 * Builds a new, not yet connected client. imapflow never reconnects by itself and a closed client
 * cannot be reused, so every (re)connect builds one. The `error` listener is attached before
 * `connect()`: without it a socket timeout would be an uncaught 'error' event and kill the process.
 */
export async function createImapClient(account: ImapAccount, options: ImapClientOptions, renewToken?: string): Promise<ImapFlow> {
  const auth = await credentials(account, options.tokens, renewToken);
  const client = new ImapFlow({
    host: account.host,
    port: account.port,
    secure: account.tls === 'implicit',
    // Required upgrade: credentials never cross the wire in clear text on 143.
    doSTARTTLS: account.tls === 'starttls' ? true : account.tls === 'none' ? false : undefined,
    tls: { rejectUnauthorized: account.tlsVerify },
    auth,
    logger: false,
    disableAutoIdle: !options.autoIdle,
    // Our own commands come in bursts; a short delay lets IDLE start soon after, so new mail shows at once.
    autoIdleDelay: 500,
    maxIdleTime: account.idleRestartMs,
    connectionTimeout: 30_000,
    greetingTimeout: 16_000,
    socketTimeout: Math.max(account.idleRestartMs + 60_000, 120_000),
    clientInfo: { name: 'mailroom' },
  });
  const log = options.logger;
  client.on('error', (err: Error) => {
    log.warn({ code: 'code' in err ? String(err.code) : err.name }, 'imap connection error');
  });
  return client;
}

/** imapflow's `auth` for an account: a password, or a fresh access token (renewed when `renewToken` is the one just refused). */
async function credentials(account: ImapAccount, tokens: TokenSources, renewToken?: string): Promise<{ user: string; pass: string } | { user: string; accessToken: string }> {
  if (account.auth.method === 'password') return { user: account.user, pass: await readSecret(account.auth.secret) };
  if (account.auth.method === 'token') return { user: account.user, accessToken: await readSecret(account.auth.secret) };
  const source = imapTokenSource(account, tokens);
  if (!source) throw new MailroomError('INTERNAL', 'an oauth2 account without a token source');
  const { token } = renewToken === undefined ? await source.token() : await source.renew(renewToken);
  return { user: account.user, accessToken: token };
}

/**
 * Builds a client (with `prepare` run on it before it connects, e.g. to attach listeners) and
 * connects it. An `oauth2` account whose token the server refuses gets one more try with a token
 * fetched anew: a token revoked or expired early is replaced at once, a real refusal is reported
 * after that one try. A failed client is closed; the error is mapped with {@link toImapError}.
 */
export async function connectImapClient(account: ImapAccount, options: ImapClientOptions, prepare: (client: ImapFlow) => void = () => undefined): Promise<ImapFlow> {
  const attempt = async (renewToken?: string): Promise<ImapFlow> => {
    const client = await createImapClient(account, options, renewToken);
    prepare(client);
    try {
      await client.connect();
      return client;
    } catch (err) {
      client.close();
      const error = toImapError(err, account.name);
      const token = client.options.auth?.accessToken;
      if (error.code === 'IMAP_AUTH_FAILED' && account.auth.method === 'oauth2' && renewToken === undefined && token) {
        options.logger.info('imap refused the access token; fetching a new one and trying once more');
        return attempt(token);
      }
      throw error;
    }
  };
  return attempt();
}

/** Closes a client whatever its state; never throws. */
export async function closeImapClient(client: ImapFlow): Promise<void> {
  try {
    if (client.usable) await client.logout();
    else client.close();
  } catch {
    client.close();
  }
}

/** A short session for one piece of work (the IMAP tools): connect, run, log out. */
export async function withImapSession<T>(account: ImapAccount, deps: { logger: Logger; tokens: TokenSources }, fn: (client: ImapFlow) => Promise<T>): Promise<T> {
  const client = await connectImapClient(account, { autoIdle: false, logger: deps.logger, tokens: deps.tokens });
  try {
    return await fn(client);
  } finally {
    await closeImapClient(client);
  }
}

/**
 * A UID set for a command: runs of consecutive UIDs as `a:b`, the rest one by one (`1:100,102`).
 * A run names exactly the UIDs given (a range holds only the integers between its ends), and the
 * command stays short: a list of a hundred single UIDs costs imapflow more to compile than the
 * server to answer.
 */
export function uidSet(uids: readonly number[]): string {
  const sorted = [...new Set(uids)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === (sorted[j] ?? 0) + 1) j += 1;
    parts.push(j > i ? `${sorted[i]}:${sorted[j]}` : String(sorted[i]));
    i = j + 1;
  }
  return parts.join(',');
}
