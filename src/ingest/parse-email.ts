import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import { MailroomError } from '../errors.js';
import { z } from 'zod';
import { UntrustedContent } from './trusted-context.js';

/** Limits applied before and while parsing; over-limit mail is quarantined with the reason. */
export const ParseLimits = z.object({
  maxMessageBytes: z.number().int().positive(),
  maxAttachments: z.number().int().min(0),
  maxHeaderLines: z.number().int().positive(),
  /** Largest single attachment, decoded. @defaultValue 10 MiB */
  maxAttachmentBytes: z.number().int().positive().optional(),
  /** Deepest nesting of multiparts and attached messages. @defaultValue 20 */
  maxMimeDepth: z.number().int().positive().optional(),
});
export type ParseLimits = z.infer<typeof ParseLimits>;

export const DEFAULT_PARSE_LIMITS: ParseLimits = {
  maxMessageBytes: 25 * 1024 * 1024,
  maxAttachments: 50,
  maxHeaderLines: 500,
  maxAttachmentBytes: 10 * 1024 * 1024,
  maxMimeDepth: 20,
};

/** The result of parsing, already split: structural facts we established, and untrusted content. */
export const ParsedEmail = z.object({
  facts: z.object({
    sizeBytes: z.number().int().min(0),
    fromAddresses: z.array(z.string()),
    authResults: z.array(z.string()),
    attachmentTypes: z.array(z.string()),
    headerLines: z.array(z.object({ key: z.string(), line: z.string() })),
    contentType: z.string(),
  }),
  content: UntrustedContent,
});
export type ParsedEmail = z.infer<typeof ParsedEmail>;

const MIME_TYPE = /^[a-z0-9.+-]+\/[a-z0-9.+-]+$/;

function addresses(obj: AddressObject | AddressObject[] | undefined): string[] {
  const list = obj === undefined ? [] : Array.isArray(obj) ? obj : [obj];
  return list.flatMap((o) => o.value).flatMap((v) => (v.address ? [v.address.toLowerCase()] : []));
}

