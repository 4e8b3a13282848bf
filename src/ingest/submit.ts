import type { AppContext } from '../context.js';
import { emailIdFor, sha256Hex, type EmailId } from '../ids.js';
import { peekMessageId } from './parse-email.js';
import type { SourceInfo } from './trusted-context.js';

export interface Submission {
  emailId: EmailId;
  duplicate: boolean;
}

/**
 * Takes a raw message into Mailroom: stores it by reference, records it, and enqueues ingest with
 * the email id as job id (a second delivery of the same message is a no-op). Returns only after
 * the job is in Redis, so a source may mark the message handled afterwards.
 */
export async function submitEmail(app: Pick<AppContext, 'config' | 'ledger' | 'audit' | 'content' | 'queues'>, raw: Buffer, source: SourceInfo, mailbox = app.config.mailbox.address): Promise<Submission> {
  const emailId = emailIdFor(mailbox, peekMessageId(raw) ?? `sha256:${sha256Hex(raw)}`);
  const created = await app.ledger.create(emailId, source.kind === 'file' ? source.path : `${source.account}/${source.folder}/${source.uid}`);
  if (!created) {
    const rec = await app.ledger.get(emailId);
    // A record left in `received` means an earlier submit stopped before its job was added.
    if (rec?.state !== 'received' || (await app.queues.get('ingest').getJob(emailId))) {
      await app.audit.append(emailId, 'duplicate', 'ingest', { source: source.kind });
      return { emailId, duplicate: true };
    }
  }
  const rawRef = await app.content.putRaw(raw);
  await app.audit.append(emailId, 'ingested', 'ingest', { source: source.kind, sizeBytes: raw.length });
  await app.queues.add('ingest', { emailId, rawRef, source }, { jobId: emailId });
  return { emailId, duplicate: false };
}
