import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import type { Transporter } from 'nodemailer';
import { z } from 'zod';
import { MailroomError } from '../kernel/errors.js';
import type { Logger } from '../kernel/logger.js';
import type { TokenSource, TokenSources } from '../oauth/token-source.js';
import { readSecret } from '../kernel/secrets.js';
import { smtpLoginHint, type SmtpServer } from '../config/smtp-config.js';

export interface OutboundMail {
  to: string;
  from: { name: string; address: string };
  subject: string;
  text: string;
  messageId: string;
  inReplyTo?: string;
  references?: string[];
  headers: Record<string, string>;
}

/** Outbound mail: SMTP when configured, otherwise `.eml` files in an outbox folder. */
export interface Mailer {
  readonly kind: 'smtp' | 'outbox';
  send(mail: OutboundMail): Promise<{ messageId: string }>;
  /** For an OAuth2 login: fetches a token now, so a rejected refresh token is named at start; null when fine or not OAuth2. */
  checkAuth?(): Promise<MailroomError | null>;
  close(): void;
}

/** Connection errors that only happen before a TCP session exists: nothing was sent. */
const NEVER_CONNECTED: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);
/** Nodemailer codes of steps that all come before DATA: DNS, TLS (handshake or STARTTLS), AUTH, the envelope. */
const BEFORE_DATA: ReadonlySet<string> = new Set(['EDNS', 'ETLS', 'EREQUIRETLS', 'EAUTH', 'ENOAUTH', 'EENVELOPE']);
/** Nodemailer's timeouts of the session's setup (connect, greeting, TLS upgrade), before any command. */
const SETUP_TIMEOUTS: ReadonlySet<string> = new Set(['CONNECT_TIMEOUT', 'GREETING_TIMEOUT', 'UPGRADE_TIMEOUT']);

/** The fields of a nodemailer error Mailroom reads; all optional, as nodemailer sets them by case. */
const NodemailerFailure = z.object({
  code: z.string().optional(),
  originalCode: z.string().optional(),
  responseCode: z.number().optional(),
  command: z.string().optional(),
  timeoutType: z.string().optional(),
});

/**
 * The cause in codes only (`ECONNREFUSED`, `451 at RCPT TO`): a server's reply text may quote
 * addresses, so it stays out of logs and the audit.
 */
function causeOf(f: z.infer<typeof NodemailerFailure>): string {
  const what = f.responseCode ? String(f.responseCode) : (f.originalCode ?? f.timeoutType ?? f.code ?? 'connection failed');
  return f.command && f.command !== 'CONN' ? `${what} at ${f.command}` : what;
}

/**
 * Sorts an SMTP failure by what it proves. A reply from the server (4xx, 5xx, at any command,
 * the final one after DATA too) or a failure before DATA proves the message was not accepted:
 * `SMTP_REJECTED` (5xx) or `SMTP_TRANSIENT` (retried with the queue's backoff; the effect's claim
 * is released first). Anything else — a connection lost or timed out once the session was up —
 * may have happened after the message was handed over: `DELIVERY_UNKNOWN`, for a human.
 */
export function smtpError(err: unknown): MailroomError {
  const read = NodemailerFailure.safeParse(err);
  const f = read.success ? read.data : {};
  const cause = causeOf(f);
  const code = f.responseCode;
  // 503 is "bad sequence of commands": the session's state, not the message (as nodemailer reads
  // it); a refused login (535) says nothing of the message either, and may be fixed within the
  // retries (a password or token put right).
  if (code !== undefined && code >= 500 && code < 600 && code !== 503 && f.code !== 'EAUTH') {
    return new MailroomError('SMTP_REJECTED', `the SMTP server rejected the reply (${cause})`, { cause: err });
  }
  const before =
    code !== undefined ||
    NEVER_CONNECTED.has(f.originalCode ?? f.code ?? '') ||
    BEFORE_DATA.has(f.code ?? '') ||
    SETUP_TIMEOUTS.has(f.timeoutType ?? '');
  if (before) return new MailroomError('SMTP_TRANSIENT', `SMTP delivery failed before the message was sent (${cause}); will retry`, { cause: err });
  return new MailroomError('DELIVERY_UNKNOWN', `the SMTP session failed after it began (${cause}); the reply may have been delivered: a human must check`, { cause: err });
}

