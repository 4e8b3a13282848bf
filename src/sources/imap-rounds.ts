// One catch-up of a folder on an open connection: everything above the checkpoint, fetched in
// rounds, each stored in Redis, then quarantined or marked on the server, then checkpointed.
// Connecting, IDLE and backoff are the watcher's; what is listed is the listing's.
import type { FetchMessageObject, ImapFlow } from 'imapflow';
import { quarantineUnread as recordUnread } from '../run/rest.js';
import type { AppContext } from '../services/services.js';
import { MailroomError, toMailroomError } from '../kernel/errors.js';
import { emailIdFor, type EmailId } from '../kernel/ids.js';
import type { Logger } from '../kernel/logger.js';
import type { ImapCheckpoint, checkpointStore } from '../store/imap-checkpoint.js';
import { uidSet } from '../mail/imap-client.js';
import type { ImapAccount } from '../config/imap-config.js';
import { recordLocation } from '../mail/mailbox-actions.js';
import { submitEmails, type SubmitOutcome } from '../ingest/submit.js';
import type { SourceInfo } from '../model/trusted-context.js';
import { BATCH, listFolder, planFetchBatches, type Listed } from './imap-listing.js';

export type SourceDeps = Pick<AppContext, 'config' | 'logger' | 'redis' | 'keys' | 'queues' | 'ledger' | 'audit' | 'content' | 'tokens'>;

/** The counters a catch-up moves (part of the watcher's stats, which /metrics reads). */
export interface RoundStats {
  ingested: number;
  duplicates: number;
  quarantined: number;
  skippedHandled: number;
  uidValidityChanges: number;
  lastSyncAt: Date | null;
  /** FETCH commands for message sources (one per round that downloads anything). */
  sourceFetches: number;
  /** The most source bytes (by RFC822.SIZE) one of those commands asked for. */
  largestFetchBytes: number;
}

/** What a catch-up of one folder works with; the watcher builds it once. */
export interface FolderSync {
  app: SourceDeps;
  account: ImapAccount;
  folder: string;
  log: Logger;
  stats: RoundStats;
  checkpoints: ReturnType<typeof checkpointStore>;
  fetchBudgetBytes: number;
}

/** One fetch round: its messages, and what the fetch brought of them. */
interface Round {
  batch: Listed[];
  /** Messages over the size limit: quarantined from their size, never downloaded. */
  oversize: Listed[];
  /** Sources as fetched (a message expunged meanwhile comes without one). */
  fetched: FetchMessageObject[];
  /** The bytes held in memory until the round is stored. */
  bytes: number;
}
type Stored = Array<{ m: FetchMessageObject; outcome: SubmitOutcome }>;

const sourceInfo = (f: FolderSync, uid: number, uidValidity: string): SourceInfo => ({ kind: 'imap', account: f.account.name, folder: f.folder, uid, uidValidity });

/**
 * A message we cannot take in as it is (over the size limit, never downloaded; or one whose own
 * bytes cannot be identified) is recorded under an id from its UID and quarantined with the reason.
 */
async function quarantineUnread(f: FolderSync, uid: number, sizeBytes: number, uidValidity: string, err: MailroomError): Promise<EmailId> {
  const { account, folder } = f;
  const emailId = emailIdFor(account.address, `imap:${account.name}/${folder}/${uidValidity}/${uid}`);
  const unread = { emailId, label: `${account.name}/${folder}/${uid}`, mailbox: account.address, mode: account.shadow ? 'shadow' : 'live', sizeBytes, source: sourceInfo(f, uid, uidValidity) } as const;
  if (await recordUnread(f.app, unread, err)) f.stats.quarantined += 1;
  return emailId;
}
const quarantineOversize = (f: FolderSync, m: { uid: number; size: number }, uidValidity: string): Promise<EmailId> =>
  quarantineUnread(f, m.uid, m.size, uidValidity, new MailroomError('EMAIL_TOO_LARGE', `message is ${m.size} bytes, over the limit of ${f.app.config.maxMessageBytes}`));

