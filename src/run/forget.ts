import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { EmailRecord, RESTING_STATES } from '../audit/email-ledger.js';
import { MailroomError } from '../kernel/errors.js';
import { EmailId, PlanId } from '../kernel/ids.js';
import { peekFromAddresses } from '../ingest/peeks.js';
import { scanKeys, type Redis } from '../queues/connection.js';
import type { Queues } from '../queues/catalog.js';
import type { RedisKeys } from '../queues/keys.js';
import { eraseCases } from '../store/case-store.js';
import type { Erasure, HistoryStore } from '../history/history-store.js';

/** What `mailroom forget` did: the erasure it recorded, and emails it could not take yet. */
export interface ForgetResult extends Erasure {
  /** The customer's emails still being worked on (not at rest): run forget again once they rest. */
  inFlight: number;
  /** Replies in the outbox folder (no SMTP configured) that were deleted. */
  outboxFiles: number;
}

const Address = z.string().trim().toLowerCase().email();

/** Characters that may sit next to an address inside a longer one; anything else ends it. */
const ADDRESS_CHAR = /[a-z0-9._%+-]/;

/** Whether `text` names `address` (lowercased) as a whole address, not as part of a longer one. */
export function mentionsAddress(text: string, address: string): boolean {
  const lower = text.toLowerCase();
  for (let i = lower.indexOf(address); i >= 0; i = lower.indexOf(address, i + 1)) {
    const before = lower[i - 1] ?? ' ';
    const after = lower[i + address.length] ?? ' ';
    if (!ADDRESS_CHAR.test(before) && !/[a-z0-9-]/.test(after) && !(after === '.' && /[a-z0-9]/.test(lower[i + address.length + 1] ?? ''))) return true;
  }
  return false;
}

