// The floor pipeline's parser thread (bench/floor.ts): mailparser on a raw message, answering the
// few header values the floor needs. Plain JavaScript, so the thread loads without tsx.
import { Buffer } from 'node:buffer';
import { parentPort } from 'node:worker_threads';
import { simpleParser } from 'mailparser';

parentPort?.on('message', async ({ id, raw }) => {
  try {
    const mail = await simpleParser(Buffer.from(raw), { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true });
    const ar = mail.headers.get('authentication-results');
    parentPort?.postMessage({
      id,
      from: mail.from?.value[0]?.address ?? '',
      name: mail.from?.value[0]?.name ?? '',
      subject: mail.subject ?? '',
      messageId: mail.messageId ?? '',
      authResults: typeof ar === 'string' ? ar : Array.isArray(ar) ? String(ar[0] ?? '') : '',
    });
  } catch (err) {
    parentPort?.postMessage({ id, error: String(err) });
  }
});
