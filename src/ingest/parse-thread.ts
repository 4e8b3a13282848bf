/**
 * The worker-thread side of {@link parseEmailIsolated}: parses one raw message per request with
 * {@link parseEmail} and answers with the result or the MailroomError's code and reason. Runs in
 * its own thread so that a slow or huge message keeps this thread busy, not the process's event
 * loop (BullMQ lock renewal, IMAP, /healthz).
 */
import { parentPort } from 'node:worker_threads';
import { z } from 'zod';
import { MailroomError } from '../kernel/errors.js';
import { loadMailparser, parseEmail } from './parse-email.js';
import { ParseRequest, type ParseReply, type ThreadReady } from './parse-isolated.js';

const port = parentPort;
if (!port) throw new Error('parse-thread must run as a worker thread');

port.on('message', (message: unknown) => {
  const request = ParseRequest.safeParse(message);
  if (!request.success) {
    port.postMessage({ id: -1, ok: false, code: 'INTERNAL', message: `bad parse request: ${z.prettifyError(request.error).slice(0, 200)}` } satisfies ParseReply);
    return;
  }
  const { id, raw, limits } = request.data;
  parseEmail(Buffer.from(raw), limits).then(
    (parsed) => port.postMessage({ id, ok: true, parsed } satisfies ParseReply),
    (err: unknown) => {
      const e = err instanceof MailroomError ? err : new MailroomError('EMAIL_MALFORMED', `MIME parse failed (${err instanceof Error ? err.name : 'error'})`);
      const code = e.code === 'EMAIL_TOO_LARGE' ? 'EMAIL_TOO_LARGE' : 'EMAIL_MALFORMED';
      port.postMessage({ id, ok: false, code, message: e.message } satisfies ParseReply);
    },
  );
});

// Loaded before the first request, so that loading is start-up, not a parse's time (a parse
// running long lets another thread start, see parse-isolated.ts).
await loadMailparser();
port.postMessage({ ready: true } satisfies ThreadReady);
