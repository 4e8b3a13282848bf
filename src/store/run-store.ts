import { z } from 'zod';
import type { Config } from '../config/config.js';
import type { Redis } from '../queues/connection.js';
import type { RedisKeys } from '../queues/keys.js';
import { MailroomError } from '../kernel/errors.js';
import { EmailRef, type EmailId, type PlanId } from '../kernel/ids.js';
import { SourceInfo, TrustedContext } from '../model/trusted-context.js';
import { Label } from '../model/label.js';
import { StoredPlan } from '../model/stored-plan.js';


/**
 * The run store: the Redis layout of one email's run, and the only code that reads or writes it.
 * Stage code (ingest, planner, executor, review) calls these functions, never `redis.get` on a
 * run key. Every value is parsed with its zod schema on the way out; on the way in too, except the
 * triage record, whose parts were parsed where they were made.
 *
 * | what                          | key (prefix `{mailroom}`)        | written by                  |
 * | ----------------------------- | -------------------------------- | --------------------------- |
 * | triage record                 | `ctx:{emailId}` (string, JSON)   | triage, once per email      |
 * | stored plan (first writer wins) | `plan:{planId}` (string, JSON) | adopting a plan             |
 * | step outputs with their labels | `plan:{planId}:out` (hash)      | each step, once it ran      |
 * | at-most-once effect claims    | `idem:{planId}.{stepId}[:part]`  | tools (src/store/effect-claims.ts) |
 *
 * Everything of a run expires after `contentTtlSeconds`; parking renews it (see `keepForReview`).
 * The triage record's key keeps its historical name `ctx:` so that emails in flight across an
 * upgrade still resolve.
 */

interface Deps {
  redis: Redis;
  keys: RedisKeys;
  config: Pick<Config, 'contentTtlSeconds'>;
}

/**
 * Values of a run that never change once written, kept per connection (so per app) for the steps
 * that re-read them: a stored plan (first writer wins; nothing rewrites it) and a triage record
 * (written once per email; a re-delivered triage job rewrites it, and a step then sees either
 * record, as it could before, from Redis). Bounded in count and in age: an entry is dropped after
 * {@link RUN_CACHE_MAX_AGE_MS}, so a run whose keys expired in Redis is not kept alive here for
 * long. Callers treat what they get as read-only, as they did with a value parsed from Redis.
 */
export const RUN_CACHE_MAX_AGE_MS = 60_000;
const RUN_CACHE_SIZE = 2_000;

class RunCache<T> {
  private readonly entries = new Map<string, { at: number; value: T }>();
  get(key: string): T | undefined {
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    if (Date.now() - hit.at <= RUN_CACHE_MAX_AGE_MS) return hit.value;
    this.entries.delete(key);
    return undefined;
  }
  set(key: string, value: T): void {
    this.entries.delete(key);
    this.entries.set(key, { at: Date.now(), value });
    // A Map keeps insertion order: the first entry is the oldest.
    if (this.entries.size > RUN_CACHE_SIZE) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
  }
  delete(key: string): void {
    this.entries.delete(key);
  }
}

/**
 * A step output as last seen in Redis (or written by this app) with its parsed value. Outputs are
 * still read from Redis on every step, which stays the authority on which steps have run; only a
 * value whose JSON is exactly the one parsed before skips `JSON.parse` and its schema (every
 * later step of a plan reads every earlier output again).
 */
interface SeenOutput {
  json: string;
  value: LabelledOutput;
}

interface RunCaches {
  plans: RunCache<StoredPlan>;
  triage: RunCache<TriageRecord>;
  outputs: RunCache<SeenOutput>;
}

const runCaches = new WeakMap<object, RunCaches>();

/** This app's cache (one per Redis connection: tests run many apps in one process). */
function cacheOf(redis: object): RunCaches {
  let cache = runCaches.get(redis);
  if (!cache) runCaches.set(redis, (cache = { plans: new RunCache(), triage: new RunCache(), outputs: new RunCache() }));
  return cache;
}

/**
 * A value of this run that never changes once written: from the cache, else read from Redis,
 * parsed by its schema and cached; `CONTENT_EXPIRED` (with `gone`) when the key has expired.
 */
async function readCached<T>(redis: Deps['redis'], cache: RunCache<T>, key: string, schema: { parse(raw: unknown): T }, gone: string): Promise<T> {
  const hit = cache.get(key);
  if (hit) return hit;
  const raw = await redis.get(key);
  if (!raw) throw new MailroomError('CONTENT_EXPIRED', gone);
  const value = schema.parse(JSON.parse(raw));
  cache.set(key, value);
  return value;
}

/**
 * What triage established about an email: the trusted context, the ref of its untrusted content
 * (`{{email.ref}}` in a plan), and where it came from (the IMAP tools act on the server through it).
 */
export const TriageRecord = z.preprocess(
  // Records written before the rename carry `context` and `contentRef`.
  (raw) =>
    typeof raw === 'object' && raw !== null && 'context' in raw && !('trusted' in raw)
      ? Object.fromEntries(Object.entries(raw).map(([k, v]) => [k === 'context' ? 'trusted' : k === 'contentRef' ? 'emailRef' : k, v]))
      : raw,
  z.object({ trusted: TrustedContext, emailRef: EmailRef, source: SourceInfo.optional() }).strict(),
);
export type TriageRecord = z.infer<typeof TriageRecord>;