const REF = /ur_[a-z]+_[a-f0-9]{16,32}/g;
const PLAN = /pl_[a-f0-9]{16}/g;
const MESSAGE_ID = /<mr\.[a-f0-9]+@[^>"\s]+>/g;

/** What one email left in Redis that points elsewhere: content refs, plans, Message-IDs. */
interface Traces {
  refs: Set<string>;
  plans: Set<string>;
  messageIds: Set<string>;
}

function collect(into: Traces, text: string): void {
  for (const m of text.matchAll(REF)) into.refs.add(m[0]);
  for (const m of text.matchAll(PLAN)) into.plans.add(m[0]);
  for (const m of text.matchAll(MESSAGE_ID)) into.messageIds.add(m[0]);
}

type Deps = { redis: Redis; keys: RedisKeys; queues: Pick<Queues, 'all'>; store: HistoryStore; outboxDir: string; clock: () => Date };

/**
 * The emails in Redis that are this customer's: their run record (the verified sender), their
 * raw message's From, or their trail (a reply's recipient) names the address.
 */
async function findInRedis(deps: Deps, address: string): Promise<Set<EmailId>> {
  const { redis, keys } = deps;
  const found = new Set<EmailId>();
  const idOf = (key: string) => EmailId.safeParse(/em_[a-f0-9]{16}/.exec(key)?.[0]);
  for (const [pattern, read] of [
    ['ctx:em_*', (k: string) => redis.get(k)],
    ['audit:em_*', async (k: string) => (await redis.lrange(k, 0, -1)).join('\n')],
  ] as const) {
    for await (const page of scanKeys(redis, keys.match(pattern))) {
      for (const key of page) {
        const id = idOf(key);
        if (id.success && !found.has(id.data) && mentionsAddress((await read(key)) ?? '', address)) found.add(id.data);
      }
    }
  }
  // A message quarantined before triage has no run record: its raw From says whose it is.
  for await (const page of scanKeys(redis, keys.match('ingest:em_*'))) {
    for (const key of page) {
      const id = idOf(key);
      if (!id.success || found.has(id.data) || key.endsWith(':logs') || key.endsWith(':lock')) continue;
      const rawRef = /"rawRef":"(ur_raw_[a-f0-9]+)"/.exec((await redis.hget(key, 'data')) ?? '')?.[1];
      const raw = rawRef ? await redis.getBuffer(keys.match(`content:${rawRef}`)) : null;
      if (raw && peekFromAddresses(raw).split(',').includes(address)) found.add(id.data);
    }
  }
  return found;
}

/**
 * `mailroom forget <address>`: removes a customer's emails whole, from Redis (ledger record,
 * trail, labels, run record, content, plans and their outputs, reviews, jobs in every queue,
 * idempotency and rate-limit entries, outbound Message-IDs, ticket and escalation entries) and
 * from the history store, deletes their replies from the outbox folder, and appends to the
 * store's erasure log who asked, when and how many, never the address. An email still in flight
 * is left (counted in `inFlight`). The store's file is compacted and Redis asked to rewrite its
 * append-only file, so the address does not linger on disk either.
 */
export async function forgetCustomer(deps: Deps, input: { address: string; by: string }): Promise<ForgetResult> {
  const parsed = Address.safeParse(input.address);
  if (!parsed.success) throw new MailroomError('CONFIG_INVALID', `"${input.address}" is not an email address`);
  const address = parsed.data;
  const { redis, keys, store } = deps;
  const inRedis = await findInRedis(deps, address);
  const inStore = new Set<EmailId>();
  for (const id of await store.mentioning(address)) {
    const email = await store.get(id);
    if (email && mentionsAddress(JSON.stringify(email.events), address)) inStore.add(id);
  }

  let redisKeys = 0;
  let inFlight = 0;
  const traces: Traces = { refs: new Set(), plans: new Set(), messageIds: new Set() };
  /** The emails taken, with the state their counter is decremented for (status counts archived emails too). */
  const taken = new Map<EmailId, string | undefined>();
  for (const id of new Set([...inRedis, ...inStore])) {
    const record = EmailRecord.safeParse(await redis.hgetall(keys.email(id)));
    if (record.success && !RESTING_STATES.includes(record.data.state)) {
      inFlight++;
      continue;
    }
    const archived = await store.get(id);
    taken.set(id, record.success ? record.data.state : archived?.record.state);
    if (record.success) traces.plans.add(record.data.planId);
    const ingest = await redis.hget(keys.match(`ingest:${id}`), 'data');
    for (const text of [await redis.get(keys.triage(id)), (await redis.lrange(keys.audit(id), 0, -1)).join('\n'), ingest]) collect(traces, text ?? '');
    if (archived) collect(traces, `${archived.record.planId}\n${JSON.stringify(archived.events)}`);
  }
  const emails = new Set<EmailId>(taken.keys());
  // The store first: what names the address in Redis (run records, raw messages) stays until the
  // end, so a forget cut short finds the same emails when run again.
  await store.remove([...emails]);
  for (const [id, state] of taken) {
    const del = [keys.email(id), keys.archived(id), keys.audit(id), keys.labels(id), keys.triage(id), keys.folder(id), keys.flags(id), keys.imapLocation(id), keys.bounces(id)];
    const tx = redis.multi().del(...del).zrem(keys.emailsByTime(), id);
    if (state) tx.hincrby(keys.emailStateCounts(), state, -1);
    redisKeys += Number((await tx.exec())?.[0]?.[1] ?? 0);
  }
  const plans = [...traces.plans].flatMap((p) => {
    const plan = PlanId.safeParse(p);
    return plan.success ? [plan.data] : [];
  });
  for (const plan of plans) for (const out of await redis.hvals(keys.planOutputs(plan))) collect(traces, out);
  const mentionsOurs = (text: string) => [...emails, ...plans].some((id) => text.includes(id));

  // Content, plans, reviews, idempotency keys.
  const contentKeys = [...traces.refs].flatMap((ref) => [keys.match(`content:${ref}`), keys.match(`content:${ref}:read`)]);
  const planKeys = plans.flatMap((p) => [keys.match(`plan:${p}`), keys.match(`plan:${p}:out`), keys.match(`review:${p}`)]);
  for (const batch of [contentKeys, planKeys]) if (batch.length) redisKeys += await redis.del(...batch);
  for (const plan of plans) {
    for await (const page of scanKeys(redis, keys.match(`idem:${plan}.*`))) redisKeys += await redis.del(...page);
  }
  // Rate-limit windows: the reservations of these plans, and the window named after the address.
  for await (const page of scanKeys(redis, keys.match('rate:*'))) {
    for (const key of page) {
      if (mentionsAddress(key, address)) {
        redisKeys += await redis.del(key);
        continue;
      }
      const members = (await redis.zrange(key, 0, -1)).filter((m) => plans.some((p) => m.startsWith(`${p}.`)));
      if (members.length) {
        await redis.zrem(key, ...members);
        redisKeys++;
      }
    }
  }
  // Outbound Message-IDs (for bounces), and the notice digest's parked plans.
  for await (const page of scanKeys(redis, keys.match('outbound:*'))) {
    for (const key of page) if (traces.messageIds.has(key.slice(keys.match('outbound:').length)) || mentionsOurs((await redis.get(key)) ?? '')) redisKeys += await redis.del(key);
  }
  const digest = (await redis.zrange(keys.notifyDigest(), 0, -1)).filter((m) => plans.some((p) => m.startsWith(p)));
  if (digest.length) redisKeys += await redis.zrem(keys.notifyDigest(), ...digest);
  // The stand-in records of tickets, escalations, refunds, deletions and account changes that name these emails.
  for (const hash of [keys.tickets(), keys.escalations(), keys.refunds(), keys.deletions(), keys.accountChanges()]) {
    const fields = Object.entries(await redis.hgetall(hash)).filter(([field, value]) => mentionsOurs(`${field}\n${value}`)).map(([field]) => field);
    if (fields.length) redisKeys += await redis.hdel(hash, ...fields);
  }
  // Jobs in every queue whose id is one of these emails or plans (ingest, plan, steps, approval, dead letters).
  for (const queue of deps.queues.all()) {
    const base = keys.match(`${queue.name}:`);
    for await (const page of scanKeys(redis, `${base}*`)) {
      for (const key of page) {
        const jobId = key.slice(base.length);
        if (jobId.includes(':') || !mentionsOurs(jobId)) continue;
        redisKeys += await queue.remove(jobId).catch(() => 0);
      }
    }
  }

  // Cases: the customer's go whole; the links of these emails in any other case go.
  redisKeys += await eraseCases(deps, { customer: address, emails });

  const outboxFiles = removeOutboxFiles(deps.outboxDir, traces.messageIds);
  // A daemon's sweep may have archived one of them while this ran (its store write lands, its
  // delete finds the trail changed): the store is cleared of them once more.
  await store.remove([...emails]);
  const erasure: Erasure = { at: deps.clock().toISOString(), by: input.by, emails: emails.size, redisKeys };
  await store.recordErasure(erasure);
  await store.compact();
  // The append-only file still holds what was deleted until it is rewritten; a managed Redis may refuse.
  await redis.bgrewriteaof().catch(() => undefined);
  return { ...erasure, inFlight, outboxFiles };
}

/** Deletes the outbox's copies of these replies (the file name is the Message-ID's safe characters). */
function removeOutboxFiles(dir: string, messageIds: ReadonlySet<string>): number {
  const names = new Set([...messageIds].map((m) => `${m.replace(/[^A-Za-z0-9.@_-]/g, '')}.eml`));
  let n = 0;
  const files = existsSync(dir) ? readdirSync(dir) : [];
  for (const f of files) {
    if (!names.has(f)) continue;
    rmSync(path.join(dir, f), { force: true });
    n++;
  }
  return n;
}
