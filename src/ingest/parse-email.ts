import type { AddressObject, ParsedMail } from 'mailparser';
import { MailroomError } from '../kernel/errors.js';
import { z } from 'zod';
import { AuthFacts, readAuthFacts } from './auth-facts.js';
import { lowerAscii } from '../mail/header-syntax.js';
import { UntrustedContent } from '../model/trusted-context.js';

/** Limits applied before and while parsing; over-limit mail is quarantined with the reason. */
export const ParseLimits = z.object({
  maxMessageBytes: z.number().int().positive(),
  maxAttachments: z.number().int().min(0),
  maxHeaderLines: z.number().int().positive(),
  /** Largest single attachment, decoded. @defaultValue {@link DEFAULT_PARSE_LIMITS} */
  maxAttachmentBytes: z.number().int().positive().optional(),
  /** Deepest nesting of multiparts and attached messages. @defaultValue {@link DEFAULT_PARSE_LIMITS} */
  maxMimeDepth: z.number().int().positive().optional(),
  /** Longest single header field of the top-level header, unfolded, in bytes. @defaultValue {@link DEFAULT_PARSE_LIMITS} */
  maxHeaderFieldBytes: z.number().int().positive().optional(),
});
export type ParseLimits = z.infer<typeof ParseLimits>;

/**
 * The limits of a parse with none given (tests, tools without a config). The same values as the
 * config file's defaults (`limits` and `maxMessageBytes` in src/config/config.ts), which the
 * ingest stage passes; not imported from there so the parse thread stays small.
 * test/config-defaults.test.ts holds the two equal.
 */
export const DEFAULT_PARSE_LIMITS = {
  maxMessageBytes: 25 * 1024 * 1024,
  maxAttachments: 50,
  maxHeaderLines: 500,
  maxAttachmentBytes: 10 * 1024 * 1024,
  maxMimeDepth: 20,
  maxHeaderFieldBytes: 64 * 1024,
} satisfies Required<ParseLimits>;

/** The result of parsing, already split: structural facts we established, and untrusted content. */
export const ParsedEmail = z.object({
  facts: z.object({
    sizeBytes: z.number().int().min(0),
    fromAddresses: z.array(z.string()),
    /** What sender verification reads of the header block (counted and parsed here, in the parse thread). */
    auth: AuthFacts,
    attachmentTypes: z.array(z.string()),
    headerLines: z.array(z.object({ key: z.string(), line: z.string() })),
    contentType: z.string(),
    /** What was mended before parsing, so an operator can see why sloppy mail was still taken in. */
    repairs: z.array(z.enum(['mbox-from-line', 'transfer-encoding', 'unclosed-multipart', 'multipart-without-boundary'])).optional(),
  }),
  content: UntrustedContent,
});
export type ParsedEmail = z.infer<typeof ParsedEmail>;

const MIME_TYPE = /^[a-z0-9.+-]+\/[a-z0-9.+-]+$/;

function addresses(obj: AddressObject | AddressObject[] | undefined): string[] {
  const list = obj === undefined ? [] : Array.isArray(obj) ? obj : [obj];
  return list.flatMap((o) => o.value).flatMap((v) => (v.address ? [lowerAscii(v.address)] : []));
}

/**
 * mailparser and what it pulls in (iconv tables, an HTML-to-text converter), loaded on the first
 * parse: the main thread imports this module for its schemas, limits and header peeks, while
 * parsing runs in a parse thread (parse-isolated.ts, which loads it before taking work), so a
 * worker process's main thread never holds it (about 11 MB of RSS).
 */
export const loadMailparser = () => import('mailparser');

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

/** The Message-ID from the raw header block, for dedup before the full parse. */
export function peekMessageId(raw: Buffer): string | null {
  const head = raw.subarray(0, 65536).toString('latin1');
  const end = head.search(/\r?\n\r?\n/);
  const block = end >= 0 ? head.slice(0, end) : head;
  const m = /^message-id:[ \t]*(?:\r?\n[ \t]+)?(<[^>\r\n]{1,900}>)/im.exec(block);
  return m?.[1] ?? null;
}

