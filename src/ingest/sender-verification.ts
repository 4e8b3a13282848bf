import addressparser from 'nodemailer/lib/addressparser';
import { z } from 'zod';
import { lowerAscii } from './header-syntax.js';
import type { Sender } from './trusted-context.js';

/** One `method=result` entry of an Authentication-Results header, with its properties. */
export interface AuthResult {
  method: string;
  result: string;
  props: Record<string, string>;
  /** The text of the entry's comments, which MTAs use for details with no registered property. */
  comments: string[];
}

export interface ParsedAuthResults {
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

/** Parses one Authentication-Results header value (RFC 8601). Unparseable parts are skipped. */
export function parseAuthenticationResults(value: string): ParsedAuthResults | null {
  const [head, ...rest] = splitOutsideComments(value.replace(/\r?\n[ \t]+/g, ' '));
  const authservId = head?.text.trim().split(/\s+/)[0]?.toLowerCase();
  if (!authservId) return null;
  const results: AuthResult[] = [];
  for (const part of rest) {
    const tokens = part.text.trim().split(/\s+/).filter(Boolean);
    const first = tokens.shift();
    const m = first ? /^([a-z0-9-]+)=([a-z]+)$/i.exec(first) : null;
    if (!m?.[1] || !m[2]) continue;
    const props: Record<string, string> = {};
    for (const t of tokens) {
      const eq = t.indexOf('=');
      if (eq > 0) props[t.slice(0, eq).toLowerCase()] = lowerAscii(t.slice(eq + 1).replace(/^"|"$/g, ''));
    }
    results.push({ method: m[1].toLowerCase(), result: m[2].toLowerCase(), props, comments: part.comments });
  }
  return { authservId, results };
}

/**
 * Whether a `dkim=pass` entry says its signature covers only part of the body (an `l=` tag with
 * text after the signed length, which anyone may have appended). No registered property carries
 * this; mailauth-based MTAs write it as the comment "undersized signature: N bytes unsigned". Only
 * our own MTA writes the header we read, so a sender cannot add such a comment, and honouring it
 * can only take a pass away.
 */
export function coversPartOfBody(result: AuthResult): boolean {
  return result.comments.some((c) => /\bundersized\b/i.test(c));
}

/**
 * How many mailboxes the message's From header fields name together: every From field counts
 * (mailparser keeps only the first), and so does every entry of each, group members and entries
 * without an address included. A sender is verifiable only when this is exactly 1: with two From
 * fields, a group or a second entry, what a person's mail client shows need not be the address
 * that was authenticated.
 */
export function countFromMailboxes(headerLines: ReadonlyArray<{ key: string; line: string }>): number {
  let count = 0;
  for (const h of headerLines) {
    if (h.key !== 'from') continue;
    const value = h.line.slice(h.line.indexOf(':') + 1).replace(/\r?\n[ \t]+/g, ' ');
    const entries = addressparser(value);
    if (entries.length === 0) count += 1;
    for (const e of entries) count += 'group' in e && e.group ? Math.max(1, e.group.length) : 1;
  }
  return count;
}

const domainOf = (address: string) => lowerAscii(address.slice(address.lastIndexOf('@') + 1));

/** Relaxed alignment (DMARC): the signing domain is the From domain or a parent of it. */
export function aligned(fromDomain: string, signingDomain: string): boolean {
  return fromDomain === signingDomain || fromDomain.endsWith(`.${signingDomain}`);
}

/**
 * What Mailroom's own DKIM/DMARC check (mailauth, in src/ingest/local-auth.ts) found, reduced to
 * the facts `verifySender` needs. Computed by us, so trusted; only consulted when no
 * Authentication-Results of our authserv-id exist. `unsignedBytes` is how much of the body an
 * `l=` tag left outside the signature (0: all of it is signed).
 */
export const LocalAuthResult = z.object({
  /** DMARC evaluated on DKIM alone (no SPF: we do not know the connecting IP). Null: no record or not evaluated. */
  dmarc: z.object({ result: z.string(), headerFrom: z.string(), unsignedBytes: z.number().int().nonnegative() }).nullable(),
  dkim: z.array(z.object({ domain: z.string(), result: z.string(), unsignedBytes: z.number().int().nonnegative() })),
});
export type LocalAuthResult = z.infer<typeof LocalAuthResult>;

export interface VerificationInput {
  /** From addresses as parsed; exactly one is required for a verified sender. */
  fromAddresses: string[];
  /** Mailboxes named by all From header fields together (`countFromMailboxes`); exactly one is required. */
  fromMailboxes: number;
  /** Authentication-Results header values, topmost first. */
  authResults: string[];
  authservId: string | undefined;
  trustedSenders: readonly string[];
  /** The mailbox the mail came through is configured as trusted (e.g. internal only). */
  trustedMailbox?: boolean;
  /** Our own DKIM/DMARC check, when one was run. */
  local?: LocalAuthResult | undefined;
}

function ownResults(input: Pick<VerificationInput, 'authResults' | 'authservId'>): ParsedAuthResults | undefined {
  const id = input.authservId?.toLowerCase();
  if (!id) return undefined;
  return input.authResults.map(parseAuthenticationResults).find((r): r is ParsedAuthResults => r !== null && r.authservId === id);
}

/**
 * Whether a local DKIM/DMARC check could change the outcome: one well-formed From, not already
 * trusted, no Authentication-Results of ours, and at least one DKIM signature to check (without
 * one there is nothing to verify, and no DNS query is made).
 */
export function needsLocalCheck(input: VerificationInput, hasDkimSignature: boolean): boolean {
  if (!hasDkimSignature || input.fromAddresses.length !== 1 || input.fromMailboxes !== 1 || input.trustedMailbox) return false;
  const from = lowerAscii(input.fromAddresses[0] ?? '');
  if (input.trustedSenders.includes(from)) return false;
  return ownResults(input) === undefined;
}

const PARTIAL_BODY = 'DKIM signs only part of the body (l=)';

function verifyLocally(from: string, local: LocalAuthResult): Sender {
  const fromDomain = domainOf(from);
  const dmarc = local.dmarc;
  if (dmarc && dmarc.result !== 'pass' && dmarc.result !== 'none') return { verified: false, reason: `local check: dmarc=${dmarc.result}` };
  // mailauth evaluates DMARC on the From it parsed itself: another domain means the two parses disagree.
  if (dmarc?.result === 'pass' && lowerAscii(dmarc.headerFrom) !== fromDomain) {
    return { verified: false, reason: 'local check: DMARC evaluated another From domain' };
  }
  // Locally DMARC rests on DKIM alone, so a pass through a partial signature is no pass.
  if (dmarc?.result === 'pass' && dmarc.unsignedBytes === 0) return { verified: true, address: from, method: 'dmarc' };
  const passes = local.dkim.filter((d) => d.result === 'pass' && aligned(fromDomain, lowerAscii(d.domain)));
  if (passes.some((d) => d.unsignedBytes === 0)) return { verified: true, address: from, method: 'dkim' };
  if (passes.length > 0 || dmarc?.result === 'pass') return { verified: false, reason: `local check: ${PARTIAL_BODY}` };
  return { verified: false, reason: 'local check: no aligned DKIM pass' };
}

/**
 * Decides whether the From address is verified. Only results stamped by our own MTA (the
 * configured authserv-id) count, and of those only the topmost header: RFC 8601 §5 has the MTA
 * remove inbound headers that claim its id, so anything further down may be forged. Where none
 * exists, the result of our own local check (`input.local`) decides. Pure: the local check is
 * run by the caller (it needs DNS) and passed in.
 *
 * A pass counts only for exactly one From mailbox, a `dmarc=pass` only when it names that
 * mailbox's domain in `header.from`, and a DKIM signature only when it covers the whole body.
 */
export function verifySender(input: VerificationInput): Sender {
  if (input.fromAddresses.length !== 1 || input.fromMailboxes !== 1) {
    return { verified: false, reason: input.fromAddresses.length === 0 ? 'no From address' : 'several From addresses' };
  }
  const from = lowerAscii(input.fromAddresses[0] ?? '');
  if (!/^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/.test(from)) return { verified: false, reason: 'From is not an address' };
  if (input.trustedSenders.includes(from)) return { verified: true, address: from, method: 'trusted-sender' };
  if (input.trustedMailbox) return { verified: true, address: from, method: 'trusted-mailbox' };
  const ours = ownResults(input);
  if (!ours && input.local) return verifyLocally(from, input.local);
  if (!input.authservId) return { verified: false, reason: 'no authserv-id configured' };
  if (!ours) return { verified: false, reason: 'no Authentication-Results from our authserv-id' };
  const fromDomain = domainOf(from);
  const dmarc = ours.results.find((r) => r.method === 'dmarc');
  if (dmarc && dmarc.result !== 'pass' && dmarc.result !== 'none') {
    return { verified: false, reason: `dmarc=${dmarc.result}` };
  }
  const dmarcFrom = dmarc?.props['header.from'];
  // Our MTA evaluated DMARC for another From than the one we parsed (a second From, say).
  if (dmarcFrom !== undefined && dmarcFrom !== fromDomain) return { verified: false, reason: 'DMARC evaluated another From domain' };
  const dkimPasses = ours.results.filter((r) => r.method === 'dkim' && r.result === 'pass');
  const alignedDkim = dkimPasses.filter((r) => aligned(fromDomain, r.props['header.d'] ?? ''));
  const wholeBodyDkim = alignedDkim.some((r) => !coversPartOfBody(r));
  if (dmarc?.result === 'pass' && dmarcFrom === fromDomain) {
    // DMARC passes on any aligned signature; when one of ours covers part of the body, the pass
    // must rest on a whole-body aligned signature or on aligned SPF.
    const spfAligned = ours.results.some((r) => r.method === 'spf' && r.result === 'pass' && aligned(fromDomain, domainOf(r.props['smtp.mailfrom'] ?? '')));
    if (!dkimPasses.some(coversPartOfBody) || wholeBodyDkim || spfAligned) return { verified: true, address: from, method: 'dmarc' };
    return { verified: false, reason: PARTIAL_BODY };
  }
  if (wholeBodyDkim) return { verified: true, address: from, method: 'dkim' };
  if (alignedDkim.length > 0) return { verified: false, reason: PARTIAL_BODY };
  return { verified: false, reason: 'no aligned DMARC or DKIM pass' };
}
