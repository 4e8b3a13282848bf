import { createHash } from 'node:crypto';
import addressparser from 'nodemailer/lib/addressparser';
import type { AppContext } from '../context.js';
import { emailIdFor, sha256Hex, type EmailId } from '../ids.js';
import { peekMessageId, withoutMboxLine } from './parse-email.js';
import type { SourceInfo } from './trusted-context.js';

export interface Submission {
  emailId: EmailId;
  duplicate: boolean;
  /** The email is handled in shadow mode: a new one as asked, a duplicate as it was first taken in. */
  shadow: boolean;
}

/** How much of the message is searched for the header block, as peekMessageId does. */
const HEAD_BYTES = 65536;

/** The From addresses of the raw header block (the first 4 From headers), parsed and lowercased, in order. */
function peekFromAddresses(raw: Buffer): string {
  const head = raw.subarray(0, HEAD_BYTES).toString('latin1');
  const end = head.search(/\r?\n\r?\n/);
  const block = (end >= 0 ? head.slice(0, end) : head).replace(/\r?\n(?=[ \t])/g, '');
  const addresses: string[] = [];
  let headers = 0;
  for (const m of block.matchAll(/^from:(.*)$/gim)) {
    // Bounded (RFC 5322's 998-character line, a few headers): a real From is far shorter, and a
    // flood of addresses must not make the address parser the slow part of taking mail in.
    if (++headers > 4) break;
    for (const a of addressparser((m[1] ?? '').slice(0, 998), { flatten: true })) addresses.push(a.address.toLowerCase());
  }
  return addresses.join(',');
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

/**
 * Takes a raw message into Mailroom: stores it by reference, records it, and enqueues ingest with
 * the email id as job id (a second delivery of the same message is a no-op). Returns only after
 * the job is in Redis, so a source may mark the message handled afterwards. `shadow` (default: the
 * config's `shadow`) fixes the email's mode for good; a duplicate keeps the mode it was taken in with.
 */
export async function submitEmail(
  app: Pick<AppContext, 'config' | 'ledger' | 'audit' | 'content' | 'queues'>,
  input: Buffer,
  source: SourceInfo,
  mailbox = app.config.mailbox.address,
  options: { shadow?: boolean } = {},
): Promise<Submission> {
  // A message cut from an mbox archive starts with its `From ` separator line: not part of the
  // message, and without it the id, the stored raw and the DKIM check see what the sender sent.
  const raw = withoutMboxLine(input);
  const emailId = emailIdOf(raw, mailbox);
  const mode = (options.shadow ?? app.config.shadow) ? 'shadow' : 'live';
  const created = await app.ledger.create(emailId, source.kind === 'file' ? source.path : `${source.account}/${source.folder}/${source.uid}`, { mailbox, mode });
  let shadow = mode === 'shadow';
  if (!created) {
    const rec = await app.ledger.get(emailId);
    shadow = rec?.mode === 'shadow';
    // A record left in `received` means an earlier submit stopped before its job was added.
    if (rec?.state !== 'received' || (await app.queues.get('ingest').getJob(emailId))) {
      await app.audit.append(emailId, 'duplicate', 'ingest', { source: source.kind });
      return { emailId, duplicate: true, shadow };
    }
  }
  // The content and the trail's first entry do not depend on each other; both land before the job.
  const [rawRef] = await Promise.all([
    app.content.putRaw(raw),
    app.audit.append(emailId, 'ingested', 'ingest', { source: source.kind, sizeBytes: raw.length }),
  ]);
  await app.queues.add('ingest', { emailId, rawRef, source }, { jobId: emailId });
  return { emailId, duplicate: false, shadow };
}
