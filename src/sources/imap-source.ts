import type { FetchMessageObject, ImapFlow, SearchObject } from 'imapflow';
import { quarantineUnread as recordUnread } from '../run/rest.js';
import type { AppContext } from '../services/services.js';
import { MailroomError, toMailroomError, type ErrorCode } from '../kernel/errors.js';
import { emailIdFor, type EmailId } from '../kernel/ids.js';
import type { Logger } from '../kernel/logger.js';
import { describeHolder, folderLease, instanceId, type LeaseView } from '../store/folder-lease.js';
import { checkpointStore, type ImapCheckpoint } from '../store/imap-checkpoint.js';
import { closeImapClient, connectImapClient, toImapError, uidSet } from '../mail/imap-client.js';
import type { ImapAccount } from '../config/imap-config.js';
import { recordLocation } from '../mail/mailbox-actions.js';
import { submitEmails, type SubmitOutcome } from '../ingest/submit.js';
import type { SourceInfo } from '../model/trusted-context.js';

/** Most messages fetched, submitted and marked per round; the checkpoint advances after each. */
const BATCH = 100;
/**
 * Most bytes of message sources (by their RFC822.SIZE) in memory at once: a round holds its
 * sources until they are stored, so 100 messages of 25 MiB must not come at once. The next round
 * is fetched while one is being stored only when the two fit in this budget together.
 */
export const DEFAULT_FETCH_BUDGET_BYTES = 32 * 1024 * 1024;

/**
 * Splits messages (in UID order) into consecutive fetch rounds of at most `maxCount` messages and
 * `maxBytes` of source. A message larger than the budget goes alone; one over `skipOver` (never
 * downloaded, quarantined from its size) costs nothing.
 */
export function planFetchBatches<T extends { size?: number }>(messages: readonly T[], opts: { maxCount: number; maxBytes: number; skipOver: number }): T[][] {
  const batches: T[][] = [];
  let batch: T[] = [];
  let bytes = 0;
  for (const m of messages) {
    const size = m.size ?? 0;
    const cost = size > opts.skipOver ? 0 : size;
    if (batch.length > 0 && (batch.length >= opts.maxCount || bytes + cost > opts.maxBytes)) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(m);
    bytes += cost;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}
/** A catch-up round taking longer than this means a dead connection: close it and reconnect. */
const SYNC_TIMEOUT_MS = 120_000;
/** On close, how long a batch in hand may take before the connection is cut (the checkpoint makes that safe). */
const CLOSE_GRACE_MS = 10_000;

/** What a watcher has done since it started (in-process; /metrics reads it). */
export interface WatcherStats {
  ingested: number;
  duplicates: number;
  quarantined: number;
  skippedHandled: number;
  connects: number;
  uidValidityChanges: number;
  lastSyncAt: Date | null;
  connected: boolean;
  /** FETCH commands for message sources (one per round that downloads anything). */
  sourceFetches: number;
  /** The most source bytes (by RFC822.SIZE) one of those commands asked for. */
  largestFetchBytes: number;
}

/** Knobs of a watcher that are not per-account configuration. */
export interface WatchOptions {
  /** Byte budget of one fetch round. @defaultValue {@link DEFAULT_FETCH_BUDGET_BYTES} */
  fetchBudgetBytes?: number;
  /** This installation's id for the folder lease. @defaultValue the one kept in the config's `dataDir` */
  instance?: string;
}

/** Watches one folder of one account: IDLE for new mail, a watchdog poll, reconnect with backoff. */
export interface FolderWatcher {
  readonly account: string;
  readonly folder: string;
  readonly stats: WatcherStats;
  /** Resolves after the first catch-up round completed (for callers that want to wait). */
  readonly firstSync: Promise<void>;
  /** Stops taking new mail, finishes the batch in hand, logs out. */
  close(): Promise<void>;
}

type SourceDeps = Pick<AppContext, 'config' | 'logger' | 'redis' | 'keys' | 'queues' | 'ledger' | 'audit' | 'content' | 'tokens'>;

/**
 * What a watcher reports for `/healthz` (from any process): `auth failed` and `tls failed` name a
 * login the server refused or a `tls` mode that does not fit the port, which a retry cannot fix.
 */
export type WatcherState =
  | 'connected'
  | 'reconnecting'
  | 'auth failed'
  | 'auth failed: refresh token rejected'
  | 'auth failed: no refresh token'
  | 'tls failed'
  | 'standby'
  | 'stopped';

/** Failures a retry cannot fix until someone changes a setting or a secret: retried at the longest backoff. */
const REFUSED: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['IMAP_AUTH_FAILED', 'IMAP_TLS_FAILED', 'OAUTH_REFRESH_REJECTED', 'OAUTH_NO_REFRESH_TOKEN', 'OAUTH_CLIENT_REJECTED']);