/** A step's output as persisted: the value and the label it carries to later steps. */
export const LabelledOutput = z
  .object({
    value: z.record(z.string(), z.unknown()),
    /** The whole output's label: confidentiality, and whether any field is tainted. */
    label: Label,
    /** Fields derived from untrusted content, as the tool declares; taint is tracked per field. */
    taintedFields: z.array(z.string()),
  })
  .strict();
export type LabelledOutput = z.infer<typeof LabelledOutput>;

/**
 * Stores the triage record of an email (a re-delivered triage job overwrites it with the same
 * facts). Its parts were parsed where they were made (triage parses the `TrustedContext` it builds,
 * the content ref is minted, the source comes from parsed job data); parsing the whole record again
 * here cost as much as triage's own parse. It is parsed again on the way out.
 */
export async function saveTriage(app: Deps, emailId: EmailId, record: TriageRecord): Promise<void> {
  const key = app.keys.triage(emailId);
  const cache = cacheOf(app.redis).triage;
  cache.delete(key);
  await app.redis.set(key, JSON.stringify(record), 'EX', app.config.contentTtlSeconds);
  cache.set(key, record);
}

/** The triage record of an email (cached per app once read); `CONTENT_EXPIRED` once it is gone. */
export async function loadTriage(app: Pick<Deps, 'redis' | 'keys'>, emailId: EmailId): Promise<TriageRecord> {
  return readCached(app.redis, cacheOf(app.redis).triage, app.keys.triage(emailId), TriageRecord, `no triage record stored for ${emailId}`);
}

/**
 * Stores a plan unless one is already stored under its id: first writer wins, so a re-delivered
 * job (or a second worker) adopts the plan already stored, never a second one. True if this call
 * stored it.
 */
export async function claimPlan(app: Deps, stored: StoredPlan): Promise<boolean> {
  const parsed = StoredPlan.parse(stored);
  const created = await app.redis.set(app.keys.plan(stored.planId), JSON.stringify(parsed), 'EX', app.config.contentTtlSeconds, 'NX');
  if (created !== null) cacheOf(app.redis).plans.set(app.keys.plan(stored.planId), parsed);
  return created !== null;
}

/** Whether a plan is stored under this id. */
export async function hasPlan(app: Pick<Deps, 'redis' | 'keys'>, planId: PlanId): Promise<boolean> {
  return (await app.redis.exists(app.keys.plan(planId))) > 0;
}

/** The validated plan as it was adopted (cached per app once read); `CONTENT_EXPIRED` once it is gone. */
export async function loadPlan(app: Pick<Deps, 'redis' | 'keys'>, planId: PlanId): Promise<StoredPlan> {
  return readCached(app.redis, cacheOf(app.redis).plans, app.keys.plan(planId), StoredPlan, `plan ${planId} is gone`);
}

/**
 * Persists a step's output with its label, before the next step is enqueued. `first`: no output of
 * this plan was stored before (the caller read them), so this write creates the hash and gives it
 * its TTL; later outputs keep that TTL, as the plan's own key does (parking renews both, see
 * `keepForReview`), instead of an EXPIRE with every step.
 */
export async function saveOutput(app: Deps, planId: PlanId, stepId: string, output: LabelledOutput, first = true): Promise<void> {
  const key = app.keys.planOutputs(planId);
  const value = LabelledOutput.parse(output);
  const json = JSON.stringify(value);
  // Issued in one tick, both leave in the connection's next auto-pipelined write, with whatever
  // else this and other jobs send now (an explicit pipeline was a socket write of its own).
  await Promise.all([app.redis.hset(key, stepId, json), first ? app.redis.expire(key, app.config.contentTtlSeconds) : undefined]);
  cacheOf(app.redis).outputs.set(`${key}\n${stepId}`, { json, value });
}

/** The outputs of the plan's steps that have run, by step id. */
export async function loadOutputs(app: Pick<Deps, 'redis' | 'keys'>, planId: PlanId): Promise<Record<string, LabelledOutput>> {
  const key = app.keys.planOutputs(planId);
  const raw = await app.redis.hgetall(key);
  const seen = cacheOf(app.redis).outputs;
  const out: Record<string, LabelledOutput> = {};
  for (const [stepId, json] of Object.entries(raw)) {
    const at = `${key}\n${stepId}`;
    const hit = seen.get(at);
    if (hit && hit.json === json) {
      out[stepId] = hit.value;
      continue;
    }
    const value = LabelledOutput.parse(JSON.parse(json));
    seen.set(at, { json, value });
    out[stepId] = value;
  }
  return out;
}

/** What a review needs (plan, outputs, triage record) must outlive the wait for a human: renewed when parked. */
export async function keepForReview(app: Deps, emailId: EmailId, planId: PlanId): Promise<void> {
  const ttl = app.config.contentTtlSeconds;
  await Promise.all([app.keys.plan(planId), app.keys.planOutputs(planId), app.keys.triage(emailId)].map((k) => app.redis.expire(k, ttl)));
}
