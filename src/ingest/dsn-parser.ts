/**
 * Delivery status notification (RFC 3464) and read-receipt (RFC 8098) parsing: which of our
 * Message-IDs a report names, and the reported `Action`/`Status`. Pure and linear in the text; the
 * linking to our outbound index and the audit trail live in `bounces.ts`.
 *
 * A DSN is unauthenticated and sender-written: everything returned here is either an
 * angle-bracketed msg-id (looked up, never trusted) or a value restricted to a closed format.
 */
import { z } from 'zod';

/** DSN `Action` values (RFC 3464 §2.3.3). */
export const DsnAction = z.enum(['failed', 'delayed', 'delivered', 'relayed', 'expanded']);
export type DsnAction = z.infer<typeof DsnAction>;

/**
 * The first recipient's `Action` and `Status` in the `message/delivery-status` part of a raw DSN,
 * each only if it has the RFC 3464 form; otherwise null.
 */
export function dsnOutcome(raw: string): { action: DsnAction | null; status: string | null } {
  const text = raw.replace(/\r\n?/g, '\n');
  const start = text.search(/^content-type:\s*message\/(?:global-)?delivery-status/im);
  if (start < 0) return { action: null, status: null };
  const body = text.slice(start);
  const end = body.search(/^--/m);
  const part = end < 0 ? body : body.slice(0, end);
  const action = DsnAction.safeParse(/^action:\s*([a-z]+)/im.exec(part)?.[1]?.toLowerCase());
  const status = /^status:\s*([245]\.\d{1,3}\.\d{1,3})\b/im.exec(part)?.[1] ?? null;
  return { action: action.success ? action.data : null, status };
}

/** MIME types whose content is (the headers of) the original message or an MDN's fields. */
const EMBEDDED_PART =
  /content-type:\s*(?:message\/(?:rfc822|global-headers|global|disposition-notification)|text\/rfc822-headers)(?=[\s;]|$)/gi;

/** Header fields that name the original message: its own Message-ID, or an MDN's pointer to it. */
const ID_FIELDS = new Set(['message-id', 'original-message-id']);

const MAX_IDS = 50;

/**
 * Message-IDs from the header block starting at `start` (up to the first blank line), read in
 * place: no copy of the rest of the text. Returns where the block ends.
 */
function idsFromHeaderBlock(text: string, start: number, out: string[], meter?: { steps: number }): number {
  let fieldStart = start;
  let pos = start;
  const takeField = (end: number) => {
    if (end <= fieldStart || out.length >= MAX_IDS) return;
    const colon = text.indexOf(':', fieldStart);
    if (colon < 0 || colon >= end || colon - fieldStart > 80) return;
    if (!ID_FIELDS.has(text.slice(fieldStart, colon).trim().toLowerCase())) return;
    for (const id of text.slice(colon + 1, end).match(/<[^<>\s@]+@[^<>\s@]+>/g) ?? []) {
      if (!out.includes(id) && out.length < MAX_IDS) out.push(id);
    }
  };
  for (;;) {
    if (meter) meter.steps += 1;
    const nl = text.indexOf('\n', pos);
    const lineEnd = nl < 0 ? text.length : nl;
    if (text.slice(pos, lineEnd).trim() === '') {
      takeField(pos);
      return lineEnd;
    }
    const first = text.charCodeAt(pos);
    // A line not starting with whitespace starts a new field; a folded line continues the last.
    if (pos > fieldStart && first !== 32 && first !== 9) {
      takeField(pos);
      fieldStart = pos;
    }
    if (nl < 0) {
      takeField(text.length);
      return text.length;
    }
    pos = nl + 1;
  }
}

/**
 * Finds the Message-IDs (angle-bracketed, as written, e.g. `<r7.step-send@acme.example>`) of the
 * message a DSN or MDN reports on, so a bounce can be linked to our outbound message.
 *
 * Input is either the text of the report's `text/rfc822-headers`, `message/rfc822` or
 * `message/disposition-notification` part (mailparser's attachment content), or a whole raw
 * report: then only the header blocks following those parts' Content-Type are read, so the
 * report's own Message-ID and any IDs in the original body are ignored. Transfer-encoded
 * (base64) parts must be decoded by the caller.
 *
 * DSNs are unauthenticated: anyone can send one naming our Message-ID. Treat the link as a hint
 * (e.g. mark a delivery as failed), never as grounds for a privileged action.
 */
export function extractBouncedMessageIds(rawOrText: string, meter?: { steps: number }): string[] {
  const text = rawOrText.replace(/\r\n?/g, '\n');
  const out: string[] = [];
  let sawPart = false;
  // Linear whatever the number of markers: the search for the blank line that ends a part's MIME
  // headers resumes where the last one stopped, and a header block is read at most once, even
  // when many markers lead to it.
  let searchedFrom = -1;
  let blank = -1;
  let readUpTo = -1;
  for (const match of text.matchAll(EMBEDDED_PART)) {
    sawPart = true;
    if (meter) meter.steps += 1;
    if (out.length >= MAX_IDS) break;
    // The embedded headers start after the blank line that ends this part's MIME headers.
    if (searchedFrom < 0 || (blank >= 0 && blank < match.index)) {
      searchedFrom = match.index;
      blank = text.indexOf('\n\n', match.index);
    }
    if (blank < 0) break;
    if (blank + 2 <= readUpTo) continue;
    readUpTo = idsFromHeaderBlock(text, blank + 2, out, meter);
  }
  if (!sawPart) {
    let start = 0;
    while (text.charCodeAt(start) === 10) start += 1;
    idsFromHeaderBlock(text, start, out, meter);
  }
  return out;
}
