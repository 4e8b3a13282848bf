import { closeAll } from '../kernel/close-all.js';
import { startArchiveSweep } from '../history/archive-sweep.js';
import { verificationAdvice, type Config } from '../config/config.js';
import { createContext } from '../app/context.js';
import { type AppContext } from '../services/services.js';
import { MailroomError } from '../kernel/errors.js';
import { startImapSources, type ImapSources } from '../sources/imap-source.js';
import type { DnsResolver } from '../mail/local-auth.js';
import type { Logger } from '../kernel/logger.js';
import { loginAdvice } from '../config/providers.js';
import { assertCanListen, startHttpServer, type HttpPlugin, type HttpServer } from './http-server.js';
import { createMetrics } from './metrics.js';
import { startWorkers, type RunningWorkers } from '../app/workers.js';
import { type Role } from '../run/handlers.js';
import { isLoopback, webAuthFor, type WebAuth } from '../web/auth.js';
import { BOARD_PATH, bullBoardPlugin } from '../web/bull-board.js';
import { reportPagePlugin } from '../web/report-page.js';
import { reviewPagePlugin } from '../web/review-page.js';

/**
 * What one process runs. `imap` watches the IMAP mailboxes and feeds the ingest queue; `triage`
 * (the ingest queue), `planner` and `executor` are queue workers; `web` serves /healthz, /metrics
 * and Bull Board. Any split across processes works against one Redis, and any role may run in
 * several processes.
 */
export const DAEMON_ROLES = ['imap', 'triage', 'planner', 'executor', 'web'] as const;
export type DaemonRole = (typeof DAEMON_ROLES)[number];

/**
 * Old role names still accepted, with a warning, so that deployed units and scripts keep working.
 * `ingest` named the IMAP watchers while the ingest queue ran under `triage`.
 */
const RENAMED_ROLES: Readonly<Record<string, DaemonRole>> = { ingest: 'imap' };

/** Running jobs get this long to finish on shutdown; after it they are handed back to the queue. */
const DRAIN_MS = 20_000;
/** How long shutdown may take in all before the process exits anyway. */
const SHUTDOWN_BOUND_MS = 30_000;

/**
 * `--role imap,web` → the roles, each once; one clear error for an unknown name. An old name is
 * read as its new one and reported to `warn` once.
 */
export function parseRoles(value: string | undefined, warn: (message: string) => void = () => undefined): DaemonRole[] {
  if (!value) return [...DAEMON_ROLES];
  const names = value
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean)
    .map((r) => {
      const renamed = Object.hasOwn(RENAMED_ROLES, r) ? RENAMED_ROLES[r] : undefined;
      if (renamed === undefined) return r;
      warn(`role "${r}" is now called "${renamed}"; the old name still works but is deprecated`);
      return renamed;
    });
  const unknown = names.filter((r) => !(DAEMON_ROLES as readonly string[]).includes(r));
  if (unknown.length || names.length === 0) {
    throw new MailroomError('CONFIG_INVALID', `--role: unknown role ${unknown.join(', ') || '(none)'}; choose from ${DAEMON_ROLES.join(', ')}`);
  }
  return DAEMON_ROLES.filter((r) => names.includes(r));
}

export interface Daemon {
  readonly app: AppContext;
  readonly roles: readonly DaemonRole[];
  readonly imap: ImapSources | null;
  readonly http: HttpServer | null;
  /** Stops taking work, lets running jobs finish (or hands them back after a bound), closes IMAP, HTTP and Redis. */
  close(): Promise<void>;
}

