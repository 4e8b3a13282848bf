import { z } from 'zod';
import { lowerAscii } from '../mail/header-syntax.js';
import type { VerificationProfile } from '../model/verification.js';

/** One `method=result` entry of an Authentication-Results header, with its properties. */
export interface AuthResult {
  method: string;
  result: string;
  props: Record<string, string>;
  /** The text of the entry's comments, which MTAs use for details with no registered property. */
  comments: string[];
}

export interface ParsedAuthResults {
  /** The authserv-id, lowercased; empty for the id-less form Microsoft 365 writes. */
  authservId: string;
  results: AuthResult[];
}

/**
 * Splits a header value at the semicolons outside RFC 5322 comments `( ... )` (which may nest),
 * and separates each part's text from its comments.
 */
function splitOutsideComments(value: string): Array<{ text: string; comments: string[] }> {
  const parts: Array<{ text: string; comments: string[] }> = [{ text: '', comments: [] }];
  let depth = 0;
  let comment = '';
  for (const ch of value) {
    const part = parts[parts.length - 1];
    if (!part) break;
    if (ch === '(') {
      if (depth > 0) comment += ch;
      depth += 1;
    } else if (ch === ')' && depth > 0) {
      depth -= 1;
      if (depth === 0) {
        part.comments.push(comment.trim());
        comment = '';
      } else comment += ch;
    } else if (depth > 0) comment += ch;
    else if (ch === ';') parts.push({ text: '', comments: [] });
    else part.text += ch;
  }
  return parts;
}

function readResult(part: { text: string; comments: string[] }): AuthResult | null {
  const tokens = part.text.trim().split(/\s+/).filter(Boolean);
  const first = tokens.shift();
  const m = first ? /^([a-z0-9-]+)=([a-z]+)$/i.exec(first) : null;
  if (!m?.[1] || !m[2]) return null;
  const props: Record<string, string> = {};
  for (const t of tokens) {
    const eq = t.indexOf('=');
    if (eq <= 0) continue;
    const name = t.slice(0, eq).toLowerCase();
    const value = t.slice(eq + 1).replace(/^"|"$/g, '');
    // header.b is base64, where case matters; every other value compares case-insensitively.
    props[name] = name === 'header.b' ? value : lowerAscii(value);
  }
  return { method: m[1].toLowerCase(), result: m[2].toLowerCase(), props, comments: part.comments };
}

/**
 * Parses one Authentication-Results header value (RFC 8601). Unparseable parts are skipped. A
 * header whose first part is already a result (`spf=pass …`, as Microsoft 365 writes it) has no
 * authserv-id: it parses with an empty one, which no configured id matches.
 */
export function parseAuthenticationResults(value: string): ParsedAuthResults | null {
  const [head, ...rest] = splitOutsideComments(value.replace(/\r?\n[ \t]+/g, ' '));
  const first = head?.text.trim().split(/\s+/)[0] ?? '';
  if (!first) return null;
  const idLess = first.includes('=');
  const results: AuthResult[] = [];
  for (const part of idLess && head ? [head, ...rest] : rest) {
    const r = readResult(part);
    if (r) results.push(r);
  }
  return { authservId: idLess ? '' : first.toLowerCase(), results };
}

interface ProfileRule {
  /** `topmost`: only the topmost Authentication-Results of the message, which must be the provider's. `above-hop`: ours above our SMTP hop. */
  placement: 'topmost' | 'above-hop';
  /** The provider's authserv-id, when it is fixed; otherwise the configured `authservId`. */
  id?: (id: string) => boolean;
}

const PROFILES: Record<VerificationProfile, ProfileRule> = {
  generic: { placement: 'above-hop' },
  rspamd: { placement: 'above-hop' },
  'opendkim-opendmarc': { placement: 'above-hop' },
  gmail: { placement: 'topmost', id: (id) => id === 'mx.google.com' },
  microsoft365: { placement: 'topmost', id: (id) => id === '' },
  fastmail: { placement: 'topmost', id: (id) => /^mx\d{0,3}\.messagingengine\.com$/.test(id) },
};

/** An Authentication-Results header with where it stands among the top-level header fields (0 = topmost). */
export const IndexedHeader = z.object({ index: z.number().int().nonnegative(), value: z.string() });
export type IndexedHeader = z.infer<typeof IndexedHeader>;

/** The topmost Received line that records an SMTP hand-off (the last SMTP hop before the mailbox). */
export const SmtpHop = z.object({
  index: z.number().int().nonnegative(),
  /** Its `by` host, lowercased. */
  by: z.string().max(255),
  /** Its date (after the last `;`) in ms, when it parses. */
  at: z.number().nullable(),
  /** Where the next Received line below it stands (any `with`), or null when it is the bottom-most. */
  nextReceived: z.number().int().nonnegative().nullable(),
});
export type SmtpHop = z.infer<typeof SmtpHop>;

/** SMTP-family `with` protocols (RFC 3848): what an MTA writes when it takes mail from a client. LMTP and local delivery are not. */
const SMTP_WITH = /\bwith\s+(?:E|UTF8)?SMTP[A-Z]*\b/i;

