import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import { MailroomError } from '../errors.js';
import type { UntrustedContent } from './trusted-context.js';

/** Limits applied before and while parsing; over-limit mail is quarantined with the reason. */
export interface ParseLimits {
  maxMessageBytes: number;
  maxAttachments: number;
  maxHeaderLines: number;
}

export const DEFAULT_PARSE_LIMITS: ParseLimits = { maxMessageBytes: 25 * 1024 * 1024, maxAttachments: 50, maxHeaderLines: 500 };

/** The result of parsing, already split: structural facts we established, and untrusted content. */
export interface ParsedEmail {
  facts: {
    sizeBytes: number;
    fromAddresses: string[];
    authResults: string[];
    attachmentTypes: string[];
    headerLines: Array<{ key: string; line: string }>;
    contentType: string;
  };
  content: UntrustedContent;
}

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
  if (!looksLikeEmail(raw)) throw new MailroomError('EMAIL_MALFORMED', 'no RFC 5322 header block');
  let parsed: ParsedMail;
  try {
    parsed = await simpleParser(raw, { skipImageLinks: true, maxHtmlLengthToParse: 2 * 1024 * 1024 });
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
      text: parsed.text ?? (typeof parsed.html === 'string' ? htmlToText(parsed.html) : ''),
      html: typeof parsed.html === 'string' ? parsed.html : null,
      attachments: parsed.attachments.map((a) => ({
        filename: a.filename ?? '',
        contentType: a.contentType,
        size: a.size,
      })),
    },
  };
}

function htmlToText(html: string): string {
  return html.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
}
