import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { AppContext } from '../services/services.js';
import { stampAsOurMta } from '../eval/mta-stamp.js';
import type { EmailId } from '../kernel/ids.js';
import { caseOfEmail, readCase } from '../store/case-store.js';

/**
 * The bundled follow-up threads (examples/threads): a customer's answers to replies Mailroom sent
 * in the same run. Our reply's Message-ID is unguessable (a keyed hash, src/tools/outbound-headers.ts),
 * so a file cannot hold it: a template names it `{{reply:<example file>}}`, and the demo fills in
 * the Message-ID of the reply that example got, as the customer's mail client would, then stamps
 * the message as our MTA delivers mail (the sender's DKIM signature over From … References, our
 * Authentication-Results). Demo plumbing only: nothing here decides a link.
 */
export const ThreadExample = z
  .object({
    category: z.string(),
    /** Whether the sender's domain signs it (a DMARC pass); false: unsigned, DMARC fails. */
    verified: z.boolean(),
    /** The example that opened the case this one is a follow-up of; null: it must open its own. */
    followUpOf: z.string().nullable(),
    /** Earlier emails of its case. */
    turn: z.number().int().min(0),
    outcome: z.string(),
    why: z.string(),
  })
  .strict();
export type ThreadExample = z.infer<typeof ThreadExample>;
export const ThreadManifest = z.record(z.string(), ThreadExample);
export type ThreadManifest = z.infer<typeof ThreadManifest>;

export function readThreadManifest(dir: string): ThreadManifest {
  return ThreadManifest.parse(JSON.parse(readFileSync(path.join(dir, 'expected.json'), 'utf8')));
}

/**
 * Templates end in `.eml.tmpl`, so that `mailroom process examples/` does not take them for mail;
 * the email a template becomes is named without the `.tmpl` (the manifest's key, the demo's row).
 */
export const TEMPLATE_SUFFIX = '.tmpl';

/** The templates of a threads folder, in the order they are sent (by name). */
export function threadFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(`.eml${TEMPLATE_SUFFIX}`))
    .sort()
    .map((f) => path.join(dir, f));
}

/** The name of the email a template becomes (`01a-….eml` for `01a-….eml.tmpl`). */
export const deliveredName = (template: string): string => path.basename(template).slice(0, -TEMPLATE_SUFFIX.length);

const PLACEHOLDER = /\{\{reply:([A-Za-z0-9._-]+\.eml)\}\}/g;

/** The example files a template's placeholders name. */
export function namedReplies(template: string): string[] {
  return [...new Set([...template.matchAll(PLACEHOLDER)].map((m) => m[1] ?? ''))];
}

/** The Message-ID of the reply Mailroom sent to an email, from the case record; null when none went out. */
export async function replyMessageId(app: Pick<AppContext, 'redis' | 'keys'>, emailId: EmailId): Promise<string | null> {
  const caseId = await caseOfEmail(app, emailId);
  const record = caseId ? await readCase(app, caseId) : null;
  return record?.turns.find((t) => t.emailId === emailId)?.reply ?? null;
}

/**
 * The template as our MTA would hand the customer's answer to the mailbox: placeholders filled
 * from `replies` (example file → our reply's Message-ID), signed by the From domain when
 * `verified`, with our Authentication-Results. Throws when a named reply is missing.
 */
export function fillThread(template: string, replies: ReadonlyMap<string, string>, opts: { verified: boolean; authservId: string; recipient: string }): Buffer {
  const filled = template.replace(PLACEHOLDER, (_, file: string) => {
    const id = replies.get(file);
    if (!id) throw new Error(`examples/threads: no reply of ours to ${file} to answer`);
    return id;
  });
  const stamped = stampAsOurMta(filled, {
    authservId: opts.authservId,
    recipient: opts.recipient,
    ...(opts.verified ? {} : { signingDomain: null, results: { dkim: 'none' as const, dmarc: 'fail', spf: 'softfail' } }),
  });
  return Buffer.from(stamped, 'latin1');
}