/** Reads the last SMTP hop from the Received header values, topmost first (each with its index). */
export function lastSmtpHop(received: readonly IndexedHeader[]): SmtpHop | null {
  for (const [i, r] of received.entries()) {
    const value = r.value.replace(/\r?\n[ \t]+/g, ' ');
    // The clauses before the date; comments are removed so `(with ESMTP)` written in a comment does not count.
    const semi = value.lastIndexOf(';');
    const clauses = (semi >= 0 ? value.slice(0, semi) : value).replace(/\([^()]*\)/g, ' ');
    if (!SMTP_WITH.test(clauses)) continue;
    const by = /\bby\s+([^\s;]+)/i.exec(clauses)?.[1] ?? '';
    const at = semi >= 0 ? Date.parse(value.slice(semi + 1).trim()) : NaN;
    const next = received[i + 1]?.index ?? null;
    return { index: r.index, by: lowerAscii(by).slice(0, 255), at: Number.isFinite(at) ? at : null, nextReceived: next };
  }
  return null;
}

export interface AuthResultsPolicy {
  profile: VerificationProfile;
  /** Our MTA's authserv-id (self-run profiles). */
  authservId: string | undefined;
  /** The `by` host of our MTA's Received line. @defaultValue authservId */
  receivedBy: string | undefined;
  /**
   * Our MTA deletes every Authentication-Results a sender wrote before its milter adds its own
   * (Postfix: the README's header_checks rule), so ours directly below our hop's Received line
   * (before the next Received below it) are the milter's too. A promise about the MTA, not
   * checked here: without the rule a sender's header on that spot is believed. @defaultValue false
   */
  inboundResultsRemoved?: boolean | undefined;
}

/** The results Mailroom believes, or why there are none. */
export type TrustedResults = { ok: true; results: AuthResult[] } | { ok: false; reason: string };

/**
 * The Authentication-Results our MTA (or mail provider) wrote, by the profile's rule, or why none
 * count. For a self-run MTA those of our id above our hop count, and with `inboundResultsRemoved`
 * also those in the block directly below our hop's Received line (down to the next Received):
 * never one below an earlier hop. Of those, the topmost counts; results are never combined across
 * headers, with one exception: OpenDKIM and OpenDMARC each write their own header, so there all
 * the headers that count are read together, provided DMARC and SPF each appear in one of them at
 * most (DKIM results name their signature, so several can stand side by side).
 */
export function trustedAuthResults(headers: readonly IndexedHeader[], hop: SmtpHop | null, policy: AuthResultsPolicy): TrustedResults {
  const rule = PROFILES[policy.profile];
  const parsed = headers.flatMap((h) => {
    const p = parseAuthenticationResults(h.value);
    return p ? [{ index: h.index, ...p }] : [];
  });
  if (rule.placement === 'topmost') {
    // The topmost header itself, parseable or not: never the next one down, which anyone may have written.
    const first = headers[0];
    const top = first ? parsed.find((p) => p.index === first.index) : undefined;
    if (!first) return { ok: false, reason: 'no Authentication-Results from our mail provider' };
    if (!top) return { ok: false, reason: 'the topmost Authentication-Results does not parse' };
    if (!rule.id?.(top.authservId)) return { ok: false, reason: `the topmost Authentication-Results is not ${policy.profile}'s` };
    return { ok: true, results: top.results };
  }
  const id = policy.authservId?.toLowerCase();
  if (!id) return { ok: false, reason: 'no authserv-id configured' };
  const ours = parsed.filter((p) => p.authservId === id);
  if (ours.length === 0) return { ok: false, reason: 'no Authentication-Results from our authserv-id' };
  const by = (policy.receivedBy ?? id).toLowerCase();
  if (!hop) return { ok: false, reason: 'no Received line of our MTA: its Authentication-Results cannot be placed' };
  if (hop.by !== by) return { ok: false, reason: `the last SMTP hop is not our MTA (${by})` };
  const end = hop.nextReceived ?? Infinity;
  const directlyBelow = (p: { index: number }) => p.index > hop.index && p.index < end;
  const counted = ours.filter((p) => p.index < hop.index || (policy.inboundResultsRemoved === true && directlyBelow(p)));
  if (counted.length === 0) {
    // Directly below our Received is where Postfix puts its milter's header, and where a sender's lands when the milter does not scan.
    if (ours.some(directlyBelow)) return { ok: false, reason: 'Authentication-Results of ours below our Received: inboundResultsRemoved is off' };
    return { ok: false, reason: 'Authentication-Results of our id stand only below an earlier hop: sender-written' };
  }
  const chosen = policy.profile === 'opendkim-opendmarc' ? counted : counted.slice(0, 1);
  const methods = chosen.flatMap((p) => [...new Set(p.results.map((r) => r.method))]).filter((m) => m !== 'dkim');
  if (new Set(methods).size !== methods.length) return { ok: false, reason: 'two Authentication-Results of ours report the same method' };
  return { ok: true, results: chosen.flatMap((p) => p.results) };
}
