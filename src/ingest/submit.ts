import { createHash } from 'node:crypto';
import type { AppContext } from '../services/services.js';
import { MailroomError, toMailroomError } from '../kernel/errors.js';
import { emailIdFor, sha256Hex, type EmailId } from '../kernel/ids.js';
import type { IngestJob } from '../queues/catalog.js';
import { peekFromAddresses, peekMessageId, withoutMboxLine } from './peeks.js';
import type { SourceInfo } from '../model/trusted-context.js';

export interface Submission {
  emailId: EmailId;
  duplicate: boolean;
  /** The email is handled in shadow mode: a new one as asked, a duplicate as it was first taken in. */
  shadow: boolean;
}

/** How much of the body (CRs left out) the dedup digest covers: bounded work for any size. */
const BODY_DIGEST_CHARS = 65536;

/**
 * SHA-256 of the start of the body (after the first empty line): its first 64 KiB with CR bytes
 * left out, so the same message read from a file with LF line ends and from IMAP with CRLF hashes
 * alike. Someone who does not know that much of a customer's text cannot collide with it.
 */
function bodyDigest(raw: Buffer): string {
  let start = raw.length;
  for (let i = raw.indexOf(10); i >= 0; i = raw.indexOf(10, i + 1)) {
    if (raw[i + 1] === 10) { start = i + 2; break; }
    if (raw[i + 1] === 13 && raw[i + 2] === 10) { start = i + 3; break; }
  }
  // Twice the span in bytes: even a body of CRLF pairs keeps that many characters without CRs.
  const body = raw.subarray(start, start + 2 * BODY_DIGEST_CHARS).toString('latin1').replaceAll('\r', '').slice(0, BODY_DIGEST_CHARS);
  return createHash('sha256').update(body, 'latin1').digest('hex');
}

/**
 * The email id of a raw message arriving at `mailbox`. Deduplication is by Message-ID *together
 * with* who sent it and what it says: the parsed From addresses and a digest of the body. A second
 * delivery of the same message (the same file again, an IMAP re-fetch, another folder, extra
 * trace headers on top) gets the same id; a message from someone else that guessed or copied the
 * Message-ID (even with a forged From) gets its own id, so it cannot silence the real one. Without
 * a Message-ID the whole message is the key.
 */
export function emailIdOf(raw: Buffer, mailbox: string): EmailId {
  const messageId = peekMessageId(raw);
  if (messageId === null) return emailIdFor(mailbox, `sha256:${sha256Hex(raw)}`);
  return emailIdFor(mailbox, `${messageId}\nfrom:${peekFromAddresses(raw)}\nbody:${bodyDigest(raw)}`);
}

/** One message of a batch handed to {@link submitEmails}. */
export interface SubmitItem {
  input: Buffer;
  source: SourceInfo;
}

/**
 * What became of one message of a batch. `identify` failed on the message's own bytes before
 * anything was written (the same bytes fail again: quarantine it rather than retry); `store`
 * failed in Redis (nothing says it is durable: keep it to be taken in again).
 */
export type SubmitOutcome =
  | { ok: true; submission: Submission }
  | { ok: false; stage: 'identify' | 'store'; error: MailroomError };

type SubmitDeps = Pick<AppContext, 'config' | 'ledger' | 'audit' | 'content' | 'queues'>;

/** Settles every promise and maps each to its value or its error (as a MailroomError). */
async function outcomesOf<T>(promises: ReadonlyArray<Promise<T>>): Promise<Array<{ ok: true; value: T } | { ok: false; error: MailroomError }>> {
  return (await Promise.allSettled(promises)).map((r) => (r.status === 'fulfilled' ? { ok: true, value: r.value } : { ok: false, error: toMailroomError(r.reason) }));
}

/**
 * Takes a batch of raw messages in, as {@link submitEmail} takes one, with each step's Redis work
 * for the whole batch sent together: every ledger record, then every stored source and first
 * audit entry, then every ingest job in one `addBulk`. Each message gets its own outcome, in
 * input order: one that cannot be identified or stored does not stop the others, and a message
 * is `ok` only once its job is in Redis. Two copies of one message in a batch are one email;
 * the later copy is its duplicate.
 */
