import { readFileSync, statSync } from 'node:fs';
import { readOAuthStates } from '../daemon/http-server.js';
import path from 'node:path';
import type { Config } from '../config/config.js';
import { createContext } from '../app/context.js';
import { type AppContext } from '../services/services.js';
import { readTrails, wouldDoEffects } from '../audit/trail-reading.js';
import type { Mailer } from '../mail/mailer.js';
import { startWorkers } from '../app/workers.js';
import { MailroomError } from '../kernel/errors.js';
import { emailIdFor, type CaseId, type EmailId } from '../kernel/ids.js';
import { caseOfEmail } from '../store/case-store.js';
import { quarantineUnread } from '../run/rest.js';
import { submitEmail } from '../ingest/submit.js';
import type { Logger } from '../kernel/logger.js';
import { RESTING_STATES, statesWithZeros, type EmailRecord } from '../audit/email-ledger.js';
import { createPlanCache } from '../planner/plan-cache.js';
import { DeadLetterJob } from '../queues/catalog.js';
import { collectEmailFiles } from './collect-files.js';
import { summarize, type ProcessSummary } from './summary.js';
import { deliveredName, fillThread, namedReplies, readThreadManifest, replyMessageId, threadFiles } from './follow-up-threads.js';

export interface ProcessOptions {
  paths: readonly string[];
  /** Give up waiting after this long; unfinished emails count as lost. */
  timeoutMs: number;
  /** Called as emails come to rest: (resting, total). */
  onProgress?: (done: number, total: number) => void;
  /** Handle the new emails of this run in shadow mode, whatever the config says. */
  shadow?: boolean;
  /**
   * A folder of follow-up templates (examples/threads): once the emails of `paths` rest, each is
   * filled with the Message-ID of the reply it answers, stamped and submitted in name order, one
   * at a time (a later one may answer the reply to an earlier one).
   */
  threads?: string;
}

/**
 * `mailroom process`: enqueue every message, run all roles in this process until each email
 * rests (a terminal state or awaiting approval), and summarise.
 */
export async function runProcess(config: Config, logger: Logger, options: ProcessOptions): Promise<ProcessSummary> {
  const files = collectEmailFiles(options.paths);
  const started = Date.now();
  // A running daemon's embedded Redis is shared, not fought over: its workers help.
  const app = await createContext(config, logger, { attachToRunning: true });
  const sent = { count: 0 };
  app.mailer = countingMailer(app.mailer, sent);
  const workers = startWorkers(app);
  try {
    const entries: Array<{ file: string; emailId: EmailId; duplicate: boolean }> = [];
    for (const file of files) {
      // Sized before it is read: a file over the limit is quarantined unread, as IMAP does.
      const size = statSync(file).size;
      if (size > config.maxMessageBytes) {
        entries.push({ file: path.relative(process.cwd(), file) || file, emailId: await quarantineUnreadFile(app, path.resolve(file), size), duplicate: false });
        continue;
      }
      const raw = readFileSync(file);
      const sub = await submitEmail(app, raw, { kind: 'file', path: path.resolve(file) }, undefined, options.shadow ? { shadow: true } : {});
      entries.push({ file: path.relative(process.cwd(), file) || file, ...sub });
    }
    const deadline = Date.now() + options.timeoutMs;
    const threadFilesOf = options.threads ? threadFiles(options.threads) : [];
    const total = entries.length + threadFilesOf.length;
    // A duplicate of an email archived out of Redis rests in the history store.
    const records = await awaitRest(app, entries.map((e) => e.emailId), deadline, { fromHistory: (i) => entries[i]?.duplicate ?? false, onProgress: (done) => options.onProgress?.(done, total) });
    if (options.threads) {
      const manifest = readThreadManifest(options.threads);
      const replies = new Map<string, string>();
      for (const file of threadFilesOf) {
        const template = readFileSync(file, 'latin1');
        for (const named of namedReplies(template)) {
          const at = entries.findIndex((e) => path.basename(e.file) === named);
          const id = at >= 0 ? await replyMessageId(app, entries[at]?.emailId as EmailId) : null;
          if (id) replies.set(named, id);
        }
        const delivered = deliveredName(file);
        const raw = fillThread(template, replies, {
          verified: manifest[delivered]?.verified ?? false,
          authservId: config.authservId ?? 'mx.acme.example',
          recipient: config.mailbox.address,
        });
        const sub = await submitEmail(app, raw, { kind: 'file', path: path.resolve(file) }, undefined, options.shadow ? { shadow: true } : {});
        const entry = { file: path.join(path.relative(process.cwd(), path.dirname(file)), delivered), ...sub };
        entries.push(entry);
        const [record] = await awaitRest(app, [entry.emailId], deadline, { fromHistory: () => entry.duplicate, onProgress: () => options.onProgress?.(entries.length, total) });
        records.push(record ?? null);
      }
    }
    const usage = app.llm.usage();
    const shadowIds = entries.filter((e, i) => !e.duplicate && records[i]?.mode === 'shadow').map((e) => e.emailId);
    return summarize(
      entries.map((e, i) => ({ ...e, record: records[i] ?? null })),
      {
        llm: { provider: app.llm.mode, calls: usage.calls, byRole: usage.byRole },
        elapsedMs: Date.now() - started,
        wouldSend: await countWouldSend(app, shadowIds),
        sent: sent.count,
        cases: await casesOf(app, entries),
      },
    );
  } finally {
    await workers.close();
    await app.close();
  }
}

