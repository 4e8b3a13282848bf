// Watches one folder of one account: connect, open the folder, hold its lease, IDLE for new mail
// with a watchdog poll, reconnect with backoff, report state to /healthz and stats to /metrics,
// close cleanly. Each catch-up it asks for is the rounds' (imap-rounds.ts).
import type { ImapFlow } from 'imapflow';
import { MailroomError, type ErrorCode } from '../kernel/errors.js';
import type { Logger } from '../kernel/logger.js';
import { describeHolder, folderLease, instanceId, type LeaseView } from '../store/folder-lease.js';
import { checkpointStore } from '../store/imap-checkpoint.js';
import { closeImapClient, connectImapClient, toImapError } from '../mail/imap-client.js';
import type { ImapAccount } from '../config/imap-config.js';
import { DEFAULT_FETCH_BUDGET_BYTES } from './imap-listing.js';
import { syncFolder, type FolderSync, type RoundStats, type SourceDeps } from './imap-rounds.js';

/** A catch-up round taking longer than this means a dead connection: close it and reconnect. */
const SYNC_TIMEOUT_MS = 120_000;
/** On close, how long a batch in hand may take before the connection is cut (the checkpoint makes that safe). */
const CLOSE_GRACE_MS = 10_000;

/** What a watcher has done since it started (in-process; /metrics reads it). */
export interface WatcherStats extends RoundStats {
  connects: number;
  connected: boolean;
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
  const folderSync: FolderSync = { app, account, folder, log, stats, checkpoints, fetchBudgetBytes };

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

  const syncWithWatchdog = async (client: ImapFlow) => {
    let timer: NodeJS.Timeout | undefined;
    const watchdog = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        client.close(); // rejects whatever command hangs; the loop reconnects
        reject(new MailroomError('IMAP_UNREACHABLE', `catch-up in ${folder} took over ${SYNC_TIMEOUT_MS} ms`));
      }, SYNC_TIMEOUT_MS);
    });
    try {
      await Promise.race([syncFolder(folderSync, client), watchdog]);
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
