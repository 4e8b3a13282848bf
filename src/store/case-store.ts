import { z } from 'zod';
import { CaseId, EmailId } from '../kernel/ids.js';
import { scanKeys, type Redis } from '../queues/connection.js';
import type { RedisKeys } from '../queues/keys.js';

/**
 * Cases: the emails of one customer's conversation with us, in Mailroom's own records. A leaf
 * module (like ./effect-claims.ts) so that tools can record what they minted for a case without
 * importing the planner or the executor.
 *
 * Layout, all under the hash-tagged prefix and each with its own TTL, renewed whenever the case
 * gets a turn, a message or a ticket (the same idea as the archived-email dedup keys): a case is
 * not part of any one email's history, so archiving an email (src/history/archive.ts) leaves it.
 * - `case:{caseId}` (hash): `customer` (the verified address of the email that opened it),
 *   `ticket`, `turn:{emailId}` (JSON {@link CaseTurn}), `replied:{emailId}` (the Message-ID of our reply).
 * - `case:msg:{messageId}` → caseId: a Message-ID we minted (a reply, a team mail) for the case.
 * - `case:of:{emailId}` → caseId.
 */

/** How long a quiet case is remembered: a reply three months after our answer opens a new case. */
export const CASE_TTL_SECONDS = 90 * 24 * 3600;

/** One email of a case, as triage recorded it. */
export const CaseTurn = z
  .object({
    emailId: EmailId,
    /** When Mailroom took the email in (ISO). */
    at: z.string().datetime(),
    /** Robot mail (an auto-reply, a bounce): the next turn gets no automatic reply either. */
    robot: z.boolean(),
  })
  .strict();
export type CaseTurn = z.infer<typeof CaseTurn>;

/** A case as its hash holds it. */
export interface CaseRecord {
  caseId: CaseId;
  customer: string | null;
  ticketId: string | null;
  /** Oldest first; `reply` is the Message-ID of our reply to that email, if one went out. */
  turns: Array<CaseTurn & { replied: boolean; reply: string | null }>;
}

type Deps = { redis: Redis; keys: RedisKeys };

const TURN = 'turn:';
const REPLIED = 'replied:';

/**
 * Records an email as a turn of its case (the case is created with its customer when this email
 * opens it). Idempotent: triage may run again for the same email.
 */
export async function recordTurn(deps: Deps, input: { caseId: CaseId; customer: string | null; turn: CaseTurn }): Promise<void> {
  const key = deps.keys.case(input.caseId);
  const turn = CaseTurn.parse(input.turn);
  const m = deps.redis.multi();
  if (input.customer !== null) m.hsetnx(key, 'customer', input.customer.toLowerCase());
  m.hsetnx(key, `${TURN}${turn.emailId}`, JSON.stringify(turn));
  m.expire(key, CASE_TTL_SECONDS);
  m.set(deps.keys.caseOf(turn.emailId), input.caseId, 'EX', CASE_TTL_SECONDS);
  await m.exec();
}

/**
 * Records a Message-ID Mailroom minted for an email of the case: a reply to it (`replied`) or
 * a team mail about it. Call before sending, so a follow-up can never arrive before its link.
 */
export async function recordCaseMessage(deps: Deps, input: { caseId: CaseId; emailId: EmailId; messageId: string; reply: boolean }): Promise<void> {
  const key = deps.keys.case(input.caseId);
  const m = deps.redis.multi();
  m.set(deps.keys.caseMessage(input.messageId), input.caseId, 'EX', CASE_TTL_SECONDS);
  if (input.reply) m.hset(key, `${REPLIED}${input.emailId}`, input.messageId);
  m.expire(key, CASE_TTL_SECONDS);
  await m.exec();
}

/** Records the case's ticket; the first one stays (later turns add to it instead of opening another). */
export async function recordCaseTicket(deps: Deps, caseId: CaseId, ticketId: string): Promise<void> {
  await deps.redis.multi().hsetnx(deps.keys.case(caseId), 'ticket', ticketId).expire(deps.keys.case(caseId), CASE_TTL_SECONDS).exec();
}

/** The case a Message-ID we minted belongs to, or null (an id we never minted, or one forgotten). */
export async function caseOfMessage(deps: Deps, messageId: string): Promise<CaseId | null> {
  // A sender's id is only a lookup key: anything that is not a plain msg-id finds nothing.
  if (messageId.length > 998) return null;
  const raw = await deps.redis.get(deps.keys.caseMessage(messageId));
  const parsed = CaseId.safeParse(raw);
  return parsed.success ? parsed.data : null;
}