/**
 * Parses a raw message under limits. Throws MailroomError EMAIL_MALFORMED / EMAIL_TOO_LARGE with a
 * reason fit for the dead-letter queue (never including the mail's text).
 */
export async function parseEmail(input: Buffer, limits: ParseLimits = DEFAULT_PARSE_LIMITS): Promise<ParsedEmail> {
  if (input.length > limits.maxMessageBytes) {
    throw new MailroomError('EMAIL_TOO_LARGE', `message is ${input.length} bytes, over the limit of ${limits.maxMessageBytes}`);
  }
  const repairs: NonNullable<ParsedEmail['facts']['repairs']> = [];
  let raw = withoutMboxLine(input);
  if (raw !== input) repairs.push('mbox-from-line');
  // Where the header block ends and the body starts: the first empty line, CRLF or LF.
  const crlfEnd = raw.indexOf('\r\n\r\n');
  const lfEnd = raw.indexOf('\n\n');
  const headerEnd = Math.min(crlfEnd < 0 ? raw.length : crlfEnd, lfEnd < 0 ? raw.length : lfEnd);
  const bodyStart = headerEnd === raw.length ? raw.length : headerEnd + (headerEnd === crlfEnd ? 4 : 2);
  if (raw.subarray(0, headerEnd).includes(0)) {
    throw new MailroomError('EMAIL_MALFORMED', 'bad encoding: a NUL byte in the header');
  }
  // Before any parser sees it: a megabyte From costs seconds of address parsing.
  const maxField = limits.maxHeaderFieldBytes ?? DEFAULT_PARSE_LIMITS.maxHeaderFieldBytes;
  const longest = longestHeaderField(raw, headerEnd);
  if (longest > maxField) throw new MailroomError('EMAIL_MALFORMED', `a header field of ${longest} bytes, over the limit of ${maxField}`);
  if (!looksLikeEmail(raw)) throw new MailroomError('EMAIL_MALFORMED', 'no RFC 5322 header block');
  // What the signatures cover is the body as it came, before any repair below.
  const signedBody = raw.subarray(bodyStart);
  // Checked before the full parse: a header flood or a nesting bomb must not reach mailparser.
  const shape = scanMimeShape(raw);
  if (shape.headerLines > limits.maxHeaderLines) {
    throw new MailroomError('EMAIL_MALFORMED', `${shape.headerLines} header lines, over the limit of ${limits.maxHeaderLines}`);
  }
  const maxDepth = limits.maxMimeDepth ?? DEFAULT_PARSE_LIMITS.maxMimeDepth;
  if (shape.depth > maxDepth) {
    throw new MailroomError('EMAIL_MALFORMED', `MIME nesting ${shape.depth} deep, over the limit of ${maxDepth}`);
  }
  if (shape.nodes > MAX_MIME_NODES) {
    throw new MailroomError('EMAIL_MALFORMED', `${shape.nodes} MIME parts, over the limit of ${MAX_MIME_NODES}`);
  }
  if (shape.encodingFixes.length > 0) {
    raw = applyFixes(raw, shape.encodingFixes);
    repairs.push('transfer-encoding');
  }
  if (shape.unclosed) repairs.push('unclosed-multipart');
  const maxAttachmentBytes = limits.maxAttachmentBytes ?? DEFAULT_PARSE_LIMITS.maxAttachmentBytes;
  // Refused before mailparser would decode (and hold) it.
  if (shape.largestAttachmentBytes > maxAttachmentBytes) {
    throw new MailroomError('EMAIL_TOO_LARGE', `an attachment of ${shape.largestAttachmentBytes} bytes, over the limit of ${maxAttachmentBytes}`);
  }
  let parsed: ParsedMail;
  try {
    // skipTextToHtml: we never use mailparser's HTML rendering of the text, and on a large
    // message it is the most expensive step (linkifying every line).
    parsed = await (await loadMailparser()).simpleParser(raw, { skipImageLinks: true, skipTextToHtml: true, maxHtmlLengthToParse: 2 * 1024 * 1024 });
  } catch (err) {
    // mailsplit's own ceilings (a part header over 1 MiB, too many nodes) carry this code.
    if (err instanceof Error && 'code' in err && err.code === 'EMAXLEN') {
      throw new MailroomError('EMAIL_MALFORMED', 'MIME shape over the parser\'s limits (a part header over 1 MiB, or more than 1000 parts)', { cause: err });
    }
    throw new MailroomError('EMAIL_MALFORMED', `MIME parse failed (${err instanceof Error ? err.name : 'error'})`, { cause: err });
  }
  if (parsed.headerLines.length > limits.maxHeaderLines) {
    throw new MailroomError('EMAIL_MALFORMED', `${parsed.headerLines.length} header lines, over the limit of ${limits.maxHeaderLines}`);
  }
  const fromAddresses = addresses(parsed.from);
  if (fromAddresses.length === 0) throw new MailroomError('EMAIL_MALFORMED', 'no From address');
  if (parsed.attachments.length > limits.maxAttachments) {
    throw new MailroomError('EMAIL_MALFORMED', `${parsed.attachments.length} attachments, over the limit of ${limits.maxAttachments}`);
  }
  const biggest = Math.max(0, ...parsed.attachments.map((a) => a.size));
  if (biggest > maxAttachmentBytes) {
    throw new MailroomError('EMAIL_TOO_LARGE', `an attachment of ${biggest} bytes, over the limit of ${maxAttachmentBytes}`);
  }
  const auth = readAuthFacts(parsed.headerLines, () => signedBody);
  const attachmentTypes = [
    ...new Set(parsed.attachments.map((a) => a.contentType.toLowerCase()).filter((t) => MIME_TYPE.test(t))),
  ];
  const fromObj = Array.isArray(parsed.from) ? parsed.from[0] : parsed.from;
  const references = Array.isArray(parsed.references) ? parsed.references : parsed.references ? [parsed.references] : [];
  const ct = parsed.headers.get('content-type');
  const contentType =
    typeof ct === 'object' && ct !== null && 'value' in ct
      ? `${String(ct.value)}${Object.entries('params' in ct && ct.params ? ct.params : {})
          .map(([k, v]) => `; ${k}=${String(v)}`)
          .join('')}`
      : 'text/plain';
  // A multipart none of whose boundaries ever occurs (or that names none) has no part to take: its
  // body is read as one text part, as mail clients show it (part headers and all), and the audit
  // says it was malformed. One with parts but no closing boundary (truncated) is taken as far as it goes.
  const boundary = /^multipart\//i.test(contentType) ? (/;\s*boundary=([^;]+)/i.exec(contentType)?.[1] ?? '') : null;
  const withoutParts = shape.unterminated || (boundary !== null && (boundary === '' || !raw.includes(`--${boundary}`)));
  if (withoutParts) repairs.push('multipart-without-boundary');
  const text = withoutParts ? bodyAsText(signedBody) : parsed.text || (typeof parsed.html === 'string' ? htmlToText(parsed.html) : '');
  return {
    facts: {
      sizeBytes: raw.length,
      fromAddresses,
      auth,
      attachmentTypes,
      headerLines: parsed.headerLines.map((h) => ({ key: h.key, line: h.line })),
      contentType,
      ...(repairs.length > 0 ? { repairs } : {}),
    },
    content: {
      messageId: parsed.messageId ?? null,
      inReplyTo: typeof parsed.inReplyTo === 'string' && parsed.inReplyTo.length <= 998 ? parsed.inReplyTo : null,
      references: references.slice(0, 100),
      subject: parsed.subject ?? '',
      fromDisplayName: fromObj?.value[0]?.name ?? '',
      fromAddress: fromAddresses[0] ?? null,
      replyTo: addresses(parsed.replyTo)[0] ?? null,
      // mailparser leaves the text empty for HTML over maxHtmlLengthToParse; our linear stripper
      // still gives the readers something to read.
      text: capText(text),
      html: typeof parsed.html === 'string' ? capText(parsed.html) : null,
      attachments: parsed.attachments.map((a) => ({
        filename: a.filename ?? '',
        contentType: a.contentType,
        size: a.size,
      })),
    },
  };
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

/**
 * Characters of text and of HTML kept in the stored content. Readers see a few thousand at most;
 * the cap keeps every later copy (Redis, JSON, each tool's read) small however large the mail.
 */
export const MAX_STORED_TEXT_CHARS = 1_000_000;

function capText(text: string): string {
  return text.length > MAX_STORED_TEXT_CHARS ? text.slice(0, MAX_STORED_TEXT_CHARS) : text;
}

/** Repairs that mean the mail was malformed (read anyway, as mail clients show it); the others mend sloppy but readable mail. */
export const MALFORMED_REPAIRS: ReadonlySet<string> = new Set(['multipart-without-boundary']);

/** A body no MIME structure can be read from, as one text part: UTF-8 where it is, U+FFFD elsewhere. */
function bodyAsText(body: Buffer): string {
  return new TextDecoder('utf-8', { fatal: false }).decode(body.subarray(0, MAX_STORED_TEXT_CHARS * 4)).replace(/\r\n/g, '\n');
}

function htmlToText(html: string): string {
  // `[^<>]` rather than `[^>]`: a run of unclosed `<` must not make every `<` scan to the end.
  return html.replace(/<[^<>]*>/g, ' ').replace(/\s+/g, ' ').trim();
}

/** What a cheap line scan learns about a message's structure, before any decoding. */
export interface MimeShape {
  /** Header fields (unfolded) in the top-level header. */
  headerLines: number;
  /** Deepest nesting of multiparts and attached messages (a single-part message is 0). */
  depth: number;
  /** A multipart whose closing boundary never comes and that has no part at all. */
  unterminated: boolean;
  /** The first Content-Transfer-Encoding no decoder knows, if any (it is mended, see encodingFixes). */
  unknownEncoding: string | null;
  /** Where a non-standard Content-Transfer-Encoding value sits, and the known encoding it means. */
  encodingFixes: EncodingFix[];
  /** A multipart with parts whose closing boundary never comes (a truncated message). */
  unclosed: boolean;
  /** MIME nodes: the message, every part and every attached message. */
  nodes: number;
  /**
   * The largest part that is not an inline text body, in decoded bytes at least (base64 counted as
   * 3/4 of its characters, quoted-printable as 1/3): known before mailparser decodes anything.
   */
  largestAttachmentBytes: number;
}

/** A leaf part being read: how its body decodes and how many body characters it has so far. */
interface LeafPart {
  encoding: string | undefined;
  attachment: boolean;
  chars: number;
}

/** The fewest bytes a body of `chars` characters decodes to in `encoding`. */
function decodedAtLeast(part: LeafPart): number {
  if (part.encoding === 'base64') return Math.max(0, Math.floor((part.chars * 3) / 4) - 2);
  if (part.encoding === 'quoted-printable') return Math.floor(part.chars / 3);
  return part.chars;
}

/** Most MIME nodes a message may have: mailsplit (under mailparser) refuses more than 1000. */
export const MAX_MIME_NODES = 1000;

const KNOWN_ENCODINGS = new Set(['7bit', '8bit', 'binary', 'base64', 'quoted-printable', 'uuencode', 'x-uuencode']);

/** A byte range of the raw message (a header value) and what to put there instead. */
export interface EncodingFix {
  start: number;
  end: number;
  value: string;
}

/**
 * The known encoding a non-standard Content-Transfer-Encoding token means, the way mail libraries
 * read sloppy clients: spellings of base64 and quoted-printable decode as such, anything else
 * (`7-bit`, `8bits`, `plain`, `text/plain`, `none`, garbage) is taken as 8bit, i.e. not decoded.
 * Admits the spellings it knows; everything unrecognised gets the decoder that changes nothing.
 */
export function nearestEncoding(token: string): string {
  const t = (token.split(';')[0] ?? '').toLowerCase().replace(/["'\s]/g, '');
  if (KNOWN_ENCODINGS.has(t)) return t;
  if (/^(?:x-)?base-?64$/.test(t) || t === 'b64') return 'base64';
  if (/^(?:x-)?(?:quoted(?:-?printable)?|qp|quotedprintable)$/.test(t)) return 'quoted-printable';
  if (/^7-?bits?$/.test(t)) return '7bit';
  if (/^x-?uue?(?:ncode)?$/.test(t) || t === 'uue') return 'x-uuencode';
  return '8bit';
}

/** `raw` with each fix's range replaced by its value (ranges in order, not overlapping). */
function applyFixes(raw: Buffer, fixes: readonly EncodingFix[]): Buffer {
  const pieces: Buffer[] = [];
  let at = 0;
  for (const f of fixes) {
    pieces.push(raw.subarray(at, f.start), Buffer.from(f.value, 'latin1'));
    at = f.end;
  }
  pieces.push(raw.subarray(at));
  return Buffer.concat(pieces);
}

const BOUNDARY = /boundary\s*=\s*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))/i;

/** Counts the steps a scan takes (lines read, container entries pushed or popped), so tests can show it is linear. */
export interface ScanMeter {
  steps: number;
}

/** Longest boundary the scan recognises (RFC 2046 allows 70; the BOUNDARY pattern takes 200). */
const MAX_BOUNDARY = 200;

/**
 * Scans the raw message line by line, tracking open multipart boundaries and attached messages,
 * so nesting depth and header count are known without building the MIME tree.
 *
 * Linear in the size of the message whatever its shape: every line is read once, a delimiter
 * line is looked up in a map from boundary to the open containers that use it (not compared with
 * every open container), every container is pushed and popped at most once, and a part's header
 * is sliced out once instead of being built up line by line.
 */
export function scanMimeShape(raw: Buffer, meter?: ScanMeter): MimeShape {
  const text = raw.toString('latin1');
  /** Open containers: a multipart's boundary, or null for an attached message/rfc822. */
  const stack: Array<{ boundary: string | null; parts: number }> = [];
  /** For each boundary, the stack positions of the open multiparts using it, innermost last. */
  const open = new Map<string, number[]>();
  let steps = 0;
  const pop = () => {
    const entry = stack.pop();
    steps += 1;
    if (entry?.boundary != null) {
      const at = open.get(entry.boundary);
      at?.pop();
      if (at?.length === 0) open.delete(entry.boundary);
    }
    return entry;
  };
  const topmost = (boundary: string): number => {
    const at = open.get(boundary);
    return at?.[at.length - 1] ?? -1;
  };
  let depth = 0;
  let topHeaderLines = 0;
  let inHeader = true;
  let top = true;
  let headerStart = 0;
  let unterminated = false;
  let unknownEncoding: string | null = null;
  let nodes = 1;
  const encodingFixes: EncodingFix[] = [];
  let leaf: LeafPart | null = null;
  let largestAttachmentBytes = 0;
  const endLeaf = () => {
    if (leaf?.attachment) largestAttachmentBytes = Math.max(largestAttachmentBytes, decodedAtLeast(leaf));
    leaf = null;
  };
  for (let pos = 0; pos <= text.length; ) {
    steps += 1;
    const nl = text.indexOf('\n', pos);
    const lineEnd = nl < 0 ? text.length : nl;
    const next = nl < 0 ? text.length + 1 : nl + 1;
    const contentEnd = lineEnd > pos && text.charCodeAt(lineEnd - 1) === 13 ? lineEnd - 1 : lineEnd;
    const lineStart = pos;
    pos = next;
    if (inHeader) {
      if (contentEnd === lineStart) {
        const header = text.slice(headerStart, lineStart);
        inHeader = false;
        top = false;
        const type = /(?:^|\n)content-type:[ \t]*([^;\s]+)([^\n]*(?:\n[ \t][^\n]*)*)/i.exec(header);
        const mediaType = type?.[1]?.toLowerCase() ?? 'text/plain';
        const cteMatch = /(?:^|\n)content-transfer-encoding:[ \t]*([^\r\n]*)/i.exec(header);
        let cte = cteMatch?.[1]?.trim().toLowerCase();
        if (cteMatch && cte !== undefined && !KNOWN_ENCODINGS.has(cte)) {
          unknownEncoding ??= cte.slice(0, 40);
          // The whole value (up to the line end) becomes the known token; latin1 offsets are byte offsets.
          const start = headerStart + cteMatch.index + cteMatch[0].length - (cteMatch[1]?.length ?? 0);
          cte = nearestEncoding(cte);
          encodingFixes.push({ start, end: headerStart + cteMatch.index + cteMatch[0].length, value: cte });
        }
        if (mediaType.startsWith('multipart/')) {
          const b = BOUNDARY.exec(type?.[2] ?? '');
          // Trailing spaces are not part of a boundary (RFC 2046 ends it with a non-space) and
          // delimiter lines are compared trimmed: senders that quote them anyway still match.
          const boundary = (b?.[1] ?? b?.[2])?.trimEnd();
          if (boundary) {
            const at = open.get(boundary);
            if (at) at.push(stack.length);
            else open.set(boundary, [stack.length]);
            stack.push({ boundary, parts: 0 });
          }
        } else if (mediaType === 'message/rfc822' || mediaType === 'message/global') {
          nodes += 1;
          stack.push({ boundary: null, parts: 0 });
          inHeader = true;
          headerStart = next;
        } else {
          const inlineText = (mediaType === 'text/plain' || mediaType === 'text/html') && !/(?:^|\n)content-disposition:[ \t]*attachment/i.test(header);
          leaf = { encoding: cte, attachment: !inlineText, chars: 0 };
        }
        depth = Math.max(depth, stack.length);
        continue;
      }
      const first = text.charCodeAt(lineStart);
      if (top && first !== 32 && first !== 9) topHeaderLines += 1;
      continue;
    }
    // A delimiter line is `--boundary` or `--boundary--`, optionally followed by whitespace.
    const isDelimiter = text.charCodeAt(lineStart) === 45 && text.charCodeAt(lineStart + 1) === 45 && contentEnd - lineStart <= MAX_BOUNDARY + 4 + 1024;
    if (!isDelimiter) {
      if (leaf) leaf.chars += contentEnd - lineStart;
      continue;
    }
    const trimmed = text.slice(lineStart, contentEnd).trimEnd();
    let asOpen = topmost(trimmed.slice(2));
    let asClose = trimmed.endsWith('--') ? topmost(trimmed.slice(2, -2)) : -1;
    if (asOpen < 0 && asClose < 0) {
      // RFC 2046 asks implementors to match a boundary at the start of the line: some clients
      // write text after it (`--b some words`). One more map lookup, so still linear.
      const token = /^--([^ \t]*)/.exec(trimmed)?.[1] ?? '';
      asOpen = topmost(token);
      asClose = token.endsWith('--') ? topmost(token.slice(0, -2)) : -1;
    }
    const at = Math.max(asOpen, asClose);
    if (at < 0) {
      if (leaf) leaf.chars += contentEnd - lineStart;
      continue;
    }
    endLeaf();
    const entry = stack[at];
    const closing = asClose === at && asOpen !== at;
    while (stack.length > at + 1) pop(); // anything opened inside ends with its parent's boundary
    if (closing) {
      // A closing delimiter with no part before it is an empty multipart: nothing to read, no harm.
      pop();
      // a closed container inside an attached message: the message ends with the outer boundary
      while (stack.length && stack[stack.length - 1]?.boundary === null) pop();
    } else {
      if (entry) entry.parts += 1;
      nodes += 1;
      inHeader = true;
      headerStart = next;
    }
  }
  endLeaf();
  if (stack.some((s) => s.boundary !== null && s.parts === 0)) unterminated = true;
  const unclosed = stack.some((s) => s.boundary !== null && s.parts > 0);
  if (meter) meter.steps += steps + stack.length;
  return { headerLines: topHeaderLines, depth, unterminated, unknownEncoding, encodingFixes, unclosed, nodes, largestAttachmentBytes };
}
