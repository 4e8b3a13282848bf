import addressparser from 'nodemailer/lib/addressparser';

// Cheap looks at a raw message that parse nothing: where an mbox separator ends, whether the
// bytes look like mail at all, the Message-ID and From addresses for dedup, the longest header
// field. The main thread uses them before (or instead of) a parse; they load no mail parser.
/**
 * The byte offset where the message starts: after a leading mbox `From ` separator line (what
 * mbox archives and some exports put before each message), else 0. The line is not a header
 * (no colon after the field name) and no mail library passes it on as one.
 */
export function mboxLineEnd(raw: Buffer): number {
  if (raw.length < 5 || raw.toString('latin1', 0, 5) !== 'From ') return 0;
  const nl = raw.indexOf(10);
  // A separator line is short; a first "line" of megabytes is no separator, and nothing to mend.
  return nl > 0 && nl <= 1000 ? nl + 1 : 0;
}

/** The message without a leading mbox `From ` line (the same buffer when there is none). */
export function withoutMboxLine(raw: Buffer): Buffer {
  const start = mboxLineEnd(raw);
  return start === 0 ? raw : raw.subarray(start);
}

/** Cheap look at the raw header block, so the CLI can refuse files that are not email at all. */
export function looksLikeEmail(raw: Buffer): boolean {
  const start = mboxLineEnd(raw);
  const head = raw.subarray(start, start + 4096).toString('latin1');
  // A NUL in the header means binary, not mail; one in the body is the body's business.
  const blank = head.search(/\r?\n\r?\n/);
  if ((blank >= 0 ? head.slice(0, blank) : head).includes('\u0000')) return false;
  const lines = head.split(/\r?\n/, 20);
  // RFC 5322's obsolete syntax allows blanks before the colon (`Subject :`); old clients still write it.
  const headerish = lines.filter((l) => /^[\x21-\x39\x3b-\x7e]+[ \t]*:/.test(l));
  return headerish.length >= 2 && /^[\x21-\x39\x3b-\x7e]+[ \t]*:/.test(lines[0] ?? '');
}

/** How much of the message is searched for the header block by the dedup peeks. */
const HEAD_BYTES = 65536;

/** The raw header block: what comes before the first empty line within {@link HEAD_BYTES}. */
function headerBlock(raw: Buffer): string {
  const head = raw.subarray(0, HEAD_BYTES).toString('latin1');
  const end = head.search(/\r?\n\r?\n/);
  return end >= 0 ? head.slice(0, end) : head;
}

/** The Message-ID from the raw header block, for dedup before the full parse. */
export function peekMessageId(raw: Buffer): string | null {
  const block = headerBlock(raw);
  const m = /^message-id:[ \t]*(?:\r?\n[ \t]+)?(<[^>\r\n]{1,900}>)/im.exec(block);
  return m?.[1] ?? null;
}

/** The From addresses of the raw header block (the first 4 From headers), parsed and lowercased, in order. */
export function peekFromAddresses(raw: Buffer): string {
  const block = headerBlock(raw).replace(/\r?\n(?=[ \t])/g, '');
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

/**
 * The length in bytes of the longest header field in `raw[0, end)`, its folded lines together:
 * one pass over the bytes, no string built.
 */
export function longestHeaderField(raw: Buffer, end: number): number {
  let longest = 0;
  let fieldStart = 0;
  let at = 0;
  while (at <= end) {
    const nl = raw.indexOf(10, at);
    const lineEnd = nl < 0 || nl > end ? end : nl;
    // A line that starts with a space or tab continues the field before it.
    const next = raw[lineEnd + 1];
    if (lineEnd === end || (next !== 32 && next !== 9)) {
      longest = Math.max(longest, lineEnd - fieldStart);
      fieldStart = lineEnd + 1;
    }
    at = lineEnd + 1;
  }
  return longest;
}
