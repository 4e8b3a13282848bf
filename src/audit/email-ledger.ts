import { z } from 'zod';
import { EmailId } from '../kernel/ids.js';
import type { Logger } from '../kernel/logger.js';
import type { Redis } from '../queues/connection.js';
import type { RedisKeys } from '../queues/keys.js';

/**
 * Where an email is. Terminal states are final (invariant 7: exactly one of them per email);
 * `awaiting_approval` rests until a human decides. `shadowed` ends every email handled in shadow
 * mode that is not quarantined: its plan ran up to (never through) its first write or external
 * step's effect, and the trail records what a live run would have done.
 */
export const EmailState = z.enum([
  'received',
  'triaged',
  'planned',
  'awaiting_approval',
  'running',
  'completed',
  'rejected',
  'escalated',
  'quarantined',
  'shadowed',
]);
export type EmailState = z.infer<typeof EmailState>;

/**
 * Emails per state with every state present (0 where none): what `mailroom status` prints and
 * `/metrics` serves, so the two agree key for key from the first start.
 */
export async function statesWithZeros(ledger: Pick<EmailLedger, 'countByState'>): Promise<Record<EmailState, number>> {
  const counts = await ledger.countByState();
  return Object.fromEntries(EmailState.options.map((s) => [s, Math.max(0, counts[s] ?? 0)])) as Record<EmailState, number>;
}

export const TERMINAL_STATES: readonly EmailState[] = ['completed', 'rejected', 'escalated', 'quarantined', 'shadowed'];
export const RESTING_STATES: readonly EmailState[] = [...TERMINAL_STATES, 'awaiting_approval'];

export const EmailRecord = z.object({
  emailId: EmailId,
  state: EmailState,
  reason: z.string().default(''),
  source: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  planId: z.string().default(''),
  category: z.string().default(''),
  sender: z.string().default(''),
  robot: z.string().default(''),
  tools: z.string().default(''),
  /** The support address the email arrived at (empty for records made before it was kept). */
  mailbox: z.string().default(''),
  /**
   * Fixed when the email is taken in and never changed: an email handled in shadow stays in
   * shadow, whatever the mailbox or the daemon is switched to later.
   */
  mode: z.enum(['live', 'shadow']).default('live'),
});
export type EmailRecord = z.infer<typeof EmailRecord>;
export type EmailMode = EmailRecord['mode'];

/**
 * Creates an email's record unless it exists, or was archived recently (KEYS[4], the dedup marker
 * the archive leaves), in one round trip and atomically (no record is ever seen without its
 * fields). ARGV: score, email id, then field/value pairs.
 */
const CREATE = `
if redis.call('EXISTS', KEYS[4]) == 1 then return 0 end
if redis.call('HSETNX', KEYS[1], 'state', 'received') == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
redis.call('HINCRBY', KEYS[3], 'received', 1)
return 1`;

/** Moves an email to a new state unless it already rests in a terminal one (atomic). */
/**
 * ARGV: new state, updatedAt, n, n terminal states, then field/value pairs written in the same
 * step, so nobody ever reads a final state without its reason.
 */
const SET_STATE = `
local cur = redis.call('HGET', KEYS[1], 'state')
if not cur then return -1 end
local n = tonumber(ARGV[3])
for i = 4, 3 + n do if ARGV[i] == cur then return 0 end end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'updatedAt', ARGV[2], unpack(ARGV, 4 + n))
redis.call('HINCRBY', KEYS[2], cur, -1)
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
return 1`;

/**
 * Takes a quarantined email out of quarantine into an earlier state (a dead letter requeued), in
 * one step with the per-state counts. ARGV: the state to return to, updatedAt. Answers 1, or 0
 * when the email is not quarantined (it moved on, or was requeued already), -1 when unknown.
 */
const REOPEN = `
local cur = redis.call('HGET', KEYS[1], 'state')
if not cur then return -1 end
if cur ~= 'quarantined' then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'updatedAt', ARGV[2])
redis.call('HDEL', KEYS[1], 'reason')
redis.call('HINCRBY', KEYS[2], cur, -1)
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
return 1`;

