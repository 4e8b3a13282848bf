import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Mailer, OutboundMail } from '../mail/mailer.js';

/** A mailer that keeps what would have been sent, for one run. */
export interface CapturingMailer extends Mailer {
  readonly sent: OutboundMail[];
}

/** The mail sink of one run: nothing leaves the machine, everything is kept for the judge. */
export function createCapturingMailer(): CapturingMailer {
  const sent: OutboundMail[] = [];
  return {
    kind: 'outbox',
    sent,
    send(mail) {
      sent.push(mail);
      return Promise.resolve({ messageId: mail.messageId });
    },
    close: () => undefined,
  };
}

/** One webhook call the capture server received. */
export interface CapturedHook {
  run: string;
  hook: string;
  body: string;
}

/** Receives the webhooks of every run at `/<run>/<hook>` on loopback. */
export interface HookCapture {
  readonly url: string;
  /** Returns and forgets the calls made for a run. */
  take(run: string): CapturedHook[];
  close(): Promise<void>;
}

/** Starts the webhook receiver on 127.0.0.1 and a free port; every run posts under its own path. */
export async function startHookCapture(): Promise<HookCapture> {
  const byRun = new Map<string, CapturedHook[]>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const [, run = '', hook = ''] = new URL(req.url ?? '/', 'http://127.0.0.1').pathname.split('/');
      const list = byRun.get(run) ?? [];
      list.push({ run, hook, body: Buffer.concat(chunks).toString('utf8') });
      byRun.set(run, list);
      res.writeHead(204);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    take(run) {
      const list = byRun.get(run) ?? [];
      byRun.delete(run);
      return list;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
