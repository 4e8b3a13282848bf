import type { AddressObject, ParsedMail } from 'mailparser';
import { MailroomError } from '../kernel/errors.js';
import { z } from 'zod';
import { AuthFacts, readAuthFacts } from './auth-facts.js';
import { lowerAscii } from '../mail/header-syntax.js';
import { UntrustedContent } from '../model/trusted-context.js';
import { applyFixes, MAX_MIME_NODES, scanMimeShape } from './mime-scan.js';
import { longestHeaderField, looksLikeEmail, withoutMboxLine } from './peeks.js';

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
 * parse: the main thread imports this module for its schemas and limits, while
 * parsing runs in a parse thread (parse-isolated.ts, which loads it before taking work), so a
 * worker process's main thread never holds it (about 11 MB of RSS).
 */
export const loadMailparser = () => import('mailparser');


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
