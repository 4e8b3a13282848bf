import { AuditEvent } from '../audit/audit-trail.js';
import { EmailRecord, TERMINAL_STATES } from '../audit/email-ledger.js';
import { EmailId } from '../kernel/ids.js';
import type { Redis } from '../queues/connection.js';
import { EFFECT_CLAIM_TTL_SECONDS } from '../store/effect-claims.js';
import type { RedisKeys } from '../queues/keys.js';
import type { ArchivedEmail, HistoryStore } from './history-store.js';

/**
 * Deletes an archived email's keys only if nothing changed since it was read: the same number of
 * audit events and the same `updatedAt`. Otherwise the email stays in Redis (and in the store) and
 * the next sweep archives it again, whole. Leaves the email's dedup marker. KEYS: record, audit,
 * labels, emails-by-time, dedup marker. ARGV: audit length, updatedAt, email id, marker TTL (s).
 */
const DELETE_IF_UNCHANGED = `
if redis.call('LLEN', KEYS[2]) ~= tonumber(ARGV[1]) then return 0 end
if redis.call('HGET', KEYS[1], 'updatedAt') ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('ZREM', KEYS[4], ARGV[3])
redis.call('SET', KEYS[5], '1', 'EX', ARGV[4])
return 1`;

/**
 * How long an archived email's id stays known in Redis, so that a re-delivery (an IMAP re-fetch,
 * the same file again) is a duplicate: the window of the at-most-once effect keys (90 days).
 */
export const ARCHIVED_DEDUP_SECONDS = EFFECT_CLAIM_TTL_SECONDS;

export interface ArchiveResult {
  /** Emails written to the store and removed from Redis. */
  archived: number;
  /** Emails looked at and left in Redis (not at rest, too recent, or changed while archived). */
  skipped: number;
}

/**
 * Moves the history of every email at rest (a terminal state; never one awaiting approval) whose
 * last change is older than `olderThanMs` from Redis to the store, `batch` emails at a time.
 * Crash-safe by order: the store is written first, the keys deleted after, so an email is in Redis,
 * in the store or both; a re-run replaces the store's copy whole, never doubling it.
 * `maxEmails` bounds one call (the daemon's sweep); `onProgress` is called after each batch.
 */
export async function archiveRested(
  deps: { redis: Redis; keys: RedisKeys; store: HistoryStore },
  options: { olderThanMs: number; now?: Date; batch?: number; maxEmails?: number; onProgress?: (r: ArchiveResult) => void },
): Promise<ArchiveResult> {
  const { redis, keys, store } = deps;
  const cutoff = (options.now ?? new Date()).getTime() - options.olderThanMs;
  const batch = options.batch ?? 500;
  const max = options.maxEmails ?? Number.POSITIVE_INFINITY;
  const result: ArchiveResult = { archived: 0, skipped: 0 };
  // The set's score is the intake time: an email created after the cutoff cannot have rested before it.
  for (;;) {
    const left = max - result.archived - result.skipped;
    if (left <= 0) break;
    const ids = await redis.zrangebyscore(keys.emailsByTime(), '-inf', cutoff, 'LIMIT', result.skipped, Math.min(batch, left));
    if (ids.length === 0) break;
    const read = redis.pipeline();
    for (const id of ids) {
      const emailId = EmailId.parse(id);
      read.hgetall(keys.email(emailId)).lrange(keys.audit(emailId), 0, -1).smembers(keys.labels(emailId));
    }
    const replies = (await read.exec()) ?? [];
    const moving: ArchivedEmail[] = [];
    for (let i = 0; i < ids.length; i++) {
      const [hash, audit, labels] = [replies[i * 3]?.[1], replies[i * 3 + 1]?.[1], replies[i * 3 + 2]?.[1]];
      const record = EmailRecord.safeParse(hash);
      if (!record.success || !TERMINAL_STATES.includes(record.data.state) || Date.parse(record.data.updatedAt) > cutoff) {
        result.skipped++;
        continue;
      }
      const events = (Array.isArray(audit) ? audit : []).map((line: unknown) => AuditEvent.parse(JSON.parse(String(line))));
      moving.push({ record: record.data, events, labels: (Array.isArray(labels) ? labels : []).map(String) });
    }
    await store.put(moving);
    const del = redis.pipeline();
    for (const { record, events } of moving) {
      const id = record.emailId;
      del.eval(DELETE_IF_UNCHANGED, 5, keys.email(id), keys.audit(id), keys.labels(id), keys.emailsByTime(), keys.archived(id), events.length, record.updatedAt, id, ARCHIVED_DEDUP_SECONDS);
    }
    for (const [err, deleted] of (await del.exec()) ?? []) {
      if (!err && deleted === 1) result.archived++;
      else result.skipped++;
    }
    options.onProgress?.({ ...result });
  }
  return result;
}