async function markHandled(f: FolderSync, client: ImapFlow, all: Array<{ uid: number; emailId: EmailId; shadow: boolean }>, uidValidity: string): Promise<void> {
  const { account } = f;
  // Shadow mode leaves the server exactly as it was, and so does a live mailbox for mail it
  // first took in while in shadow; the UID checkpoint and dedup keep either from coming back.
  const done = all.filter((d) => !d.shadow);
  if (done.length === 0) return;
  const range = uidSet(done.map((d) => d.uid));
  if ('flag' in account.markHandled) {
    // SILENT: the server need not echo every message's flags back; we read none of them.
    await client.messageFlagsAdd(range, [account.markHandled.flag], { uid: true, silent: true });
    return;
  }
  const moved = await client.messageMove(range, account.markHandled.move, { uid: true });
  const target = account.markHandled.move;
  for (const d of done) {
    const uid = moved ? moved.uidMap?.get(d.uid) : undefined;
    const validity = moved && moved.uidValidity !== undefined ? String(moved.uidValidity) : uidValidity;
    await recordLocation(f.app, d.emailId, { account: account.name, folder: target, uid: uid ?? null, uidValidity: validity });
  }
}

/** Fetches the sources of one round's messages in one FETCH. */
async function fetchRound(f: FolderSync, client: ImapFlow, batch: Listed[]): Promise<Round> {
  const { app, stats } = f;
  const todo = batch.filter((m) => !m.handled);
  stats.skippedHandled += batch.length - todo.length;
  const oversize = todo.filter((m) => m.size > app.config.maxMessageBytes);
  const wanted = todo.filter((m) => m.size <= app.config.maxMessageBytes);
  const fetched = wanted.length ? await client.fetchAll(uidSet(wanted.map((m) => m.uid)), { uid: true, source: true }, { uid: true }) : [];
  const bytes = fetched.reduce((n, m) => n + (m.source?.length ?? 0), 0);
  if (wanted.length) {
    stats.sourceFetches += 1;
    stats.largestFetchBytes = Math.max(stats.largestFetchBytes, bytes);
  }
  return { batch, oversize, fetched, bytes };
}

/** Stores a fetched round in Redis; resolves to each source's outcome and never rejects. */
async function storeRound(f: FolderSync, round: Round, uidValidity: string): Promise<Stored> {
  // A message expunged between listing and fetching comes without a source: nothing to take in.
  const sources = round.fetched.flatMap((m) => (m.source ? [{ m, input: m.source }] : []));
  let outcomes: SubmitOutcome[];
  try {
    outcomes = await submitEmails(f.app, sources.map(({ m, input }) => ({ input, source: sourceInfo(f, m.uid, uidValidity) })), f.account.address, { shadow: f.account.shadow });
  } catch (err) {
    outcomes = sources.map(() => ({ ok: false, stage: 'store', error: toMailroomError(err) }));
  }
  return sources.map(({ m }, i) => ({ m, outcome: outcomes[i] ?? { ok: false, stage: 'store', error: new MailroomError('INTERNAL', 'message has no outcome') } }));
}

/**
 * Finishes a stored round: quarantines what cannot be taken in, marks on the server only what is
 * durably in Redis, and returns the UIDs that failed to store (left unmarked, taken in again).
 */
async function finishRound(f: FolderSync, client: ImapFlow, round: Round, stored: Stored, uidValidity: string): Promise<number[]> {
  const { account, stats, log } = f;
  const done: Array<{ uid: number; emailId: EmailId; shadow: boolean }> = [];
  const failed: number[] = [];
  for (const { m, outcome } of stored) {
    if (outcome.ok) {
      if (outcome.submission.duplicate) stats.duplicates += 1;
      else stats.ingested += 1;
      done.push({ uid: m.uid, emailId: outcome.submission.emailId, shadow: outcome.submission.shadow });
    } else if (outcome.stage === 'identify') {
      // The message's own bytes fail the same way every time: quarantined with the reason, not retried.
      done.push({ uid: m.uid, emailId: await quarantineUnread(f, m.uid, m.source?.length ?? 0, uidValidity, outcome.error), shadow: account.shadow });
    } else {
      failed.push(m.uid);
      log.warn({ uid: m.uid, code: outcome.error.publicCode }, 'message not stored; left unmarked and taken in again');
    }
  }
  for (const m of round.oversize) done.push({ uid: m.uid, emailId: await quarantineOversize(f, m, uidValidity), shadow: account.shadow });
  // Only now, with each of these durably in Redis, does the server learn the mail was handled.
  await markHandled(f, client, done, uidValidity);
  return failed;
}