/** The state a session's error leaves the watcher in. */
function watcherStateOf(error: MailroomError | null): WatcherState {
  switch (error?.code) {
    case 'OAUTH_REFRESH_REJECTED':
      return 'auth failed: refresh token rejected';
    case 'OAUTH_NO_REFRESH_TOKEN':
      return 'auth failed: no refresh token';
    case 'IMAP_AUTH_FAILED':
    case 'OAUTH_CLIENT_REJECTED':
      return 'auth failed';
    case 'IMAP_TLS_FAILED':
      return 'tls failed';
    default:
      return 'reconnecting';
  }
}

/** Exponential backoff with full jitter in [d/2, d]: many clients after one outage do not reconnect in step. */
export function backoffMs(attempt: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Starts a watcher for one folder; it runs until `close()`. */
export function watchFolder(app: SourceDeps, account: ImapAccount, folder: string, options: WatchOptions = {}): FolderWatcher {
  const fetchBudgetBytes = options.fetchBudgetBytes ?? DEFAULT_FETCH_BUDGET_BYTES;
  const log: Logger = app.logger.child({ component: 'imap', account: account.name, folder });
  const checkpoints = checkpointStore(app.redis, app.keys, account.name, folder);
  const leaseTtlMs = Math.max(3 * account.pollMs, 30_000);
  const instance = options.instance ?? instanceId(app.config.dataDir);
  const lease = folderLease(app.redis, app.keys.imapLease(account.name, folder), leaseTtlMs, instance);
  const stats: WatcherStats = {
    ingested: 0,
    duplicates: 0,
    quarantined: 0,
    skippedHandled: 0,
    connects: 0,
    uidValidityChanges: 0,
    lastSyncAt: null,
    connected: false,
    sourceFetches: 0,
    largestFetchBytes: 0,
  };
  let stopping = false;
  let failures = 0;
  /** The last session ended in a refused login: the next refusal is not news. */
  let refusedBefore = false;
  let dirty = false;
  let wakeUp: (() => void) | null = null;
  let current: ImapFlow | null = null;
  let firstSyncDone: () => void = () => {};
  const firstSync = new Promise<void>((resolve) => {
    firstSyncDone = resolve;
  });

  const wake = () => {
    dirty = true;
    wakeUp?.();
  };
  /** Waits for new mail, a closed connection, a stop, or the watchdog interval. */
  const waitForWork = (ms: number) =>
    new Promise<void>((resolve) => {
      if (dirty || stopping) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wakeUp = null;
        resolve();
      }
      wakeUp = done;
    });

  const setStatus = async (state: WatcherState, code = '') => {
    const key = app.keys.imapStatus(account.name, folder);
    await app.redis
      .multi()
      .hset(key, { state, code, at: new Date().toISOString() })
      .pexpire(key, leaseTtlMs + 30_000)
      .exec()
      .catch(() => undefined);
  };

  const sourceInfo = (uid: number, uidValidity: string): SourceInfo => ({ kind: 'imap', account: account.name, folder, uid, uidValidity });

  /**
   * A message we cannot take in as it is (over the size limit, never downloaded; or one whose own
   * bytes cannot be identified) is recorded under an id from its UID and quarantined with the reason.
   */
  const quarantineUnread = async (uid: number, sizeBytes: number, uidValidity: string, err: MailroomError): Promise<EmailId> => {
    const emailId = emailIdFor(account.address, `imap:${account.name}/${folder}/${uidValidity}/${uid}`);
    const unread = { emailId, label: `${account.name}/${folder}/${uid}`, mailbox: account.address, mode: account.shadow ? 'shadow' : 'live', sizeBytes, source: sourceInfo(uid, uidValidity) } as const;
    if (await recordUnread(app, unread, err)) stats.quarantined += 1;
    return emailId;
  };
  const quarantineOversize = (m: { uid: number; size: number }, uidValidity: string): Promise<EmailId> =>
    quarantineUnread(m.uid, m.size, uidValidity, new MailroomError('EMAIL_TOO_LARGE', `message is ${m.size} bytes, over the limit of ${app.config.maxMessageBytes}`));

  const markHandled = async (client: ImapFlow, all: Array<{ uid: number; emailId: EmailId; shadow: boolean }>, uidValidity: string) => {
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
      await recordLocation(app, d.emailId, { account: account.name, folder: target, uid: uid ?? null, uidValidity: validity });
    }
  };

  /** A message above the checkpoint, as the listing found it. */
  interface Listed {
    uid: number;
    /** RFC822.SIZE, or for a message the listing found small, the bound it is known to be under. */
    size: number;
    /** It carries the handled flag already (taken in before; only the checkpoint did not move). */
    handled: boolean;
  }

  /**
   * Lists the folder above `lastUid` with SEARCH, whose answer is one line however many messages
   * there are: every UID, those already flagged handled, and those larger than `smallBound`. Only
   * the large ones have their sizes fetched; each of the others counts as `smallBound` in a round's
   * byte budget, an upper bound, so the budget holds without a per-message FETCH of every size.
   */
  const list = async (client: ImapFlow, lastUid: number, smallBound: number): Promise<Listed[]> => {
    const range = `${lastUid + 1}:*`;
    const search = async (query: SearchObject): Promise<number[]> => {
      const found = await client.search({ uid: range, ...query }, { uid: true });
      if (!Array.isArray(found)) throw new MailroomError('IMAP_COMMAND_FAILED', `SEARCH in ${folder} failed`);
      // `N:*` always names the highest message, even below N: filter.
      return found.filter((uid) => uid > lastUid);
    };
    const flag = 'flag' in account.markHandled ? account.markHandled.flag : null;
    const all = await search({});
    if (all.length === 0) return [];
    const handled = new Set(flag ? await search({ keyword: flag }) : []);
    const large = await search({ larger: smallBound });
    const sizes = new Map<number, number>();
    if (large.length) {
      for (const m of await client.fetchAll(uidSet(large), { uid: true, size: true }, { uid: true })) sizes.set(m.uid, m.size ?? 0);
    }
    return [...new Set(all)].sort((a, b) => a - b).map((uid) => ({ uid, size: sizes.get(uid) ?? smallBound, handled: handled.has(uid) }));
  };

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

  /** Fetches the sources of one round's messages in one FETCH. */
  const fetchRound = async (client: ImapFlow, batch: Listed[]): Promise<Round> => {
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
  };

  /** Stores a fetched round in Redis; resolves to each source's outcome and never rejects. */
  const storeRound = async (round: Round, uidValidity: string): Promise<Stored> => {
    // A message expunged between listing and fetching comes without a source: nothing to take in.
    const sources = round.fetched.flatMap((m) => (m.source ? [{ m, input: m.source }] : []));
    let outcomes: SubmitOutcome[];
    try {
      outcomes = await submitEmails(app, sources.map(({ m, input }) => ({ input, source: sourceInfo(m.uid, uidValidity) })), account.address, { shadow: account.shadow });
    } catch (err) {
      outcomes = sources.map(() => ({ ok: false, stage: 'store', error: toMailroomError(err) }));
    }
    return sources.map(({ m }, i) => ({ m, outcome: outcomes[i] ?? { ok: false, stage: 'store', error: new MailroomError('INTERNAL', 'message has no outcome') } }));
  };

  /**
   * Settles a stored round: quarantines what cannot be taken in, marks on the server only what is
   * durably in Redis, and returns the UIDs that failed to store (left unmarked, taken in again).
   */
  const settleRound = async (client: ImapFlow, round: Round, stored: Stored, uidValidity: string): Promise<number[]> => {
    const done: Array<{ uid: number; emailId: EmailId; shadow: boolean }> = [];
    const failed: number[] = [];
    for (const { m, outcome } of stored) {
      if (outcome.ok) {
        if (outcome.submission.duplicate) stats.duplicates += 1;
        else stats.ingested += 1;
        done.push({ uid: m.uid, emailId: outcome.submission.emailId, shadow: outcome.submission.shadow });
      } else if (outcome.stage === 'identify') {
        // The message's own bytes fail the same way every time: quarantined with the reason, not retried.
        done.push({ uid: m.uid, emailId: await quarantineUnread(m.uid, m.source?.length ?? 0, uidValidity, outcome.error), shadow: account.shadow });
      } else {
        failed.push(m.uid);
        log.warn({ uid: m.uid, code: outcome.error.publicCode }, 'message not stored; left unmarked and taken in again');
      }
    }
    for (const m of round.oversize) done.push({ uid: m.uid, emailId: await quarantineOversize(m, uidValidity), shadow: account.shadow });
    // Only now, with each of these durably in Redis, does the server learn the mail was handled.
    await markHandled(client, done, uidValidity);
    return failed;
  };

  /** One catch-up round: everything above the checkpoint, in UID order, in batches. */
  const sync = async (client: ImapFlow) => {
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
      const fresh = await list(client, cp.lastUid, smallBound);
      // Sizes first (above), sources after, in rounds bounded by count and by bytes. A round is
      // fetched while the one before it is stored, when both fit in the byte budget together;
      // the server is told and the checkpoint moves only once a round is stored.
      let lowestFailed = Infinity;
      const settle = async (pending: { round: Round; stored: Promise<Stored> }) => {
        const failed = await settleRound(client, pending.round, await pending.stored, uidValidity);
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
            // Both rounds in memory at once could pass the budget: settle the stored one first.
            const pending: { round: Round; stored: Promise<Stored> } = storing;
            storing = null;
            await settle(pending);
          }
          const round = await fetchRound(client, batch);
          // One round is stored at a time, so two copies of a message in neighbouring rounds stay one email.
          const previous: { round: Round; stored: Promise<Stored> } | null = storing;
          if (previous) await previous.stored;
          storing = { round, stored: storeRound(round, uidValidity) };
          if (previous) await settle(previous);
        }
        if (storing) {
          const pending: { round: Round; stored: Promise<Stored> } = storing;
          storing = null;
          await settle(pending);
        }
      } finally {
        // A round still being stored when the connection fails finishes before the session ends.
        if (storing) await storing.stored;
      }
      if (lowestFailed !== Infinity) log.warn({ fromUid: lowestFailed }, 'some messages were not stored; the checkpoint waits below the first of them');
    }
    stats.lastSyncAt = new Date();
  };

  const syncWithWatchdog = async (client: ImapFlow) => {
    let timer: NodeJS.Timeout | undefined;
    const watchdog = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        client.close(); // rejects whatever command hangs; the loop reconnects
        reject(new MailroomError('IMAP_UNREACHABLE', `catch-up in ${folder} took over ${SYNC_TIMEOUT_MS} ms`));
      }, SYNC_TIMEOUT_MS);
    });
    try {
      await Promise.race([sync(client), watchdog]);
    } finally {
      clearTimeout(timer);
    }
  };

  const session = async (): Promise<void> => {
    const client = await connectImapClient(account, { autoIdle: true, logger: log, tokens: app.tokens }, (c) => {
      current = c;
      c.on('exists', (d) => {
        if (d.count > d.prevCount) wake();
      });
      c.on('close', wake);
    });
    current = client;
    try {
      if ('move' in account.markHandled && !account.shadow) await client.mailboxCreate(account.markHandled.move).catch(() => undefined);
      const opened = await client.mailboxOpen(folder).catch((err: unknown) => {
        if (!client.usable) throw err;
        throw new MailroomError('IMAP_COMMAND_FAILED', `folder ${folder} cannot be opened; does it exist?`, { cause: err });
      });
      const flag = 'flag' in account.markHandled ? account.markHandled.flag : null;
      if (flag && opened.permanentFlags && !opened.permanentFlags.has(flag) && !opened.permanentFlags.has('\\*')) {
        log.error({ flag }, 'the server does not keep this flag; configure markHandled.move instead');
      }
      stats.connects += 1;
      stats.connected = true;
      await setStatus('connected');
      log.info({ uidValidity: String(opened.uidValidity), exists: opened.exists }, 'watching folder');
      while (!stopping && client.usable) {
        dirty = false;
        await syncWithWatchdog(client);
        failures = 0;
        firstSyncDone();
        if (!(await lease.hold())) {
          log.warn('another process took over this folder');
          return;
        }
        await setStatus('connected');
        await waitForWork(account.pollMs);
      }
    } finally {
      stats.connected = false;
      current = null;
      await closeImapClient(client);
    }
  };

  /** The holder we last said we stand by for (its description), so a long standby logs once. */
  let standingBy: string | null = null;
  const standBy = async () => {
    const view: LeaseView | null = await lease.holder().catch(() => null);
    const who = view ? describeHolder(view.holder, instance) : 'nobody (the lease is free again)';
    if (who !== standingBy) {
      standingBy = who;
      // What /healthz's `standby` waits for: which folder (in the logger's fields), whose lease, until when.
      log.info(
        { holder: who, until: view?.expiresAt.toISOString() ?? null, leaseTtlMs },
        'standing by: another process watches this folder; this one takes over if that lease lapses',
      );
    }
    await setStatus('standby');
  };

  const run = async () => {
    while (!stopping) {
      const held = await lease.hold().catch(() => false as const);
      if (!held) {
        await standBy();
        await waitForWork(Math.min(account.pollMs, 5_000));
        continue;
      }
      if (held === 'reclaimed') log.info('took over the folder lease this installation held before its restart');
      else if (standingBy !== null) log.info({ after: standingBy }, 'the folder lease is ours now');
      standingBy = null;
      let error: MailroomError | null = null;
      try {
        await session();
      } catch (err) {
        error = toImapError(err, account.name);
      }
      if (stopping) break;
      // Every session that ends unasked counts, so a server that accepts and drops at once cannot make us spin.
      failures += 1;
      const code = error?.publicCode ?? 'MAILROOM_IMAP_UNREACHABLE';
      const refused = error !== null && REFUSED.has(error.code);
      // A refused login waits the longest backoff at once: retrying a wrong password quickly only
      // gets the account locked; a fixed secret file is still picked up at the next try.
      const delay = backoffMs(refused ? 64 : failures, account.reconnectMinMs, account.reconnectMaxMs);
      if (refused && error && !refusedBefore) {
        // The one line an operator needs at start: what is wrong and which setting to fix.
        log.error({ code, retryInMs: delay }, error.message);
      } else {
        log.warn({ code, failures, retryInMs: delay }, refused ? 'imap login still refused; retrying' : 'imap session ended; reconnecting');
      }
      refusedBefore = refused;
      await setStatus(watcherStateOf(error), code);
      dirty = false;
      await waitForWork(delay);
    }
    await lease.release().catch(() => undefined);
    await setStatus('stopped');
  };

  const running = run();
  return {
    account: account.name,
    folder,
    stats,
    firstSync,
    async close() {
      stopping = true;
      wake();
      // An IDLE in progress ends when the next command is sent; logout() does that for us. A
      // batch in hand gets a few seconds; a connection hung mid-command is cut, not waited for.
      const cut = setTimeout(() => current?.close(), CLOSE_GRACE_MS);
      try {
        await running;
      } finally {
        clearTimeout(cut);
      }
    },
  };
}

/** Every configured folder of every configured account. */
export interface ImapSources {
  readonly watchers: readonly FolderWatcher[];
  close(): Promise<void>;
}

export function startImapSources(app: SourceDeps): ImapSources {
  const watchers = app.config.imap.flatMap((account) => account.folders.map((folder) => watchFolder(app, account, folder)));
  return {
    watchers,
    async close() {
      await Promise.all(watchers.map((w) => w.close()));
    },
  };
}