/** The case of an email, or null (triaged before cases existed, or expired). */
export async function caseOfEmail(deps: Deps, emailId: EmailId): Promise<CaseId | null> {
  const parsed = CaseId.safeParse(await deps.redis.get(deps.keys.caseOf(emailId)));
  return parsed.success ? parsed.data : null;
}

/** A case with its turns in the order Mailroom took them in, or null when it is not (or no longer) known. */
export async function readCase(deps: Deps, caseId: CaseId): Promise<CaseRecord | null> {
  const hash = await deps.redis.hgetall(deps.keys.case(caseId));
  if (Object.keys(hash).length === 0) return null;
  const turns: CaseRecord['turns'] = [];
  for (const [field, value] of Object.entries(hash)) {
    if (!field.startsWith(TURN)) continue;
    const turn = CaseTurn.safeParse(JSON.parse(value));
    if (!turn.success) continue;
    const reply = hash[`${REPLIED}${turn.data.emailId}`] ?? null;
    turns.push({ ...turn.data, replied: reply !== null, reply });
  }
  turns.sort((a, b) => a.at.localeCompare(b.at) || a.emailId.localeCompare(b.emailId));
  return { caseId, customer: hash.customer ?? null, ticketId: hash.ticket ?? null, turns };
}

/**
 * `mailroom forget`: erases what the case records hold of a customer and of their emails. A case
 * whose customer is the address goes whole: its hash, the Message-IDs minted for it, its ticket's
 * notes, its reply-rate window and every email's link to it. In another customer's case only the
 * forgotten emails' turns, replies, notes and links go. Returns how many keys were deleted or changed.
 */
export async function eraseCases(deps: Deps, input: { customer: string; emails: ReadonlySet<EmailId> }): Promise<number> {
  const { redis, keys } = deps;
  const customer = input.customer.toLowerCase();
  const cases = new Set<CaseId>();
  for (const emailId of input.emails) {
    const caseId = await caseOfEmail(deps, emailId);
    if (caseId) cases.add(caseId);
  }
  // A case outlives its emails' keys: one whose emails were archived or expired is found by its customer.
  for await (const page of scanKeys(redis, keys.match('case:cs_*'))) {
    for (const key of page) {
      const caseId = CaseId.safeParse(key.slice(keys.match('case:').length));
      if (caseId.success && (await redis.hget(key, 'customer')) === customer) cases.add(caseId.data);
    }
  }
  const whole = new Set<CaseId>();
  let changed = input.emails.size ? await redis.del(...[...input.emails].map((e) => keys.caseOf(e))) : 0;
  for (const caseId of cases) {
    const hash = await redis.hgetall(keys.case(caseId));
    const all = hash.customer === customer;
    if (all) whole.add(caseId);
    const emails = Object.keys(hash).flatMap((f) => {
      const id = EmailId.safeParse(f.startsWith(TURN) || f.startsWith(REPLIED) ? f.slice(f.indexOf(':') + 1) : null);
      return id.success ? [id.data] : [];
    });
    const gone = new Set(emails.filter((e) => all || input.emails.has(e)));
    const del = [...gone].map((e) => keys.caseOf(e));
    for (const e of gone) {
      const reply = hash[`${REPLIED}${e}`];
      if (reply) del.push(keys.caseMessage(reply));
    }
    if (all) del.push(keys.case(caseId), keys.replyRate('case', caseId), ...(hash.ticket ? [keys.ticketNotes(hash.ticket)] : []));
    if (del.length) changed += await redis.del(...del);
    if (all) continue;
    const fields = [...gone].flatMap((e) => [`${TURN}${e}`, `${REPLIED}${e}`]);
    if (fields.length && (await redis.hdel(keys.case(caseId), ...fields))) changed++;
    if (hash.ticket) {
      const notesKey = keys.ticketNotes(hash.ticket);
      for (const note of await redis.lrange(notesKey, 0, -1)) {
        if ([...gone].some((e) => note.includes(e))) changed += Math.min(1, await redis.lrem(notesKey, 0, note));
      }
    }
  }
  // Message-IDs minted for a whole case that no reply field names (team mails).
  if (whole.size) {
    for await (const page of scanKeys(redis, keys.match('case:msg:*'))) {
      for (const key of page) {
        const caseId = CaseId.safeParse(await redis.get(key));
        if (caseId.success && whole.has(caseId.data)) changed += await redis.del(key);
      }
    }
  }
  return changed;
}
