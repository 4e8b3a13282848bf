import { Queue, UnrecoverableError, type Job, type JobsOptions } from 'bullmq';
import { z } from 'zod';
import { EmailId, PlanId, UntrustedRef } from '../kernel/ids.js';
import { SourceInfo } from '../model/trusted-context.js';
import type { Redis } from './connection.js';
import { ApprovalJob } from './approval-job.js';


/** Job data carries references and ids, never email text. */
export const IngestJob = z.object({ emailId: EmailId, rawRef: UntrustedRef, source: SourceInfo }).strict();
export type IngestJob = z.infer<typeof IngestJob>;

export const PlanJob = z.object({ emailId: EmailId }).strict();
export type PlanJob = z.infer<typeof PlanJob>;

export const StepJob = z
  .object({
    emailId: EmailId,
    planId: PlanId,
    stepIndex: z.number().int().min(0),
    /** Set by a human's approval: the step at the plan's gate may run. */
    approvedBy: z.string().min(1).max(200).optional(),
  })
  .strict();
export type StepJob = z.infer<typeof StepJob>;

/** Tell the reviewers that a plan parked (ids only; the notice is built from the review record). */
export const NotifyJob = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('parked'), channel: z.enum(['webhook', 'team']), emailId: EmailId, planId: PlanId, seq: z.number().int().min(1) }).strict(),
  /** Digest mode: one notice for the plans parked in one window of `digestMinutes`. */
  z.object({ kind: z.literal('digest'), channel: z.enum(['webhook', 'team']), window: z.number().int().min(0) }).strict(),
]);
export type NotifyJob = z.infer<typeof NotifyJob>;

/**
 * The job a dead letter can run again (`mailroom dead-letters requeue`): its queue, id and data as
 * they were when it failed, so a requeue does not depend on BullMQ still keeping the job.
 */
export const RerunJob = z.discriminatedUnion('queue', [
  z.object({ queue: z.literal('ingest'), id: z.string().min(1).max(300), data: IngestJob }).strict(),
  z.object({ queue: z.literal('plan'), id: z.string().min(1).max(300), data: PlanJob }).strict(),
  z.object({ queue: z.literal('steps'), id: z.string().min(1).max(300), data: StepJob }).strict(),
]);
export type RerunJob = z.infer<typeof RerunJob>;

/** Mail or jobs that could not be handled, with a reason a human can act on. */
export const DeadLetterJob = z
  .object({
    emailId: EmailId.nullable(),
    stage: z.enum(['ingest', 'plan', 'steps', 'source']),
    code: z.string(),
    reason: z.string().max(500),
    source: SourceInfo.nullable(),
    /** The job that failed, when its data parsed: what a requeue runs again. */
    rerun: RerunJob.optional(),
  })
  .strict();
export type DeadLetterJob = z.infer<typeof DeadLetterJob>;

const retention = { removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 }, removeOnFail: { age: 30 * 24 * 3600 } };
/**
 * Retries of a job whose processor threw a retryable error (Redis, SMTP 4xx, IMAP or webhook down):
 * 1, 2, 4, 8, 16, 32, 64 s after each failure, so 8 attempts span about two minutes — longer than
 * a Redis or IMAP restart, short enough that a real outage reaches a human the same hour. Crashes
 * are not attempts: they are stalls (below).
 */
const ATTEMPTS = 8;
const backoff = { type: 'exponential', delay: 1_000 } as const;

/**
 * How often a job may be orphaned by its worker (a crash, SIGKILL, OOM: the lock lapses and a
 * live worker re-delivers it) before BullMQ fails it as a poison job instead of running it again.
 * The failure is dead-lettered and its email quarantined (src/app/failed-jobs.ts). Two: a job
 * survives a deploy and a crash, and a message that kills every worker that reads it costs three
 * crashes, not an endless loop.
 */
export const MAX_STALLED_COUNT = 2;

/**
 * The one catalog of queues: name → job-data schema and job options. Producers get typed `add`;
 * processors parse with `parseJobData` first thing.
 */
