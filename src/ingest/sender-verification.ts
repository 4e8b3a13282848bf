import type { AuthFacts, BoundHeader } from './auth-facts.js';
import { BOUND_HEADERS } from './auth-facts.js';
import { trustedAuthResults, type AuthResult, type AuthResultsPolicy } from './authentication-results.js';
import type { DkimSignatureFacts } from './dkim-signature.js';
import { lowerAscii } from '../mail/header-syntax.js';
import type { Sender } from '../model/trusted-context.js';
import { type LocalAuthResult } from '../model/verification.js';

const domainOf = (address: string) => lowerAscii(address.slice(address.lastIndexOf('@') + 1));

/** Relaxed alignment (DMARC): the signing domain is the From domain or a parent of it. */
export function aligned(fromDomain: string, signingDomain: string): boolean {
  return fromDomain === signingDomain || fromDomain.endsWith(`.${signingDomain}`);
}


/** The configured rule: whose results count, which addresses are ours, how old a signed Date may be. */
export interface VerificationPolicy extends AuthResultsPolicy {
  trustedSenders: readonly string[];
  /** Addresses that are us (mailbox, aliases, IMAP accounts, configured extras), lowercased: the signed To/Cc must name one. */
  ourAddresses: readonly string[];
  /** How long before our MTA received it the signed Date may be, in ms; null: no window. */
  maxAgeMs: number | null;
}

export interface VerificationInput {
  /** From addresses as parsed; exactly one is required for a verified sender. */
  fromAddresses: string[];
  /** What the parse thread read of the header block. */
  facts: AuthFacts;
  policy: VerificationPolicy;
  /** The mailbox the mail came through is configured as trusted (e.g. internal only). */
  trustedMailbox?: boolean;
  /** Our own DKIM/DMARC check, when one was run. */
  local?: LocalAuthResult | undefined;
  /** When Mailroom took the message in (ms since the epoch): the clock for `x=`, and for the Date window where our MTA's Received has no date. */
  now: number;
}

/** A signed Date may be this far in the future of our MTA's clock (senders' clocks drift). */
const FUTURE_SKEW_MS = 24 * 3_600_000;

const PARTIAL_BODY = 'DKIM signs only part of the body (l=)';

const NAMES: Record<BoundHeader, string> = {
  from: 'From',
  to: 'To',
  cc: 'Cc',
  subject: 'Subject',
  date: 'Date',
  'message-id': 'Message-ID',
  'mime-version': 'MIME-Version',
  'content-type': 'Content-Type',
  'content-transfer-encoding': 'Content-Transfer-Encoding',
};

/**
 * Why a valid signature does not bind what the readers see, or null when it does: each bound
 * header appears at most once and every copy is signed (a DKIM verifier checks the bottom-most
 * copies, mailparser reads the topmost), the whole body is signed, and the signature has not expired.
 */
export function coverageProblem(sig: DkimSignatureFacts, facts: AuthFacts, now: number): string | null {
  for (const h of BOUND_HEADERS) {
    const present = facts.counts[h] ?? 0;
    if (present > 1) return `${present} ${NAMES[h]} headers: only one can be the one signed`;
    if (present > sig.signed.filter((s) => s === h).length) return `${NAMES[h]} is not covered by the DKIM signature`;
  }
  if (sig.bodyLength !== null && (sig.canonicalBodyLength ?? Infinity) > sig.bodyLength) return PARTIAL_BODY;
  if (sig.expiresAt !== null && sig.expiresAt < now) return 'the DKIM signature has expired (x=)';
  return null;
}

/** A passing, aligned DKIM result as a checker reported it, with what names its signature. */
interface SignatureClaim {
  /** `header.d`, or the domain of `header.i` where only that is given (Gmail). */
  domain: string;
  /** The domain is `header.i`'s, which may be a subdomain of the signature's `d=`. */
  byIdentity?: boolean;
  selector?: string | undefined;
  b?: string | undefined;
  unsignedBytes?: number;
}

