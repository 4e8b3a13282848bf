import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import type { ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import type { SMTPServerDataStream, SMTPServerError, SMTPServerSession } from 'smtp-server';

/** One message as the SMTP server received it. */
export interface CapturedMessage {
  /** The SMTP envelope (`MAIL FROM`, `RCPT TO`), not the headers: `from` is `''` for the null sender. */
  readonly envelope: { readonly from: string; readonly to: readonly string[] };
  /** The DATA section as sent (headers and body), decoded as UTF-8. */
  readonly raw: string;
  readonly parsed: ParsedMail;
}

export interface SmtpCapture {
  readonly host: string;
  readonly port: number;
  /** `smtp://127.0.0.1:PORT` */
  readonly url: string;
  /** Accepted messages, in order of arrival. */
  readonly messages: readonly CapturedMessage[];
  /** Messages refused because of {@link SmtpCapture.failNext}, in order of arrival. */
  readonly rejected: readonly CapturedMessage[];
  /**
   * Resolves with the accepted messages once at least `count` have arrived.
   *
   * @param timeoutMs how long to wait, in milliseconds. @defaultValue 5000
   * @throws Error listing what did arrive, on timeout or when the capture closes first.
   */
  waitFor(count: number, timeoutMs?: number): Promise<CapturedMessage[]>;
  /**
   * Refuses the next `count` messages at the end of DATA with SMTP reply `code`.
   *
   * @param code @defaultValue 451 (transient, so a sender should retry); use 5xx for permanent.
   */
  failNext(count: number, code?: number, message?: string): void;
  /**
   * Keeps the next messages (they appear in `messages`) but withholds the reply to DATA until the
   * returned function is called, as a server that is slow to acknowledge: the window in which a
   * sender may die after the message was delivered but before it knew.
   */
  holdAcks(): () => void;
  /** With `oauth2` or `password`: logins, by outcome. */
  readonly logins: { accepted: number; refused: number };
  /**
   * Refuses the next `count` transactions at `RCPT TO` with SMTP reply `code`, before DATA: a
   * relay that is up but cannot take mail just now.
   *
   * @param code @defaultValue 451
   */
  refuseRecipients(count: number, code?: number): void;
  /** Forgets captured and rejected messages and pending failures. */
  reset(): void;
  close(): Promise<void>;
}

interface Waiter {
  readonly count: number;
  readonly resolve: (messages: CapturedMessage[]) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

interface Failure {
  readonly code: number;
  readonly message: string;
}

function readStream(stream: SMTPServerDataStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

function describe(message: CapturedMessage, index: number): string {
  const { envelope, parsed } = message;
  const subject = parsed.subject === undefined ? '(no subject)' : JSON.stringify(parsed.subject);
  return `  ${index + 1}. ${envelope.from || '<>'} -> ${envelope.to.join(', ')}: ${subject} ${parsed.messageId ?? '(no Message-ID)'}`;
}

function summary(accepted: readonly CapturedMessage[], rejected: readonly CapturedMessage[]): string {
  const lines = [`${accepted.length} accepted:`, ...accepted.map(describe)];
  if (rejected.length > 0) lines.push(`${rejected.length} rejected by failNext:`, ...rejected.map(describe));
  return lines.join('\n');
}

/**
 * Starts an SMTP server on 127.0.0.1 and a free port that accepts every message without
 * authentication or TLS and keeps it in memory. A message is in `messages` before the
 * sender's `DATA` is acknowledged, so it is visible as soon as `sendMail` resolves.
 */
export interface SmtpCaptureOptions {
  /** A port to listen on (a relay that comes back where it was); @defaultValue a free one */
  port?: number;
  /**
   * Require an XOAUTH2 login (the only method offered), accepted when `check` says the access
   * token is active for that user (e.g. the OAuth2 test server's `check`).
   */
  oauth2?: { check(accessToken: string): { active: boolean; user?: string } };
  /** Require a PLAIN or LOGIN login with this user and password (without TLS: loopback only). */
  password?: { user: string; pass: string };
}

export async function startSmtpCapture(options: SmtpCaptureOptions = {}): Promise<SmtpCapture> {
  const logins = { accepted: 0, refused: 0 };
  const messages: CapturedMessage[] = [];
  const rejected: CapturedMessage[] = [];
  const failures: Failure[] = [];
  const waiters = new Set<Waiter>();
  let hold: Promise<void> | null = null;
  const refusals: number[] = [];

  const settleWaiters = (): void => {
    for (const waiter of waiters) {
      if (messages.length >= waiter.count) {
        clearTimeout(waiter.timer);
        waiters.delete(waiter);
        waiter.resolve([...messages]);
      }
    }
  };

  const receive = async (
    stream: SMTPServerDataStream,
    session: SMTPServerSession,
  ): Promise<Failure | undefined> => {
    // Taken before the first await so concurrent senders meet failures in arrival order.
    const failure = failures.shift();
    const buffer = await readStream(stream);
    const { mailFrom, rcptTo } = session.envelope;
    const message: CapturedMessage = {
      envelope: { from: mailFrom === false ? '' : mailFrom.address, to: rcptTo.map((rcpt) => rcpt.address) },
      raw: buffer.toString('utf8'),
      parsed: await simpleParser(buffer),
    };
    if (failure !== undefined) {
      rejected.push(message);
      return failure;
    }
    messages.push(message);
    settleWaiters();
    return undefined;
  };

  const { oauth2, password } = options;
  const server = new SMTPServer({
    authOptional: oauth2 === undefined,
    ...(oauth2
      ? {
          authMethods: ['XOAUTH2'],
          allowInsecureAuth: true,
          onAuth(auth, _session, callback) {
            const result = oauth2.check(auth.accessToken ?? '');
            if (auth.method === 'XOAUTH2' && result.active && result.user === auth.username) {
              logins.accepted += 1;
              return callback(null, { user: auth.username });
            }
            logins.refused += 1;
            // RFC 7628-style failure: a 334 with the error, then 535 (smtp-server does both).
            return callback(null, { data: { status: '401', schemes: 'bearer' } });
          },
        }
      : {}),
    ...(password
      ? {
          authOptional: false,
          authMethods: ['PLAIN', 'LOGIN'],
          allowInsecureAuth: true,
          onAuth(auth, _session, callback) {
            const ok = auth.username === password.user && auth.password === password.pass;
            if (ok) logins.accepted += 1;
            else logins.refused += 1;
            return ok ? callback(null, { user: auth.username }) : callback(Object.assign(new Error('Invalid login'), { responseCode: 535 }));
          },
        }
      : {}),
    disabledCommands: ['STARTTLS'],
    logger: false,
    // Lets close() finish quickly when a pooled sender leaves its connection open.
    closeTimeout: 500,
    onRcptTo(_address, _session, callback) {
      const code = refusals.shift();
      if (code === undefined) return callback();
      const error: SMTPServerError = new Error(`Scripted refusal ${code}`);
      error.responseCode = code;
      callback(error);
    },
    onData(stream, session, callback) {
      receive(stream, session).then(
        async (failure) => {
          if (failure === undefined) {
            if (hold) await hold;
            return callback();
          }
          const error: SMTPServerError = new Error(failure.message);
          error.responseCode = failure.code;
          callback(error);
        },
        (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
      );
    },
  });
  // A client that dies mid-session (a SIGKILLed worker) resets its connection; that is the
  // client's failure, not the capture's, and must not crash the test process.
  server.on('error', () => undefined);

  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.server.address() as AddressInfo; // listen() on a TCP port always yields an AddressInfo
  const host = '127.0.0.1';

  return {
    host,
    port,
    url: `smtp://${host}:${port}`,
    messages,
    rejected,
    logins,
    waitFor: (count, timeoutMs = 5_000) => {
      if (messages.length >= count) return Promise.resolve([...messages]);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(
            new Error(
              `SMTP capture: expected ${count} messages within ${timeoutMs} ms, ${summary(messages, rejected)}`,
            ),
          );
        }, timeoutMs);
        const waiter: Waiter = { count, resolve, reject, timer };
        waiters.add(waiter);
      });
    },
    failNext: (count, code = 451, message = `Scripted failure ${code}`) => {
      for (let i = 0; i < count; i += 1) failures.push({ code, message });
    },
    holdAcks: () => {
      let release: () => void = () => undefined;
      hold = new Promise<void>((resolve) => {
        release = () => {
          hold = null;
          resolve();
        };
      });
      return release;
    },
    refuseRecipients: (count, code = 451) => {
      for (let i = 0; i < count; i += 1) refusals.push(code);
    },
    reset: () => {
      refusals.length = 0;
      messages.length = 0;
      rejected.length = 0;
      failures.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const waiter of waiters) {
          clearTimeout(waiter.timer);
          waiter.reject(
            new Error(
              `SMTP capture closed while waiting for ${waiter.count} messages, ${summary(messages, rejected)}`,
            ),
          );
        }
        waiters.clear();
        server.close(() => resolve());
      }),
  };
}