/** Cheap look at the raw header block, so the CLI can refuse files that are not email at all. */
export function looksLikeEmail(raw: Buffer): boolean {
  const head = raw.subarray(0, 4096).toString('latin1');
  if (head.includes('\u0000')) return false;
  const lines = head.split(/\r?\n/, 20);
  const headerish = lines.filter((l) => /^[\x21-\x39\x3b-\x7e]+:[ \t]?/.test(l));
  return headerish.length >= 2 && /^[\x21-\x39\x3b-\x7e]+:/.test(lines[0] ?? '');
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
export async function parseEmail(raw: Buffer, limits: ParseLimits = DEFAULT_PARSE_LIMITS): Promise<ParsedEmail> {
  if (raw.length > limits.maxMessageBytes) {
    throw new MailroomError('EMAIL_TOO_LARGE', `message is ${raw.length} bytes, over the limit of ${limits.maxMessageBytes}`);
  }
  const headerEnd = raw.indexOf('\r\n\r\n') >= 0 ? raw.indexOf('\r\n\r\n') : raw.indexOf('\n\n');
  if (raw.subarray(0, headerEnd >= 0 ? headerEnd : raw.length).includes(0)) {
    throw new MailroomError('EMAIL_MALFORMED', 'bad encoding: a NUL byte in the header');
  }
  if (!looksLikeEmail(raw)) throw new MailroomError('EMAIL_MALFORMED', 'no RFC 5322 header block');
  // Checked before the full parse: a header flood or a nesting bomb must not reach mailparser.
  const shape = scanMimeShape(raw);
  if (shape.headerLines > limits.maxHeaderLines) {
    throw new MailroomError('EMAIL_MALFORMED', `${shape.headerLines} header lines, over the limit of ${limits.maxHeaderLines}`);
  }
  const maxDepth = limits.maxMimeDepth ?? DEFAULT_PARSE_LIMITS.maxMimeDepth ?? 20;
  if (shape.depth > maxDepth) {
    throw new MailroomError('EMAIL_MALFORMED', `MIME nesting ${shape.depth} deep, over the limit of ${maxDepth}`);
  }
  if (shape.unterminated) throw new MailroomError('EMAIL_MALFORMED', 'broken MIME: a multipart is never closed');
  if (shape.unknownEncoding !== null) {
    throw new MailroomError('EMAIL_MALFORMED', `bad encoding: unknown Content-Transfer-Encoding ${JSON.stringify(shape.unknownEncoding.replace(/[^\x21-\x7e]/g, '?'))}`);
  }
  const maxAttachmentBytes = limits.maxAttachmentBytes ?? DEFAULT_PARSE_LIMITS.maxAttachmentBytes ?? Infinity;
  // Refused before mailparser would decode (and hold) it.
  if (shape.largestAttachmentBytes > maxAttachmentBytes) {
    throw new MailroomError('EMAIL_TOO_LARGE', `an attachment of ${shape.largestAttachmentBytes} bytes, over the limit of ${maxAttachmentBytes}`);
  }
  let parsed: ParsedMail;
  try {
    // skipTextToHtml: we never use mailparser's HTML rendering of the text, and on a large
    // message it is the most expensive step (linkifying every line).
    parsed = await simpleParser(raw, { skipImageLinks: true, skipTextToHtml: true, maxHtmlLengthToParse: 2 * 1024 * 1024 });
  } catch (err) {
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
  const authResults = parsed.headerLines
    .filter((h) => h.key === 'authentication-results')
    .map((h) => h.line.slice(h.line.indexOf(':') + 1).trim());
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
  if (/^multipart\//i.test(contentType)) {
    const boundary = /;\s*boundary=([^;]+)/i.exec(contentType)?.[1];
    if (!boundary || !raw.includes(`--${boundary}`)) throw new MailroomError('EMAIL_MALFORMED', 'multipart body without its boundary');
  }
  return {
    facts: {
      sizeBytes: raw.length,
      fromAddresses,
      authResults,
      attachmentTypes,
      headerLines: parsed.headerLines.map((h) => ({ key: h.key, line: h.line })),
      contentType,
    },
    content: {
      messageId: parsed.messageId ?? null,
      references: references.slice(0, 100),
      subject: parsed.subject ?? '',
      fromDisplayName: fromObj?.value[0]?.name ?? '',
      fromAddress: fromAddresses[0] ?? null,
      replyTo: addresses(parsed.replyTo)[0] ?? null,
      // mailparser leaves the text empty for HTML over maxHtmlLengthToParse; our linear stripper
      // still gives the readers something to read.
      text: capText(parsed.text || (typeof parsed.html === 'string' ? htmlToText(parsed.html) : '')),
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
 * Characters of text and of HTML kept in the stored content. Readers see a few thousand at most;
 * the cap keeps every later copy (Redis, JSON, each tool's read) small however large the mail.
 */
export const MAX_STORED_TEXT_CHARS = 1_000_000;

function capText(text: string): string {
  return text.length > MAX_STORED_TEXT_CHARS ? text.slice(0, MAX_STORED_TEXT_CHARS) : text;
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
  /** The first Content-Transfer-Encoding no decoder knows, if any. */
  unknownEncoding: string | null;
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

const KNOWN_ENCODINGS = new Set(['7bit', '8bit', 'binary', 'base64', 'quoted-printable', 'uuencode', 'x-uuencode']);

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
        const cte = /(?:^|\n)content-transfer-encoding:[ \t]*([^\s;]+)/i.exec(header)?.[1]?.toLowerCase();
        if (cte && !KNOWN_ENCODINGS.has(cte)) unknownEncoding ??= cte.slice(0, 40);
        if (mediaType.startsWith('multipart/')) {
          const b = BOUNDARY.exec(type?.[2] ?? '');
          const boundary = b?.[1] ?? b?.[2];
          if (boundary) {
            const at = open.get(boundary);
            if (at) at.push(stack.length);
            else open.set(boundary, [stack.length]);
            stack.push({ boundary, parts: 0 });
          }
        } else if (mediaType === 'message/rfc822' || mediaType === 'message/global') {
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
    const asOpen = topmost(trimmed.slice(2));
    const asClose = trimmed.endsWith('--') ? topmost(trimmed.slice(2, -2)) : -1;
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
      if (entry && entry.parts === 0) unterminated = true;
      pop();
      // a closed container inside an attached message: the message ends with the outer boundary
      while (stack.length && stack[stack.length - 1]?.boundary === null) pop();
    } else {
      if (entry) entry.parts += 1;
      inHeader = true;
      headerStart = next;
    }
  }
  endLeaf();
  if (stack.some((s) => s.boundary !== null && s.parts === 0)) unterminated = true;
  if (meter) meter.steps += steps + stack.length;
  return { headerLines: topHeaderLines, depth, unterminated, unknownEncoding, largestAttachmentBytes };
}
