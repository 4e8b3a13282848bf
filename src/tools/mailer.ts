import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import type { Transporter } from 'nodemailer';
import { MailroomError } from '../errors.js';

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

export function createMailer(options: { url?: string; outboxDir: string }): Mailer {
  if (options.url) {
    // Pooled connections: replies go out in bursts after a backlog is triaged.
    const url = new URL(options.url);
    if (!url.searchParams.has('pool')) url.searchParams.set('pool', 'true');
    const transport: Transporter = nodemailer.createTransport(url.toString());
    return {
      kind: 'smtp',
      async send(mail) {
        try {
          await transport.sendMail(toNodemailer(mail));
        } catch (err) {
          throw smtpError(err);
        }
        return { messageId: mail.messageId };
      },
      close: () => transport.close(),
    };
  }
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
    close: () => stream.close(),
  };
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