/**
 * Quarantines a file too large to read, under an id made from its path (its Message-ID is unknown
 * without reading it): once per path, so running the same folder again shows it once.
 */
async function quarantineUnreadFile(app: AppContext, file: string, sizeBytes: number): Promise<EmailId> {
  const mailbox = app.config.mailbox.address;
  const emailId = emailIdFor(mailbox, `file:${file}`);
  const error = new MailroomError('EMAIL_TOO_LARGE', `message is ${sizeBytes} bytes, over the limit of ${app.config.maxMessageBytes}`);
  await quarantineUnread(app, { emailId, label: file, mailbox, mode: app.config.shadow ? 'shadow' : 'live', sizeBytes, source: { kind: 'file', path: file } }, error);
  return emailId;
}

/** The run's cases with more than one email, each with its files in the order the case took them in. */
async function casesOf(app: Pick<AppContext, 'redis' | 'keys'>, entries: ReadonlyArray<{ file: string; emailId: EmailId }>): Promise<ProcessSummary['cases']> {
  const byCase = new Map<CaseId, string[]>();
  for (const e of entries) {
    const caseId = await caseOfEmail(app, e.emailId);
    if (caseId) byCase.set(caseId, [...(byCase.get(caseId) ?? []), e.file]);
  }
  return [...byCase.entries()].filter(([, files]) => files.length > 1).map(([caseId, files]) => ({ caseId, files }));
}

/** Counts what this process hands to the mailer: the run's `sent`. */
function countingMailer(inner: Mailer, sent: { count: number }): Mailer {
  return {
    kind: inner.kind,
    async send(mail) {
      const res = await inner.send(mail);
      sent.count += 1;
      return res;
    },
    close: () => inner.close(),
  };
}

/** Messages the `would_do` events of these emails name (one per step, however often it was recorded). */
async function countWouldSend(app: Pick<AppContext, 'redis' | 'keys'>, ids: readonly EmailId[]): Promise<number> {
  let n = 0;
  for await (const { events } of readTrails(app, ids)) n += wouldDoEffects(events).reduce((sum, e) => sum + e.messages.length, 0);
  return n;
}

function isResting(record: EmailRecord | null): boolean {
  return record !== null && RESTING_STATES.includes(record.state);
}

/**
 * Waits until every one of these emails rests (a terminal state or awaiting approval) or the
 * deadline passes, and answers their records as last read (null: unknown). Only emails not yet at
 * rest are read again: a resting email stays put, and reading every record every poll would load
 * Redis in proportion to the batch. `fromHistory(i)`: email i may rest in the history store.
 */
export async function awaitRest(
  app: Pick<AppContext, 'ledger' | 'history'>,
  ids: readonly EmailId[],
  deadline: number,
  options: { fromHistory?: (i: number) => boolean; onProgress?: (done: number, total: number) => void } = {},
): Promise<Array<EmailRecord | null>> {
  const records: Array<EmailRecord | null> = ids.map(() => null);
  let pending = ids.map((_, i) => i);
  for (;;) {
    const fresh = await app.ledger.getMany(pending.map((i) => ids[i] as EmailId));
    pending.forEach((at, k) => (records[at] = fresh[k] ?? null));
    for (const at of pending) if (!records[at] && options.fromHistory?.(at)) records[at] = (await app.history.get(ids[at] as EmailId))?.record ?? null;
    pending = pending.filter((at) => !isResting(records[at] ?? null));
    options.onProgress?.(ids.length - pending.length, ids.length);
    if (pending.length === 0 || Date.now() > deadline) return records;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `mailroom status`: counts by state and the latest emails. */
export async function runStatus(config: Config, logger: Logger, limit: number) {
  requireData(config);
  const app = await createContext(config, logger, { attachToRunning: true });
  try {
    const recent = await app.ledger.list(limit);
    const total = await app.ledger.count();
    // The ledger keeps per-state counts on every transition (the same numbers /metrics serves);
    // every state is listed, at 0 too, so a script sees the same keys before the first email.
    const counts = await statesWithZeros(app.ledger);
    const queues: Record<string, Record<string, number>> = {};
    for (const q of app.queues.all()) queues[q.name] = await q.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed');
    const deadLetters = (await app.queues.get('deadLetter').getJobs(['waiting', 'completed', 'failed'], 0, limit - 1))
      .map((j) => DeadLetterJob.safeParse(j.data))
      .flatMap((r) => (r.success ? [r.data] : []));
    const planCache = await createPlanCache(app.redis, app.keys).stats();
    const oauth2 = await readOAuthStates(app);
    return { total, states: counts, queues, planCache, deadLetters, recent, oauth2 };
  } finally {
    await app.close();
  }
}

/**
 * For commands that read what Mailroom did (status, pending, approve, reject, audit): with no Redis
 * configured and no data in the data folder, they would answer from an empty store. Most often the
 * daemon runs with another data folder, which the second shell must be told.
 */
export function requireData(config: Config): void {
  if (config.redisUrl || existsData(config)) return;
  throw new MailroomError(
    'INPUT_NOT_FOUND',
    `no Mailroom data in ${config.dataDir}: if a daemon runs with another MAILROOM_DATA_DIR (or REDIS_URL), set the same here; else run \`mailroom process\` or \`mailroom start\` first`,
  );
}

function existsData(config: Config): boolean {
  try {
    readFileSync(path.join(config.dataDir, 'redis', 'appendonlydir', 'appendonly.aof.manifest'));
    return true;
  } catch {
    return false;
  }
}
