import type { ReplyLimits } from '../config.js';
import type { Redis } from '../queues/connection.js';
import type { RedisKeys } from '../queues/keys.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** Which ceiling a refused reply ran into. */
export type ReplyLimitName = 'sender' | 'domain' | 'global';

export type ReplyReservation =
  | { ok: true; alreadyReserved: boolean }
  | { ok: false; limit: ReplyLimitName; max: number; windowMs: number };

/**
 * Check and reserve in one atomic step over three rolling windows (sorted sets scored by time).
 * The member is the step's idempotency key: a retried step finds its own reservation and is not
 * counted twice, and two concurrent steps can never both take the last slot.
 *
 * KEYS: sender, domain, global window sets. ARGV: member, now (ms), then max and window (ms) for
 * each key in order. Returns 0 (reserved), -1 (this member already holds a reservation) or the
 * 1-based index of the first window that is full.
 */
const RESERVE = `
local member = ARGV[1]
local now = tonumber(ARGV[2])
if redis.call('ZSCORE', KEYS[1], member) then return -1 end
for i = 1, #KEYS do
  local max = tonumber(ARGV[1 + i * 2])
  local window = tonumber(ARGV[2 + i * 2])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  if redis.call('ZCARD', KEYS[i]) >= max then return i end
end
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now, member)
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[2 + i * 2]))
end
return 0`;

/** The domain part of an address, lowercased; the whole string when there is no `@`. */
export function recipientDomain(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/**
 * Reserves one automatic reply to `recipient` under the configured ceilings, or says which
 * ceiling refuses it. Call it once the step has claimed its idempotency key and before sending.
 */
export async function reserveReply(
  redis: Redis,
  keys: RedisKeys,
  input: { idempotencyKey: string; recipient: string; limits: ReplyLimits; nowMs: number },
): Promise<ReplyReservation> {
  const recipient = input.recipient.toLowerCase();
  const windows: ReadonlyArray<{ name: ReplyLimitName; key: string; max: number; windowMs: number }> = [
    { name: 'sender', key: keys.replyRate('sender', recipient), max: input.limits.perSenderPerDay, windowMs: DAY_MS },
    { name: 'domain', key: keys.replyRate('domain', recipientDomain(recipient)), max: input.limits.perDomainPerHour, windowMs: HOUR_MS },
    { name: 'global', key: keys.replyRate('global', 'all'), max: input.limits.globalPerHour, windowMs: HOUR_MS },
  ];
  const args = windows.flatMap((w) => [String(w.max), String(w.windowMs)]);
  const res = await redis.eval(RESERVE, windows.length, ...windows.map((w) => w.key), input.idempotencyKey, String(input.nowMs), ...args);
  const code = Number(res);
  if (code === 0 || code === -1) return { ok: true, alreadyReserved: code === -1 };
  const full = windows[code - 1];
  if (!full) throw new Error(`reply rate-limit script returned ${String(res)}`);
  return { ok: false, limit: full.name, max: full.max, windowMs: full.windowMs };
}

/** One line for the park reason and the audit; names the limit, never the address. */
export function describeRefusal(refusal: Extract<ReplyReservation, { ok: false }>): string {
  const window = refusal.windowMs === DAY_MS ? '24 h' : '1 h';
  const what = { sender: 'to this sender', domain: "to this sender's domain", global: 'in total' }[refusal.limit];
  return `reply rate limit (${refusal.limit}): ${refusal.max} automatic replies ${what} per ${window} already sent`;
}
