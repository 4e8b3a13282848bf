import { z } from 'zod';
import type { Sender } from './trusted-context.js';

/** One `method=result` entry of an Authentication-Results header, with its properties. */
export interface AuthResult {
  method: string;
  result: string;
  props: Record<string, string>;
}

export interface ParsedAuthResults {
  authservId: string;
  results: AuthResult[];
}

/** Removes RFC 5322 comments `( ... )`, which may nest. */
function stripComments(value: string): string {
  let out = '';
  let depth = 0;
  for (const ch of value) {
    if (ch === '(') depth += 1;
    else if (ch === ')' && depth > 0) depth -= 1;
    else if (depth === 0) out += ch;
  }
  return out;
}

/** Parses one Authentication-Results header value (RFC 8601). Unparseable parts are skipped. */
export function parseAuthenticationResults(value: string): ParsedAuthResults | null {
  const clean = stripComments(value.replace(/\r?\n[ \t]+/g, ' '));
  const [head, ...rest] = clean.split(';');
  const authservId = head?.trim().split(/\s+/)[0]?.toLowerCase();
  if (!authservId) return null;
  const results: AuthResult[] = [];
  for (const part of rest) {
    const tokens = part.trim().split(/\s+/).filter(Boolean);
    const first = tokens.shift();
    const m = first ? /^([a-z0-9-]+)=([a-z]+)$/i.exec(first) : null;
    if (!m?.[1] || !m[2]) continue;
    const props: Record<string, string> = {};
    for (const t of tokens) {
      const eq = t.indexOf('=');
      if (eq > 0) props[t.slice(0, eq).toLowerCase()] = t.slice(eq + 1).replace(/^"|"$/g, '').toLowerCase();
    }
    results.push({ method: m[1].toLowerCase(), result: m[2].toLowerCase(), props });
  }
  return { authservId, results };
}

const domainOf = (address: string) => address.slice(address.lastIndexOf('@') + 1).toLowerCase();

/** Relaxed alignment (DMARC): the signing domain is the From domain or a parent of it. */
export function aligned(fromDomain: string, signingDomain: string): boolean {
  return fromDomain === signingDomain || fromDomain.endsWith(`.${signingDomain}`);
}

/**
 * What Mailroom's own DKIM/DMARC check (mailauth, in src/ingest/local-auth.ts) found, reduced to
 * the facts `verifySender` needs. Computed by us, so trusted; only consulted when no
 * Authentication-Results of our authserv-id exist.
 */
export const LocalAuthResult = z.object({
  /** DMARC evaluated on DKIM alone (no SPF: we do not know the connecting IP). Null: no record or not evaluated. */
  dmarc: z.object({ result: z.string(), headerFrom: z.string() }).nullable(),
  dkim: z.array(z.object({ domain: z.string(), result: z.string() })),
});
export type LocalAuthResult = z.infer<typeof LocalAuthResult>;

export interface VerificationInput {
  /** From addresses as parsed; exactly one is required for a verified sender. */
  fromAddresses: string[];
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
  if (!hasDkimSignature || input.fromAddresses.length !== 1 || input.trustedMailbox) return false;
  const from = (input.fromAddresses[0] ?? '').toLowerCase();
  if (input.trustedSenders.includes(from)) return false;
  return ownResults(input) === undefined;
}

function verifyLocally(from: string, local: LocalAuthResult): Sender {
  const fromDomain = domainOf(from);
  const dmarc = local.dmarc;
  if (dmarc?.result === 'pass' && dmarc.headerFrom.toLowerCase() === fromDomain) {
    return { verified: true, address: from, method: 'dmarc' };
  }
  if (dmarc && dmarc.result !== 'pass' && dmarc.result !== 'none') return { verified: false, reason: `local check: dmarc=${dmarc.result}` };
  const dkim = local.dkim.find((d) => d.result === 'pass' && aligned(fromDomain, d.domain.toLowerCase()));
  if (dkim) return { verified: true, address: from, method: 'dkim' };
  return { verified: false, reason: 'local check: no aligned DKIM pass' };
}

/**
 * Decides whether the From address is verified. Only results stamped by our own MTA (the
 * configured authserv-id) count, and of those only the topmost header: RFC 8601 §5 has the MTA
 * remove inbound headers that claim its id, so anything further down may be forged. Where none
 * exists, the result of our own local check (`input.local`) decides. Pure: the local check is
 * run by the caller (it needs DNS) and passed in.
 */
export function verifySender(input: VerificationInput): Sender {
  if (input.fromAddresses.length !== 1) {
    return { verified: false, reason: input.fromAddresses.length === 0 ? 'no From address' : 'several From addresses' };
  }
  const from = (input.fromAddresses[0] ?? '').toLowerCase();
  if (!/^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/.test(from)) return { verified: false, reason: 'From is not an address' };
  if (input.trustedSenders.includes(from)) return { verified: true, address: from, method: 'trusted-sender' };
  if (input.trustedMailbox) return { verified: true, address: from, method: 'trusted-mailbox' };
  const ours = ownResults(input);
  if (!ours && input.local) return verifyLocally(from, input.local);
  if (!input.authservId) return { verified: false, reason: 'no authserv-id configured' };
  if (!ours) return { verified: false, reason: 'no Authentication-Results from our authserv-id' };
  const fromDomain = domainOf(from);
  const dmarc = ours.results.find((r) => r.method === 'dmarc');
  if (dmarc?.result === 'pass' && (dmarc.props['header.from'] ?? fromDomain) === fromDomain) {
    return { verified: true, address: from, method: 'dmarc' };
  }
  if (dmarc && dmarc.result !== 'pass' && dmarc.result !== 'none') {
    return { verified: false, reason: `dmarc=${dmarc.result}` };
  }
  const dkim = ours.results.find((r) => r.method === 'dkim' && r.result === 'pass' && aligned(fromDomain, r.props['header.d'] ?? ''));
  if (dkim) {
    return { verified: true, address: from, method: 'dkim' };
  }
  return { verified: false, reason: 'no aligned DMARC or DKIM pass' };
}
