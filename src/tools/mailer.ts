import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import type { Transporter } from 'nodemailer';
import { MailroomError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { TokenSource, TokenSources } from '../oauth/token-source.js';
import { readSecret } from '../secrets.js';
import { smtpLoginHint, type SmtpServer } from './smtp-config.js';

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

function smtpError(err: unknown): MailroomError {
  const code = typeof err === 'object' && err !== null && 'responseCode' in err ? Number(err.responseCode) : NaN;
  if (code >= 500 && code < 600) {
    return new MailroomError('SMTP_REJECTED', `the SMTP server rejected the reply (${code})`, { cause: err });
  }
  // 4xx and connection failures are worth another try later.
  const what = Number.isFinite(code) ? String(code) : err instanceof Error ? err.message : 'connection failed';
  return new MailroomError('SMTP_TRANSIENT', `SMTP delivery failed for now (${what})`, { cause: err });
}

export function createMailer(options: { url?: string | undefined; server?: SmtpServer | undefined; outboxDir: string }, deps: { tokens: TokenSources; logger: Logger }): Mailer {
  if (options.url) {
    // Pooled connections: replies go out in bursts after a backlog is triaged.
    const url = new URL(options.url);
    if (!url.searchParams.has('pool')) url.searchParams.set('pool', 'true');
    return smtpMailer(nodemailer.createTransport(url.toString()), null);
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
    pool: true,
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
