import { domainToASCII } from 'node:url';
import { getDomain } from 'tldts';
import type { ReplyLimits } from '../config/config.js';
import type { Redis } from '../queues/connection.js';
import type { RedisKeys } from '../queues/keys.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** Which ceiling a refused reply ran into. */
export type ReplyLimitName = 'sender' | 'domain' | 'global' | 'case';

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

/** Providers known to deliver every dot variant of a local part to one mailbox. */
const DOTLESS_PROVIDERS: ReadonlyMap<string, string> = new Map([
  ['gmail.com', 'gmail.com'],
  ['googlemail.com', 'gmail.com'],
]);

/** The domain part of an address, lowercased, in ASCII (IDN to punycode), without a root dot. */
export function recipientDomain(address: string): string {
  const raw = address.slice(address.lastIndexOf('@') + 1).toLowerCase().replace(/\.+$/, '');
  // '' when the name is not a valid IDN; the raw form is then still one stable key.
  return domainToASCII(raw) || raw;
}

/**
 * The mailbox an address reaches, as one rate-limit key, so that spellings of the same mailbox
 * share one quota:
 * - lowercase (local parts are case-sensitive on paper; no provider we know treats them so, and a
 *   merge can only make a limit stricter);
 * - sub-addressing dropped: everything from the first `+` of the local part (`ann+x` → `ann`);
 * - the domain as {@link recipientDomain} gives it (IDN → ASCII, trailing root dot removed);
 * - dots removed from the local part only where the provider ignores them (Gmail, whose
 *   `googlemail.com` is the same service); elsewhere `a.b` and `ab` may be different people.
 * `-` sub-addressing (qmail, some hosts) is left alone: hyphens are common in real names.
 */
export function normalizeAddress(address: string): string {
  const at = address.lastIndexOf('@');
  const domain = recipientDomain(address);
  let local = (at >= 0 ? address.slice(0, at) : '').toLowerCase();
  const plus = local.indexOf('+');
  if (plus > 0) local = local.slice(0, plus);
  const provider = DOTLESS_PROVIDERS.get(domain);
  if (provider) return `${local.replace(/\./g, '')}@${provider}`;
  return `${local}@${domain}`;
}

/**
 * The registrable domain (eTLD+1, from the ICANN section of the Public Suffix List via `tldts`)
 * that the recipient's domain belongs to: `a.b.evil.example` and `evil.example` count as one.
 * Private-section suffixes (`github.io`, dynamic-DNS zones) are deliberately not honoured: anyone
 * can create names under them, so they count as one domain. An IP literal, a single label or a
 * public suffix itself has no registrable domain and stands for itself.
 */
export function registrableDomain(address: string): string {
  const domain = recipientDomain(address);
  return getDomain(domain, { allowPrivateDomains: false }) ?? domain;
}

/**
 * The most replies one registrable domain may take per hour: `perDomainPerHour`, but never more
 * than `maxDomainShare` of the global hourly budget, so one domain cannot use it all up.
 */
export function domainCeiling(limits: ReplyLimits): number {
  return Math.min(limits.perDomainPerHour, Math.floor(limits.globalPerHour * limits.maxDomainShare));
}

/**
 * Reserves one automatic reply to `recipient` under the configured ceilings, or says which
 * ceiling refuses it. Call it once the step has claimed its idempotency key and before sending.
 * The sender window is keyed by {@link normalizeAddress}, the domain window by
 * {@link registrableDomain}: neither `+tags` nor subdomains multiply a quota.
 */
export async function reserveReply(
  redis: Redis,
  keys: RedisKeys,
  input: { idempotencyKey: string; recipient: string; limits: ReplyLimits; nowMs: number; caseId?: string | undefined },
): Promise<ReplyReservation> {
  const windows: ReadonlyArray<{ name: ReplyLimitName; key: string; max: number; windowMs: number }> = [
    // First: a loop inside one thread is refused on its own count, before it uses up the sender's.
    ...(input.caseId ? [{ name: 'case' as const, key: keys.replyRate('case', input.caseId), max: input.limits.perCasePerDay, windowMs: DAY_MS }] : []),
    { name: 'sender', key: keys.replyRate('sender', normalizeAddress(input.recipient)), max: input.limits.perSenderPerDay, windowMs: DAY_MS },
    { name: 'domain', key: keys.replyRate('domain', registrableDomain(input.recipient)), max: domainCeiling(input.limits), windowMs: HOUR_MS },
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
  const what = { sender: 'to this sender', domain: "to this sender's domain", global: 'in total', case: 'in this case' }[refusal.limit];
  return `reply rate limit (${refusal.limit}): ${refusal.max} automatic replies ${what} per ${window} already sent`;
}