export async function submitEmails(app: SubmitDeps, items: readonly SubmitItem[], mailbox = app.config.mailbox.address, options: { shadow?: boolean } = {}): Promise<SubmitOutcome[]> {
  const mode = (options.shadow ?? app.config.shadow) ? 'shadow' : 'live';
  const outcomes: Array<SubmitOutcome | undefined> = new Array<SubmitOutcome | undefined>(items.length);
  /** The first copy of each email in the batch, and the later copies of it. */
  const firsts: Array<{ index: number; raw: Buffer; emailId: EmailId; source: SourceInfo }> = [];
  const copies: Array<{ index: number; of: number }> = [];
  const seen = new Map<EmailId, number>();
  items.forEach((item, index) => {
    try {
      // A message cut from an mbox archive starts with its `From ` separator line: not part of the
      // message, and without it the id, the stored raw and the DKIM check see what the sender sent.
      const raw = withoutMboxLine(item.input);
      const emailId = emailIdOf(raw, mailbox);
      const first = seen.get(emailId);
      if (first !== undefined) copies.push({ index, of: first });
      else {
        seen.set(emailId, firsts.length);
        firsts.push({ index, raw, emailId, source: item.source });
      }
    } catch (err) {
      outcomes[index] = { ok: false, stage: 'identify', error: toMailroomError(err, 'EMAIL_MALFORMED') };
    }
  });

  const created = await outcomesOf(
    firsts.map((f) => app.ledger.create(f.emailId, f.source.kind === 'file' ? f.source.path : `${f.source.account}/${f.source.folder}/${f.source.uid}`, { mailbox, mode })),
  );
  /** Emails whose job is still to be added (new, or left in `received` by an earlier submit that stopped). */
  const toEnqueue: typeof firsts = [];
  /** The shadow flag each first copy ends with (a duplicate keeps the mode it was taken in with). */
  const shadowOf: boolean[] = firsts.map(() => mode === 'shadow');
  /** First copies that are emails archived out of Redis: duplicates whose trail is not in Redis. */
  const archived = new Set<EmailId>();
  await Promise.all(
    firsts.map(async (f, i) => {
      const c = created[i];
      if (!c?.ok) {
        outcomes[f.index] = { ok: false, stage: 'store', error: c?.error ?? new MailroomError('INTERNAL', 'no ledger answer') };
        return;
      }
      if (c.value) {
        toEnqueue.push(f);
        return;
      }
      try {
        const rec = await app.ledger.get(f.emailId);
        shadowOf[i] = rec?.mode === 'shadow';
        // No record: the email was archived out of Redis (src/history); its trail is in the store
        // and is not reopened in Redis for a 'duplicate' line.
        if (!rec) archived.add(f.emailId);
        // A record left in `received` means an earlier submit stopped before its job was added.
        if (!rec || rec.state !== 'received' || (await app.queues.get('ingest').getJob(f.emailId))) {
          if (rec) await app.audit.append(f.emailId, 'duplicate', 'ingest', { source: f.source.kind });
          outcomes[f.index] = { ok: true, submission: { emailId: f.emailId, duplicate: true, shadow: shadowOf[i] ?? false } };
        } else toEnqueue.push(f);
      } catch (err) {
        outcomes[f.index] = { ok: false, stage: 'store', error: toMailroomError(err) };
      }
    }),
  );

  // The content and the trail's first entry do not depend on each other; both land before the job.
  const stored = await outcomesOf(
    toEnqueue.map(async (f) => {
      const [rawRef] = await Promise.all([app.content.putRaw(f.raw), app.audit.append(f.emailId, 'ingested', 'ingest', { source: f.source.kind, sizeBytes: f.raw.length })]);
      return { ...f, rawRef };
    }),
  );
  const jobs: Array<{ index: number; emailId: EmailId; data: IngestJob }> = [];
  stored.forEach((r, i) => {
    const f = toEnqueue[i];
    if (!f) return;
    if (r.ok) jobs.push({ index: f.index, emailId: f.emailId, data: { emailId: f.emailId, rawRef: r.value.rawRef, source: f.source } });
    else outcomes[f.index] = { ok: false, stage: 'store', error: r.error };
  });
  if (jobs.length) {
    // One MULTI: every job of the batch is in Redis, or none is (and each is taken in again).
    // One job alone goes in as before (a single submit costs no MULTI).
    const only = jobs.length === 1 ? jobs[0] : undefined;
    const added = await outcomesOf<unknown>([only ? app.queues.add('ingest', only.data, { jobId: only.emailId }) : app.queues.addBulk('ingest', jobs.map((j) => ({ data: j.data, jobId: j.emailId })))]);
    const res = added[0];
    for (const j of jobs) {
      outcomes[j.index] = res?.ok
        ? { ok: true, submission: { emailId: j.emailId, duplicate: false, shadow: mode === 'shadow' } }
        : { ok: false, stage: 'store', error: res?.error ?? new MailroomError('INTERNAL', 'no queue answer') };
    }
  }

  // A second copy within the batch is a duplicate of the first, once the first is safe.
  await Promise.all(
    copies.map(async ({ index, of }) => {
      const f = firsts[of];
      const first = f ? outcomes[f.index] : undefined;
      if (!f || !first?.ok) {
        outcomes[index] = first ?? { ok: false, stage: 'store', error: new MailroomError('INTERNAL', 'first copy has no outcome') };
        return;
      }
      try {
        if (!archived.has(f.emailId)) await app.audit.append(f.emailId, 'duplicate', 'ingest', { source: items[index]?.source.kind ?? f.source.kind });
        outcomes[index] = { ok: true, submission: { emailId: f.emailId, duplicate: true, shadow: first.submission.shadow } };
      } catch (err) {
        outcomes[index] = { ok: false, stage: 'store', error: toMailroomError(err) };
      }
    }),
  );
  return outcomes.map((o) => o ?? { ok: false, stage: 'store', error: new MailroomError('INTERNAL', 'message has no outcome') });
}

/**
 * Takes a raw message into Mailroom: stores it by reference, records it, and enqueues ingest with
 * the email id as job id (a second delivery of the same message is a no-op). Returns only after
 * the job is in Redis, so a source may mark the message handled afterwards. `shadow` (default: the
 * config's `shadow`) fixes the email's mode for good; a duplicate keeps the mode it was taken in with.
 */
export async function submitEmail(app: SubmitDeps, input: Buffer, source: SourceInfo, mailbox = app.config.mailbox.address, options: { shadow?: boolean } = {}): Promise<Submission> {
  const [outcome] = await submitEmails(app, [{ input, source }], mailbox, options);
  if (!outcome) throw new MailroomError('INTERNAL', 'submit gave no outcome');
  if (!outcome.ok) throw outcome.error;
  return outcome.submission;
}