/** One catch-up round: everything above the checkpoint, in UID order, in batches. */
export async function syncFolder(f: FolderSync, client: ImapFlow): Promise<void> {
  const { app, folder, log, stats, checkpoints, fetchBudgetBytes } = f;
  const mailbox = client.mailbox;
  if (!mailbox) throw new MailroomError('IMAP_COMMAND_FAILED', `folder ${folder} is not open`);
  const uidValidity = String(mailbox.uidValidity);
  let cp: ImapCheckpoint | null = await checkpoints.load();
  if (!cp || cp.uidValidity !== uidValidity) {
    if (cp) {
      // Every UID we knew is void. Rescan from the start; Message-ID dedup and the handled flag
      // keep mail already taken in from being processed again.
      stats.uidValidityChanges += 1;
      log.warn({ oldUidValidity: cp.uidValidity, uidValidity }, 'UIDVALIDITY changed; rescanning the folder');
    }
    cp = { uidValidity, lastUid: 0 };
    await checkpoints.save(cp);
  }
  if (mailbox.exists > 0) {
    // Half the budget per round of unknown sizes: a round being stored and the next being
    // fetched fit in the budget together, so the two overlap.
    const smallBound = Math.max(1, Math.min(app.config.maxMessageBytes, Math.floor(fetchBudgetBytes / (2 * BATCH))));
    const fresh = await listFolder(client, f.account, folder, cp.lastUid, smallBound);
    // Sizes first (above), sources after, in rounds bounded by count and by bytes. A round is
    // fetched while the one before it is stored, when both fit in the byte budget together;
    // the server is told and the checkpoint moves only once a round is stored.
    let lowestFailed = Infinity;
    const finish = async (pending: { round: Round; stored: Promise<Stored> }) => {
      const failed = await finishRound(f, client, pending.round, await pending.stored, uidValidity);
      lowestFailed = Math.min(lowestFailed, ...failed);
      // Never past a message that is not stored: the next catch-up lists it and everything after
      // it again (what was stored meanwhile is marked handled, or deduplicated in shadow mode).
      const lastUid = Math.min(pending.round.batch[pending.round.batch.length - 1]?.uid ?? 0, lowestFailed - 1);
      if (cp && lastUid > cp.lastUid) {
        cp = { uidValidity, lastUid };
        await checkpoints.save(cp);
      }
    };
    let storing: { round: Round; stored: Promise<Stored> } | null = null;
    try {
      for (const batch of planFetchBatches(fresh, { maxCount: BATCH, maxBytes: fetchBudgetBytes, skipOver: app.config.maxMessageBytes })) {
        const batchBytes = batch.reduce((n, m) => n + (m.size > app.config.maxMessageBytes ? 0 : m.size), 0);
        if (storing && storing.round.bytes + batchBytes > fetchBudgetBytes) {
          // Both rounds in memory at once could pass the budget: finish the stored one first.
          const pending: { round: Round; stored: Promise<Stored> } = storing;
          storing = null;
          await finish(pending);
        }
        const round = await fetchRound(f, client, batch);
        // One round is stored at a time, so two copies of a message in neighbouring rounds stay one email.
        const previous: { round: Round; stored: Promise<Stored> } | null = storing;
        if (previous) await previous.stored;
        storing = { round, stored: storeRound(f, round, uidValidity) };
        if (previous) await finish(previous);
      }
      if (storing) {
        const pending: { round: Round; stored: Promise<Stored> } = storing;
        storing = null;
        await finish(pending);
      }
    } finally {
      // A round still being stored when the connection fails finishes before the session ends.
      if (storing) await storing.stored;
    }
    if (lowestFailed !== Infinity) log.warn({ fromUid: lowestFailed }, 'some messages were not stored; the checkpoint waits below the first of them');
  }
  stats.lastSyncAt = new Date();
}