export function createMailer(options: { url?: string | undefined; server?: SmtpServer | undefined; outboxDir: string }, deps: { tokens: TokenSources; logger: Logger }): Mailer {
  if (options.url) {
    // Pooled connections: replies go out in bursts after a backlog is triaged.
    const url = new URL(options.url);
    if (!url.searchParams.has('pool')) url.searchParams.set('pool', 'true');
    return smtpMailer(nodemailer.createTransport({ url: url.toString(), ...NO_POOL_RESENDS }), null);
  }
  if (options.server) return serverMailer(options.server, deps);
  const stream = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    kind: 'outbox',
    async send(mail) {
      const info = await stream.sendMail(toNodemailer(mail));
      mkdirSync(options.outboxDir, { recursive: true });
      const name = mail.messageId.replace(/[^A-Za-z0-9.@_-]/g, '');
      const message = info.message;
      writeFileSync(path.join(options.outboxDir, `${name}.eml`), Buffer.isBuffer(message) ? message : String(message));
      return { messageId: mail.messageId };
    },
    checkAuth: () => Promise.resolve(null),
    close: () => stream.close(),
  };
}

/**
 * BullMQ owns the retries: a pool must not resend by itself a message whose connection closed,
 * perhaps after DATA (nodemailer's default is 5 requeues).
 */
const NO_POOL_RESENDS = { pool: true, maxRequeues: 0 } as const;

function smtpMailer(transport: Transporter, tokens: { source: TokenSource; lastError: () => MailroomError | null } | null): Mailer {
  return {
    kind: 'smtp',
    async send(mail) {
      try {
        await transport.sendMail(toNodemailer(mail));
      } catch (err) {
        // Our own token error, not nodemailer's retelling of it: the code says what to do.
        throw tokens?.lastError() ?? smtpError(err);
      }
      return { messageId: mail.messageId };
    },
    async checkAuth() {
      if (!tokens) return null;
      try {
        await tokens.source.token();
        return null;
      } catch (err) {
        return err instanceof MailroomError ? err : new MailroomError('OAUTH_UNAVAILABLE', 'smtp: the OAuth2 token cannot be fetched', { cause: err });
      }
    },
    close: () => transport.close(),
  };
}

/**
 * A configured server. OAuth2 is nodemailer's own XOAUTH2 (it asks again with `renew` after the
 * server refuses a token, once) fed by Mailroom's token source through `provisionCallback`:
 * nodemailer's built-in refresh would drop a rotated refresh token and report `invalid_grant`
 * only as message text, and IMAP on the same credentials shares the source's cache.
 */
function serverMailer(server: SmtpServer, deps: { tokens: TokenSources; logger: Logger }): Mailer {
  const base = {
    host: server.host,
    port: server.port,
    secure: server.tls === 'implicit',
    requireTLS: server.tls === 'starttls',
    ignoreTLS: server.tls === 'none',
    tls: { rejectUnauthorized: server.tlsVerify },
    ...NO_POOL_RESENDS,
  } as const;
  if (server.auth.method === 'none') return smtpMailer(nodemailer.createTransport(base), null);
  if (server.auth.method === 'password') {
    const { user, secret } = server.auth;
    // The secret (a file, or a variable read at start) is read when the first reply goes out.
    let opening: Promise<Mailer> | null = null;
    const open = () =>
      (opening ??= readSecret(secret).then(
        (pass) => smtpMailer(nodemailer.createTransport({ ...base, auth: { user, pass } }), null),
        (err: unknown) => {
          opening = null; // a secret file fixed later is read at the next reply
          throw err;
        },
      ));
    let opened: Mailer | null = null;
    return {
      kind: 'smtp',
      async send(mail) {
        opened = await open();
        return opened.send(mail);
      },
      close: () => opened?.close(),
    };
  }
  const source = deps.tokens.get(server.auth.client, 'smtp', smtpLoginHint(server));
  let lastError: MailroomError | null = null;
  let lastToken: string | null = null;
  const transport = nodemailer.createTransport({
    ...base,
    auth: {
      type: 'OAuth2',
      user: server.auth.user,
      provisionCallback: (_user, renew, callback) => {
        const next = renew && lastToken !== null ? source.renew(lastToken) : source.token();
        next.then(
          ({ token, expiresAt }) => {
            lastError = null;
            lastToken = token;
            callback(null, token, expiresAt);
          },
          (err: unknown) => {
            lastError = err instanceof MailroomError ? err : new MailroomError('OAUTH_UNAVAILABLE', 'smtp: the OAuth2 token cannot be fetched', { cause: err });
            // nodemailer rewrites the code of the error it is given (EAUTH): it gets a copy, ours stays whole.
            callback(new Error(lastError.message));
          },
        );
      },
    },
  });
  deps.logger.debug({ host: server.host, port: server.port }, 'smtp with oauth2');
  return smtpMailer(transport, { source, lastError: () => lastError });
}

function toNodemailer(mail: OutboundMail) {
  return {
    to: mail.to,
    from: mail.from,
    subject: mail.subject,
    text: mail.text,
    messageId: mail.messageId,
    inReplyTo: mail.inReplyTo,
    references: mail.references,
    headers: mail.headers,
  };
}