export const QueueCatalog = {
  ingest: { name: 'ingest', schema: IngestJob, options: { attempts: ATTEMPTS, backoff, ...retention } },
  plan: { name: 'plan', schema: PlanJob, options: { attempts: ATTEMPTS, backoff, ...retention } },
  approval: { name: 'approval', schema: ApprovalJob, options: { attempts: 1, removeOnComplete: false, removeOnFail: false } },
  steps: { name: 'steps', schema: StepJob, options: { attempts: ATTEMPTS, backoff, ...retention } },
  // A receiver that is down is retried for about an hour (1 s doubling, 12 tries), never blocking a plan.
  notify: { name: 'notify', schema: NotifyJob, options: { attempts: 12, backoff: { type: 'exponential', delay: 1000 }, ...retention } },
  deadLetter: { name: 'dead-letter', schema: DeadLetterJob, options: { attempts: 1, removeOnComplete: false, removeOnFail: false } },
} as const satisfies Record<string, { name: string; schema: z.ZodType; options: JobsOptions }>;

export type QueueKey = keyof typeof QueueCatalog;
export type JobData<K extends QueueKey> = z.infer<(typeof QueueCatalog)[K]['schema']>;

/**
 * Parses job data at the processor boundary. Data that does not parse is a poison job: BullMQ's
 * UnrecoverableError stops it from being retried.
 */
export function parseJobData<K extends QueueKey>(key: K, data: unknown): JobData<K> {
  const parsed = QueueCatalog[key].schema.safeParse(data);
  if (!parsed.success) {
    throw new UnrecoverableError(`MAILROOM_JOB_DATA_INVALID: ${key} job data does not match its schema`);
  }
  return parsed.data as JobData<K>;
}

/** Whether BullMQ will try this job again if its processor throws now. */
export function hasAttemptsLeft(job: Job): boolean {
  return job.attemptsMade + 1 < (job.opts.attempts ?? 1);
}

/** How long BullMQ waits before the next attempt if the running attempt of this job throws now (its backoff). */
export function retryDelayMs(job: Job): number {
  const b = job.opts.backoff;
  if (b === undefined) return 0;
  if (typeof b === 'number') return b;
  const delay = b.delay ?? 0;
  // BullMQ's exponential backoff: delay × 2^(attempts made before this one).
  return b.type === 'exponential' ? delay * 2 ** job.attemptsMade : delay;
}

/** BullMQ job ids may not contain ':'; ours are built from ids that never do. */
export function jobIdFor(...parts: string[]): string {
  return parts.join('__');
}

export interface Queues {
  readonly prefix: string;
  /** BullMQ's connection (its Lua scripts are defined on it); workers share it. */
  readonly connection: Redis;
  get<K extends QueueKey>(key: K): Queue;
  add<K extends QueueKey>(key: K, data: JobData<K>, opts?: { jobId?: string; delay?: number; name?: string }): Promise<string>;
  /** Adds several jobs in one MULTI (BullMQ's `addBulk`): all of them are in Redis, or none. */
  addBulk<K extends QueueKey>(key: K, jobs: ReadonlyArray<{ data: JobData<K>; jobId?: string }>): Promise<string[]>;
  all(): Queue[];
  close(): Promise<void>;
}

export function createQueues(connection: Redis, prefix: string): Queues {
  const queues = new Map<QueueKey, Queue>();
  for (const key of Object.keys(QueueCatalog) as QueueKey[]) {
    const entry = QueueCatalog[key];
    const queue = new Queue(entry.name, { connection, prefix, defaultJobOptions: entry.options });
    // Connection errors (a Redis restart) surface through the commands that fail and are retried
    // on reconnect; unheard, BullMQ would print each one to stderr.
    queue.on('error', () => undefined);
    queues.set(key, queue);
  }
  const get = <K extends QueueKey>(key: K): Queue => {
    const q = queues.get(key);
    if (!q) throw new Error(`queue ${key} missing`);
    return q;
  };
  return {
    prefix,
    connection,
    get,
    async add(key, data, opts = {}) {
      const valid = QueueCatalog[key].schema.parse(data);
      const { name, ...jobOpts } = opts;
      const job = await get(key).add(name ?? key, valid, jobOpts);
      return job.id ?? '';
    },
    async addBulk(key, jobs) {
      const schema = QueueCatalog[key].schema;
      const added = await get(key).addBulk(jobs.map((j) => ({ name: key, data: schema.parse(j.data), opts: j.jobId === undefined ? {} : { jobId: j.jobId } })));
      return added.map((job) => job.id ?? '');
    },
    all: () => [...queues.values()],
    async close() {
      await Promise.all([...queues.values()].map((q) => q.close()));
    },
  };
}
