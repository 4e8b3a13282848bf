import type { FetchMessageObject, ImapFlow } from 'imapflow';
import { quarantine } from '../run/lifecycle.js';
import type { AppContext } from '../context.js';
import { MailroomError } from '../errors.js';
import { emailIdFor, type EmailId } from '../ids.js';
import type { Logger } from '../logger.js';
import { checkpointStore, folderLease, type ImapCheckpoint } from './imap-checkpoint.js';
import { closeImapClient, createImapClient, toImapError } from './imap-client.js';
import type { ImapAccount } from './imap-config.js';
import { recordLocation } from './mailbox-actions.js';
import { submitEmail } from './submit.js';
import type { SourceInfo } from './trusted-context.js';

/** Most messages fetched, submitted and marked per round; the checkpoint advances after each. */
const BATCH = 100;
/**
 * Most bytes of message sources (by their RFC822.SIZE) fetched in one round: a round holds its
 * sources in memory until they are stored, so 100 messages of 25 MiB must not come at once.
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
/**
 * Submissions in flight at once within a batch (the batch's sources are in memory already). A
 * submit waits on three Redis round trips and little CPU: at 8 the watcher sat idle half the time;
 * 32 halved a 1,000-message catch-up's submit time (bench/imap.ts).
 */
const SUBMIT_PARALLEL = 32;
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

type SourceDeps = Pick<AppContext, 'config' | 'logger' | 'redis' | 'keys' | 'queues' | 'ledger' | 'audit' | 'content'>;

/**
 * What a watcher reports for `/healthz` (from any process): `auth failed` and `tls failed` name a
 * login the server refused or a `tls` mode that does not fit the port, which a retry cannot fix.
 */
export type WatcherState = 'connected' | 'reconnecting' | 'auth failed' | 'tls failed' | 'standby' | 'stopped';

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
  const lease = folderLease(app.redis, app.keys.imapLease(account.name, folder), leaseTtlMs);
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

  /** A message over the size limit is never downloaded: it is recorded and quarantined from its size alone. */
  const quarantineOversize = async (m: FetchMessageObject, uidValidity: string): Promise<EmailId> => {
    const emailId = emailIdFor(account.address, `imap:${account.name}/${folder}/${uidValidity}/${m.uid}`);
    const mode = account.shadow ? 'shadow' : 'live';
    if (await app.ledger.create(emailId, `${account.name}/${folder}/${m.uid}`, { mailbox: account.address, mode })) {
      await app.audit.append(emailId, 'ingested', 'ingest', { source: 'imap', sizeBytes: m.size ?? 0 });
      const err = new MailroomError('EMAIL_TOO_LARGE', `message is ${m.size ?? 0} bytes, over the limit of ${app.config.maxMessageBytes}`);
      await quarantine(app, emailId, 'source', err, sourceInfo(m.uid, uidValidity));
      stats.quarantined += 1;
    }
    return emailId;
  };

  const markHandled = async (client: ImapFlow, all: Array<{ uid: number; emailId: EmailId; shadow: boolean }>, uidValidity: string) => {
    // Shadow mode leaves the server exactly as it was, and so does a live mailbox for mail it
    // first took in while in shadow; the UID checkpoint and dedup keep either from coming back.
    const done = all.filter((d) => !d.shadow);
    if (done.length === 0) return;
    const range = done.map((d) => d.uid).join(',');
    if ('flag' in account.markHandled) {
      await client.messageFlagsAdd(range, [account.markHandled.flag], { uid: true });
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

  const handleBatch = async (client: ImapFlow, batch: FetchMessageObject[], uidValidity: string) => {
    const flag = 'flag' in account.markHandled ? account.markHandled.flag : null;
    const todo = batch.filter((m) => !(flag && m.flags?.has(flag)));
    stats.skippedHandled += batch.length - todo.length;
    const oversize = todo.filter((m) => (m.size ?? 0) > app.config.maxMessageBytes);
    const wanted = todo.filter((m) => !oversize.includes(m));
    const done: Array<{ uid: number; emailId: EmailId; shadow: boolean }> = [];
    if (wanted.length) {
      stats.sourceFetches += 1;
      stats.largestFetchBytes = Math.max(stats.largestFetchBytes, wanted.reduce((n, m) => n + (m.size ?? 0), 0));
    }
    const fetched = wanted.length
      ? await client.fetchAll(wanted.map((m) => m.uid).join(','), { uid: true, source: true }, { uid: true })
      : [];
    let next = 0;
    const submitOne = async () => {
      for (let m = fetched[next++]; m; m = fetched[next++]) {
        if (!m.source) continue; // expunged between listing and fetching
        const sub = await submitEmail(app, m.source, sourceInfo(m.uid, uidValidity), account.address, { shadow: account.shadow });
        if (sub.duplicate) stats.duplicates += 1;
        else stats.ingested += 1;
        done.push({ uid: m.uid, emailId: sub.emailId, shadow: sub.shadow });
      }
    };
    await Promise.all(Array.from({ length: SUBMIT_PARALLEL }, submitOne));
    for (const m of oversize) done.push({ uid: m.uid, emailId: await quarantineOversize(m, uidValidity), shadow: account.shadow });
    // Only now, with every job durably in Redis, does the server learn the mail was handled.
    await markHandled(client, done, uidValidity);
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
      const listed = await client.fetchAll(`${cp.lastUid + 1}:*`, { uid: true, flags: true, size: true }, { uid: true });
      // `N:*` always names the highest message, even below N: filter.
      const fresh = listed.filter((m) => m.uid > (cp?.lastUid ?? 0)).sort((a, b) => a.uid - b.uid);
      // Sizes first (above), sources after, in rounds bounded by count and by bytes.
      for (const batch of planFetchBatches(fresh, { maxCount: BATCH, maxBytes: fetchBudgetBytes, skipOver: app.config.maxMessageBytes })) {
        await handleBatch(client, batch, uidValidity);
        cp = { uidValidity, lastUid: batch[batch.length - 1]?.uid ?? cp.lastUid };
        await checkpoints.save(cp);
      }
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
    const client = await createImapClient(account, { autoIdle: true, logger: log });
    current = client;
    client.on('exists', (d) => {
      if (d.count > d.prevCount) wake();
    });
    client.on('close', wake);
    try {
      await client.connect();
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

  const run = async () => {
    while (!stopping) {
      if (!(await lease.hold().catch(() => false))) {
        await setStatus('standby');
        await waitForWork(Math.min(account.pollMs, 5_000));
        continue;
      }
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
      const refused = error?.code === 'IMAP_AUTH_FAILED' || error?.code === 'IMAP_TLS_FAILED';
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
      await setStatus(error?.code === 'IMAP_AUTH_FAILED' ? 'auth failed' : error?.code === 'IMAP_TLS_FAILED' ? 'tls failed' : 'reconnecting', code);
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
