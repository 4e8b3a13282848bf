import { z } from 'zod';
import { lowerAscii, unfold } from '../mail/header-syntax.js';

/** Characters of `b=` kept: enough to tell signatures apart, as `header.b` does (RFC 6008 asks for at least 8). */
const B_PREFIX_CHARS = 64;

/**
 * What the DKIM-Signature headers of a message say about what they cover, read from the raw
 * header block in the parse thread. Structure only: whether a signature is valid is decided by our
 * MTA (its Authentication-Results) or our local check (mailauth); this says what a valid one binds.
 */
export const DkimSignatureFacts = z.object({
  /** `d=`, lowercased. */
  domain: z.string().max(255),
  /** `s=`, lowercased. */
  selector: z.string().max(255),
  /** The first characters of `b=` without whitespace: how Authentication-Results name a signature (`header.b`). */
  b: z.string().max(B_PREFIX_CHARS),
  /** `h=`: the signed header names in order, lowercased (a name listed n times signs n copies, bottom-most first). */
  signed: z.array(z.string().max(80)).max(200),
  /** `l=`: the canonical body bytes signed; null when the whole body is. */
  bodyLength: z.number().int().nonnegative().nullable(),
  /** With `l=` only: the canonical length of the whole body under this signature's body canonicalization. */
  canonicalBodyLength: z.number().int().nonnegative().nullable(),
  /** `x=` in ms since the epoch; null when the signature does not expire. */
  expiresAt: z.number().nullable(),
});
export type DkimSignatureFacts = z.infer<typeof DkimSignatureFacts>;

/** DKIM-Signature headers read per message; more are not looked at (and cannot make a pass). */
export const MAX_SIGNATURES = 8;

/**
 * Splits a tag-list (`a=1; b=2`) into lowercased names and values with folding whitespace
 * removed; null when a tag repeats (RFC 6376 makes that an error, so nothing may pass on it).
 */
export function dkimTags(value: string): Map<string, string> | null {
  const tags = new Map<string, string>();
  for (const part of unfold(value).split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim().toLowerCase();
    if (tags.has(name)) return null;
    tags.set(name, part.slice(eq + 1).replace(/[ \t\r\n]+/g, ''));
  }
  return tags;
}

/**
 * The canonical length of a message body (RFC 6376 §3.4.3 simple, §3.4.4 relaxed), counting the
 * body as CRLF-terminated lines whatever line ends it arrived with.
 */
export function canonicalBodyLength(body: Buffer, canon: 'simple' | 'relaxed'): number {
  const lines = body.toString('latin1').split(/\r?\n/);
  // A body that ends with a line end splits into a last empty string that is no line.
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const canonLines = canon === 'relaxed' ? lines.map((l) => l.replace(/[ \t]+/g, ' ').replace(/ $/, '')) : lines;
  let end = canonLines.length;
  while (end > 0 && canonLines[end - 1] === '') end -= 1;
  if (end === 0) return canon === 'simple' ? 2 : 0;
  let length = 0;
  for (let i = 0; i < end; i++) length += (canonLines[i]?.length ?? 0) + 2;
  return length;
}

/**
 * The facts of each DKIM-Signature header field (topmost first, at most MAX_SIGNATURES). A header
 * without `d=`, `s=` or `b=`, or with a repeated tag, is left out: nothing can pass on it.
 */
export function readDkimSignatures(headerValues: readonly string[], body: () => Buffer): DkimSignatureFacts[] {
  const out: DkimSignatureFacts[] = [];
  let bodyOf: Buffer | undefined;
  for (const value of headerValues.slice(0, MAX_SIGNATURES)) {
    const tags = dkimTags(value);
    if (!tags) continue;
    const domain = lowerAscii(tags.get('d') ?? '');
    const selector = lowerAscii(tags.get('s') ?? '');
    const b = tags.get('b') ?? '';
    if (!domain || !selector || !b) continue;
    const signed = (tags.get('h') ?? '')
      .split(':')
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean)
      .slice(0, 200);
    const lTag = tags.get('l');
    const bodyLength = lTag !== undefined && /^\d{1,15}$/.test(lTag) ? Number(lTag) : lTag !== undefined ? 0 : null;
    const bodyCanon = (tags.get('c') ?? 'simple/simple').toLowerCase().split('/')[1] === 'relaxed' ? 'relaxed' : 'simple';
    let canonical: number | null = null;
    if (bodyLength !== null) {
      bodyOf ??= body();
      canonical = canonicalBodyLength(bodyOf, bodyCanon);
    }
    const xTag = tags.get('x');
    out.push({
      domain: domain.slice(0, 255),
      selector: selector.slice(0, 255),
      b: b.slice(0, B_PREFIX_CHARS),
      signed: signed.map((h) => h.slice(0, 80)),
      bodyLength,
      canonicalBodyLength: canonical,
      expiresAt: xTag !== undefined && /^\d{1,12}$/.test(xTag) ? Number(xTag) * 1000 : null,
    });
  }
  return out;
}