export interface DaemonOptions {
  roles?: readonly DaemonRole[];
  dnsResolver?: DnsResolver;
  /** Mounted on the web role's server besides Bull Board and the report page. */
  httpPlugins?: readonly HttpPlugin[];
  /**
   * Told once the web role listens: Bull Board's URL, and the login when no reviewer is configured
   * and a password was generated for this run (null otherwise).
   * @defaultValue prints a generated login to stderr, once
   */
  onWebReady?: (web: { url: string; login: { name: string; password: string } | null }) => void;
  /** A worker stopped taking jobs although jobs wait (src/app/fetch-watchdog.ts). @defaultValue log only */
  onWorkerStuck?: () => void;
  /** How often the executor role's archive sweep runs, in ms (src/history/archive-sweep.ts). @defaultValue 60000 */
  archiveEveryMs?: number;
}

function printCredentials({ url, login }: { url: string; login: { name: string; password: string } | null }): void {
  if (!login) return;
  process.stderr.write(
    `mailroom: no reviewers configured; Bull Board is at ${url} on loopback only.\n` +
      `mailroom: sign in as "${login.name}" with password ${login.password} (generated for this run; set MAILROOM_REVIEWERS=name:password to choose)\n`,
  );
}

/** Starts the given roles (all by default) and returns once they run. */
export async function startDaemon(config: Config, logger: Logger, options: DaemonOptions = {}): Promise<Daemon> {
  const roles = options.roles ?? DAEMON_ROLES;
  // The metrics read the app at scrape time, and count audit writes (step durations, failures,
  // notices, would-do effects) as the trail records them: the trail is built wrapped.
  let built: AppContext | null = null;
  const metrics = createMetrics(() => {
    if (!built) throw new MailroomError('INTERNAL', 'metrics scraped before the app was built');
    return built;
  });
  const webHost = (auth: WebAuth) => (auth.generated && !isLoopback(config.http.host) ? '127.0.0.1' : config.http.host);
  const webAuth = roles.includes('web') ? webAuthFor(config) : null;
  if (webAuth) await assertCanListen(webHost(webAuth), config.http.port);
  const app = await createContext(config, logger, {
    ...(options.dnsResolver ? { dnsResolver: options.dnsResolver } : {}),
    observeAudit: (trail) => metrics.observeAudit(trail),
  });
  built = app;
  const workerRoles = roles.filter((r): r is Role => r === 'triage' || r === 'planner' || r === 'executor');
  let workers: RunningWorkers | null = null;
  let sweep: { close(): Promise<void> } | null = null;
  let imap: ImapSources | null = null;
  let http: HttpServer | null = null;
  // Everything after the context is inside this try: a part that fails to start releases the
  // parts before it and the context (with it an embedded redis-server), not only the later ones.
  try {
    workers = startWorkers(app, workerRoles, options.onWorkerStuck ? { onStuck: options.onWorkerStuck } : {});
    // With the executors: they bring emails to rest. One SQLite file per data dir (per host).
    sweep = workerRoles.includes('executor')
      ? startArchiveSweep(
          { redis: app.redis, keys: app.keys, store: app.history, config, logger: logger.child({ component: 'archive' }) },
          options.archiveEveryMs === undefined ? {} : { everyMs: options.archiveEveryMs },
        )
      : null;
    if (roles.includes('imap')) {
      if (config.imap.length === 0) logger.warn('imap role: no IMAP mailboxes configured (config key "imap")');
      imap = startImapSources(app);
      metrics.watchers = imap.watchers;
    }
    if (webAuth) {
      const auth = webAuth;
      // A generated password is printed to the console: such a server never listens beyond loopback.
      const host = webHost(auth);
      if (host !== config.http.host) logger.warn({ configured: config.http.host }, 'no reviewers configured: the web server listens on 127.0.0.1 only');
      http = await startHttpServer(app, metrics, [bullBoardPlugin(app), reportPagePlugin(app, { boardPath: BOARD_PATH }), reviewPagePlugin(app, { boardPath: BOARD_PATH }), ...(options.httpPlugins ?? [])], { auth, host });
      const reviewer = auth.generated ? auth.reviewers[0] : undefined;
      const shownHost = http.host.includes(':') ? `[${http.host}]` : http.host === '0.0.0.0' ? '127.0.0.1' : http.host;
      (options.onWebReady ?? printCredentials)({
        url: `http://${shownHost}:${http.port}${BOARD_PATH}`,
        login: reviewer ? { name: reviewer.name, password: reviewer.password } : null,
      });
    }
    const advice = [
      ...(roles.includes('imap') ? config.imap.map((a) => loginAdvice(a.provider, a.auth.method, `imap account ${a.name}`)) : []),
      config.smtp.server ? loginAdvice(config.smtp.server.provider, config.smtp.server.auth.method, 'smtp') : null,
      roles.includes('triage') ? verificationAdvice(config) : null,
    ];
    for (const line of advice) if (line) logger.warn(line);
    if (roles.includes('executor') || roles.includes('triage')) {
      // A rejected SMTP refresh token is named now, in one line, not at the first reply.
      const smtpAuth = await app.mailer.checkAuth?.();
      if (smtpAuth) logger.error({ code: smtpAuth.publicCode }, smtpAuth.message);
    }
  } catch (err) {
    // Release what started, each part even if another fails (each failure is logged); the start
    // error is the one to report.
    await closeAll(
      [
        ['imap', () => imap?.close()],
        ['archive sweep', () => sweep?.close()],
        ['workers', () => workers?.close(true)],
        ['http', () => http?.close()],
        ['context', () => app.close()],
      ],
      logger,
    ).catch(() => undefined);
    throw err;
  }
  // Constants from here on: close() below runs later, when a `let` is no longer narrowed.
  const running = { workers, sweep };
  logger.info(
    { roles, provider: app.llm.mode, redis: app.embeddedRedis ? 'embedded' : 'external', mailboxes: config.imap.map((a) => a.name) },
    'mailroom started',
  );
  let closing: Promise<void> | null = null;
  return {
    app,
    roles,
    imap,
    http,
    close() {
      const drainWorkers = async () => {
        let drained = false;
        const drain = running.workers.close().then(() => {
          drained = true;
        });
        await Promise.race([drain, new Promise((resolve) => setTimeout(resolve, DRAIN_MS).unref())]);
        if (!drained) {
          logger.warn({ afterMs: DRAIN_MS }, 'running jobs did not finish; handing them back to the queue');
          await running.workers.close(true);
        }
      };
      // Reverse order of start: no new mail, then no new jobs, then the servers and Redis; a part
      // that fails to close does not keep the later ones (the embedded redis-server) running.
      closing ??= closeAll(
        [
          ['imap', () => imap?.close()],
          ['archive sweep', () => running.sweep?.close()],
          ['workers', drainWorkers],
          ['http', () => http?.close()],
          ['context', () => app.close()],
        ],
        logger,
      );
      return closing;
    },
  };
}

/** `mailroom start`: the roles until SIGTERM/SIGINT, then a bounded clean stop (exit 0). */
export async function runDaemon(config: Config, logger: Logger, options: DaemonOptions = {}): Promise<void> {
  const daemon = await startDaemon(config, logger, {
    // A stuck fetch loop does not heal in-process: stop cleanly and exit 75 (EX_TEMPFAIL) so that
    // the supervisor (systemd, compose) starts a fresh process.
    onWorkerStuck: () => {
      process.exitCode = 75;
      process.kill(process.pid, 'SIGTERM');
    },
    ...options,
  });
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'stopping');
      const timer = setTimeout(() => {
        logger.error({ boundMs: SHUTDOWN_BOUND_MS }, 'shutdown bound exceeded; exiting');
        process.exit(1);
      }, SHUTDOWN_BOUND_MS);
      timer.unref();
      void daemon
        .close()
        .catch((err: unknown) => logger.error({ err }, 'error while stopping'))
        .finally(() => {
          clearTimeout(timer);
          resolve();
        });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  logger.info('stopped');
}
