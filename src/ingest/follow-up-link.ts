import type { CaseId } from '../kernel/ids.js';
import type { AuthFacts, ThreadHeader } from './auth-facts.js';
import { THREAD_HEADERS } from './auth-facts.js';
import type { DkimSignatureFacts } from './dkim-signature.js';
import type { Sender, UntrustedContent } from '../model/trusted-context.js';

/**
 * The follow-up link rule, pure. An email is a follow-up of a case only when all of these hold:
 * 1. its sender is verified by a DKIM signature that binds what the readers see (dmarc or dkim;
 *    a configured trusted sender or mailbox has no signature to bind the threading headers);
 * 2. In-Reply-To and References, where present, appear once each and that same signature covers
 *    them (a DKIM verifier checks the bottom-most copy, mailparser reads the topmost: a second,
 *    unsigned copy would be the one we read);
 * 3. they name at least one Message-ID Mailroom minted (a reply, a team mail), found in our own
 *    record (src/store/case-store.ts), and every one they name that we minted belongs to one case;
 * 4. that case's customer is this email's verified sender.
 * Anything else is a new case. The headers are only lookup keys: the link is our record's, and
 * nothing the sender wrote reaches the case's facts.
 */

const NAMES: Record<ThreadHeader, string> = { 'in-reply-to': 'In-Reply-To', references: 'References' };

/** At most this many ids are looked up per email (References keeps the last ones, nearest the reply). */
export const MAX_THREAD_IDS = 20;

/**
 * Why the threading headers cannot be believed, or null when they can: the bound signature covers
 * their one copy each. `counts` absent (an older parse) is a problem too.
 */
export function threadHeaderProblem(signature: DkimSignatureFacts | null, counts: AuthFacts['threadCounts']): string | null {
  if (signature === null) return 'no DKIM signature of the verified sender binds the threading headers';
  if (counts === undefined) return 'threading headers not counted';
  for (const h of THREAD_HEADERS) {
    const present = counts[h] ?? 0;
    if (present > 1) return `${present} ${NAMES[h]} headers: only one can be the one signed`;
    if (present > signature.signed.filter((s) => s === h).length) return `${NAMES[h]} is not covered by the DKIM signature`;
  }
  return null;
}

const MSG_ID = /<[^<>\s]{1,996}>/g;

/** The msg-ids an email names in In-Reply-To and References, In-Reply-To's first, each once, at most {@link MAX_THREAD_IDS}. */
export function namedMessageIds(content: Pick<UntrustedContent, 'inReplyTo' | 'references'>): string[] {
  const ids = [...(content.inReplyTo ?? '').matchAll(MSG_ID)].map((m) => m[0]);
  for (const r of content.references.slice(-MAX_THREAD_IDS)) for (const m of r.matchAll(MSG_ID)) ids.push(m[0]);
  return [...new Set(ids)].slice(0, MAX_THREAD_IDS);
}

/** A Message-ID the email names that our record knows, with the case and the customer it belongs to. */
export interface MintedReference {
  caseId: CaseId;
  /** The case's customer (lowercased), null when the case has none (its first email was unverified). */
  customer: string | null;
}

export type LinkDecision = { followUp: true; caseId: CaseId } | { followUp: false; reason: string | null };

/**
 * Decides the link from what was established: the sender, whether the threading headers are
 * believable ({@link threadHeaderProblem}), how many ids the email names, and what our record
 * says of each. `reason` is null when the email names no earlier message at all.
 */
export function decideFollowUp(input: {
  sender: Sender;
  headerProblem: string | null;
  named: number;
  minted: readonly MintedReference[];
}): LinkDecision {
  if (input.named === 0) return { followUp: false, reason: null };
  const no = (reason: string): LinkDecision => ({ followUp: false, reason });
  const { sender } = input;
  if (!sender.verified || (sender.method !== 'dmarc' && sender.method !== 'dkim')) return no('the sender is not verified by a DKIM signature');
  if (input.headerProblem) return no(input.headerProblem);
  if (input.minted.length === 0) return no('names no Message-ID Mailroom minted');
  const cases = new Set(input.minted.map((m) => m.caseId));
  if (cases.size > 1) return no('names the messages of several cases');
  const address = sender.address.toLowerCase();
  if (input.minted.some((m) => m.customer !== address)) return no("names a message of another customer's case");
  const [first] = input.minted;
  return first ? { followUp: true, caseId: first.caseId } : no('names no Message-ID Mailroom minted');
}