export interface EmailLedger {
  /** Creates the record; false if the email is already known or was archived lately (a duplicate delivery). */
  create(emailId: EmailId, source: string, fields?: { mailbox?: string; mode?: EmailMode }): Promise<boolean>;
  /** Returns false when the email was already terminal (the new state is ignored). */
  setState(emailId: EmailId, state: EmailState, fields?: Partial<Record<'reason' | 'planId' | 'category' | 'sender' | 'robot' | 'tools', string>>): Promise<boolean>;
  /** Quarantined → `state` (before the stage that failed), for a requeue; false if it is not quarantined. */
  reopen(emailId: EmailId, state: Extract<EmailState, 'received' | 'triaged' | 'running'>): Promise<boolean>;
  annotate(emailId: EmailId, fields: Partial<Record<'planId' | 'category' | 'sender' | 'robot' | 'tools' | 'reason', string>>): Promise<void>;
  get(emailId: EmailId): Promise<EmailRecord | null>;
  /** The email's mode alone (fixed at intake), without reading and parsing its whole record. */
  mode(emailId: EmailId): Promise<EmailMode>;
  getMany(ids: readonly EmailId[]): Promise<Array<EmailRecord | null>>;
  /** Most recent first. */
  list(limit: number): Promise<EmailRecord[]>;
  count(): Promise<number>;
  /** Emails per state, kept up to date by every transition (O(1), for /metrics). */
  countByState(): Promise<Partial<Record<EmailState, number>>>;
}

/**
 * The ledger over Redis. With a `logger`, every move into a resting state logs one `info` line
 * (`email at rest`: emailId, state, planId, reason): the reasons are ours (codes, limits, step
 * ids), never the email's text. A move refused because the email already rests logs nothing.
 */
export function createEmailLedger(redis: Redis, keys: RedisKeys, clock: () => Date = () => new Date(), logger?: Pick<Logger, 'info'>): EmailLedger {
  const parse = (h: Record<string, string>): EmailRecord | null => {
    if (!h.state) return null;
    const r = EmailRecord.safeParse(h);
    return r.success ? r.data : null;
  };
  const ledger: EmailLedger = {
    async create(emailId, source, fields = {}) {
      const now = clock().toISOString();
      const extra = { ...(fields.mailbox ? { mailbox: fields.mailbox.toLowerCase() } : {}), mode: fields.mode ?? 'live' };
      const record = Object.entries({ emailId, source, createdAt: now, updatedAt: now, ...extra }).flat();
      const created = await redis.eval(CREATE, 4, keys.email(emailId), keys.emailsByTime(), keys.emailStateCounts(), keys.archived(emailId), String(Date.now()), emailId, ...record);
      return created === 1;
    },
    async setState(emailId, state, fields = {}) {
      const pairs = Object.entries(fields).flatMap(([k, v]) => (typeof v === 'string' ? [k, v] : []));
      const res = await redis.eval(
        SET_STATE,
        2,
        keys.email(emailId),
        keys.emailStateCounts(),
        state,
        clock().toISOString(),
        String(TERMINAL_STATES.length),
        ...TERMINAL_STATES,
        ...pairs,
      );
      if (res === 1 && logger && RESTING_STATES.includes(state)) {
        logger.info({ emailId, state, ...(fields.planId ? { planId: fields.planId } : {}), reason: (fields.reason ?? '').slice(0, 300) }, 'email at rest');
      }
      return res === 1;
    },
    async reopen(emailId, state) {
      return (await redis.eval(REOPEN, 2, keys.email(emailId), keys.emailStateCounts(), state, clock().toISOString())) === 1;
    },
    async annotate(emailId, fields) {
      const entries = Object.entries(fields).filter((e): e is [string, string] => typeof e[1] === 'string');
      if (entries.length) await redis.hset(keys.email(emailId), Object.fromEntries(entries));
    },
    async get(emailId) {
      return parse(await redis.hgetall(keys.email(emailId)));
    },
    async mode(emailId) {
      // As `get` reads it: no field (a record made before modes) is live, and so is a record that does not parse.
      const mode = EmailRecord.shape.mode.safeParse((await redis.hget(keys.email(emailId), 'mode')) ?? undefined);
      return mode.success ? mode.data : 'live';
    },
    async getMany(ids) {
      const pipe = redis.pipeline();
      for (const id of ids) pipe.hgetall(keys.email(id));
      const res = (await pipe.exec()) ?? [];
      return res.map(([err, h]) => (err || !h || typeof h !== 'object' ? null : parse(h as Record<string, string>)));
    },
    async list(limit) {
      const ids = await redis.zrevrange(keys.emailsByTime(), 0, limit - 1);
      const recs = await ledger.getMany(ids.map((id) => EmailId.parse(id)));
      return recs.filter((r): r is EmailRecord => r !== null);
    },
    count() {
      return redis.zcard(keys.emailsByTime());
    },
    async countByState() {
      const raw = await redis.hgetall(keys.emailStateCounts());
      const out: Partial<Record<EmailState, number>> = {};
      for (const [k, v] of Object.entries(raw)) {
        const state = EmailState.safeParse(k);
        if (state.success) out[state.data] = Number(v);
      }
      return out;
    },
  };
  return ledger;
}