function signaturesOf(claim: SignatureClaim, facts: AuthFacts): DkimSignatureFacts[] {
  const b = claim.b?.replace(/\s+/g, '');
  return facts.signatures.filter(
    (s) =>
      (claim.byIdentity ? aligned(claim.domain, s.domain) : s.domain === claim.domain) &&
      (claim.selector === undefined || s.selector === lowerAscii(claim.selector)) &&
      (b === undefined || b === '' || (b.length <= s.b.length ? s.b.startsWith(b) : b.startsWith(s.b))),
  );
}

/** Checks each claim; the first that binds the content wins (with the signature that binds it), else the first problem found. */
function bindContent(
  claims: readonly SignatureClaim[],
  facts: AuthFacts,
  now: number,
): { ok: true; signature: DkimSignatureFacts } | { ok: false; reason: string } {
  let first: string | null = null;
  for (const claim of claims) {
    const sigs = signaturesOf(claim, facts);
    const problem =
      (claim.unsignedBytes ?? 0) > 0
        ? PARTIAL_BODY
        : sigs.length === 0
          ? 'the DKIM pass names no DKIM-Signature of the message'
          : (sigs.map((s) => coverageProblem(s, facts, now)).find((p) => p !== null) ?? null);
    const [signature] = sigs;
    if (problem === null && signature) return { ok: true, signature };
    first ??= problem;
  }
  return { ok: false, reason: first ?? 'no aligned DKIM pass' };
}

/** What a checker said, in the terms `decide` needs. */
interface Verdict {
  dmarc: { result: string; headerFrom: string | undefined } | null;
  claims: SignatureClaim[];
  /** Reasons get this prefix (`local check: `) so the audit says who judged. */
  prefix: string;
}

function fromAuthResults(results: readonly AuthResult[], fromDomain: string): Verdict {
  const dmarc = results.find((r) => r.method === 'dmarc');
  return {
    dmarc: dmarc ? { result: dmarc.result, headerFrom: dmarc.props['header.from'] } : null,
    claims: results
      .filter((r) => r.method === 'dkim' && r.result === 'pass')
      .map((r) => {
        const d = r.props['header.d'];
        const i = r.props['header.i'];
        const domain = d ?? (i?.includes('@') ? domainOf(i) : '');
        return { domain, byIdentity: d === undefined, selector: r.props['header.s'], b: r.props['header.b'] };
      })
      .filter((c) => c.domain !== '' && aligned(fromDomain, c.domain)),
    prefix: '',
  };
}

function fromLocal(local: LocalAuthResult, fromDomain: string): Verdict {
  return {
    dmarc: local.dmarc ? { result: local.dmarc.result, headerFrom: lowerAscii(local.dmarc.headerFrom) } : null,
    claims: local.dkim
      .filter((d) => d.result === 'pass' && aligned(fromDomain, lowerAscii(d.domain)))
      .map((d) => ({ domain: lowerAscii(d.domain), selector: d.selector, b: d.b, unsignedBytes: d.unsignedBytes })),
    prefix: 'local check: ',
  };
}

/** A sender decision, with the DKIM signature that binds the content when the decision rests on one. */
export interface SenderBinding {
  sender: Sender;
  /** The passing, aligned signature that binds what the readers see; null for a configured trust or an unverified sender. */
  signature: DkimSignatureFacts | null;
}

function decide(from: string, verdict: Verdict, input: VerificationInput): SenderBinding {
  const fromDomain = domainOf(from);
  const no = (reason: string): SenderBinding => ({ sender: { verified: false, reason: `${verdict.prefix}${reason}`.slice(0, 80) }, signature: null });
  const { dmarc } = verdict;
  if (dmarc && dmarc.result !== 'pass' && dmarc.result !== 'none') return no(`dmarc=${dmarc.result}`);
  // The checker evaluated DMARC for another From than the one we parsed (a second From, say).
  if (dmarc?.result === 'pass' && dmarc.headerFrom !== fromDomain) return no('DMARC evaluated another From domain');
  if (verdict.claims.length === 0) {
    return no(dmarc?.result === 'pass' ? 'DMARC passed on SPF alone: no signature binds the content' : 'no aligned DMARC or DKIM pass');
  }
  const bound = bindContent(verdict.claims, input.facts, input.now);
  if (!bound.ok) return no(bound.reason);
  const toUs = writtenToUs(input);
  if (toUs) return no(toUs);
  return { sender: { verified: true, address: from, method: dmarc?.result === 'pass' ? 'dmarc' : 'dkim' }, signature: bound.signature };
}

/**
 * Why the signed mail was not written to us, or null: its To/Cc (signed, see coverageProblem)
 * must name one of our addresses, and its signed Date must lie in the window before the time our
 * MTA received it (a customer's old mail, or mail to someone else, replayed to support).
 */
function writtenToUs(input: VerificationInput): string | null {
  const { facts, policy } = input;
  const ours = new Set(policy.ourAddresses);
  if (!facts.recipients.some((r) => ours.has(r))) return 'the signed To/Cc do not name us: mail written to someone else';
  if (policy.maxAgeMs === null) return null;
  if (facts.date === null) return 'no signed Date: its age cannot be told';
  const by = (policy.receivedBy ?? policy.authservId ?? '').toLowerCase();
  const received = facts.hop && facts.hop.by === by && facts.hop.at !== null ? facts.hop.at : input.now;
  if (facts.date < received - policy.maxAgeMs) return 'the signed Date is older than the window: a replay';
  if (facts.date > received + FUTURE_SKEW_MS) return 'the signed Date lies in the future';
  return null;
}

/**
 * Whether a local DKIM/DMARC check could change the outcome: one well-formed From, not already
 * trusted, no Authentication-Results that count, and at least one DKIM signature to check
 * (without one there is nothing to verify, and no DNS query is made). A header that claims our
 * id but does not count (below our MTA's hop, unless inboundResultsRemoved lets it) does not
 * spare the check.
 */
export function needsLocalCheck(input: Omit<VerificationInput, 'local' | 'now'>): boolean {
  const { facts } = input;
  if (facts.signatures.length === 0 || input.fromAddresses.length !== 1 || facts.fromMailboxes !== 1 || input.trustedMailbox) return false;
  if (input.policy.trustedSenders.includes(lowerAscii(input.fromAddresses[0] ?? ''))) return false;
  return !trustedAuthResults(facts.authResults, facts.hop, input.policy).ok;
}

/**
 * Decides whether the From address is verified: this customer wrote this, to us.
 *
 * The results that count are those our MTA or mail provider wrote, by the profile's rule
 * (trustedAuthResults: for a self-run MTA, above its own SMTP hop, where no sender can write, or
 * directly below it when the MTA deletes every sender-written one: `inboundResultsRemoved`);
 * where none count, our own local check decides. Either way a pass needs exactly one From
 * mailbox, a DMARC pass naming its domain, and an aligned DKIM signature the checker named
 * (`header.d`, `header.s`, `header.b`) that binds what the readers see (coverageProblem); the
 * signed To/Cc must name us, and the signed Date lie within the window. Pure: the local check is
 * run by the caller (it needs DNS) and passed in.
 */
export function verifySender(input: VerificationInput): Sender {
  return verifySenderBinding(input).sender;
}

/** {@link verifySender}, also naming the signature the pass rests on (what else that signature binds: the follow-up link asks). */
export function verifySenderBinding(input: VerificationInput): SenderBinding {
  const { facts, policy } = input;
  const only = (sender: Sender): SenderBinding => ({ sender, signature: null });
  if (input.fromAddresses.length !== 1 || facts.fromMailboxes !== 1) {
    return only({ verified: false, reason: input.fromAddresses.length === 0 ? 'no From address' : 'several From addresses' });
  }
  const from = lowerAscii(input.fromAddresses[0] ?? '');
  if (!/^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/.test(from)) return only({ verified: false, reason: 'From is not an address' });
  if (policy.trustedSenders.includes(from)) return only({ verified: true, address: from, method: 'trusted-sender' });
  if (input.trustedMailbox) return only({ verified: true, address: from, method: 'trusted-mailbox' });
  const trusted = trustedAuthResults(facts.authResults, facts.hop, policy);
  if (trusted.ok) return decide(from, fromAuthResults(trusted.results, domainOf(from)), input);
  if (input.local) return decide(from, fromLocal(input.local, domainOf(from)), input);
  return only({ verified: false, reason: trusted.reason.slice(0, 80) });
}
