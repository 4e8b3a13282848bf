import { createServer } from 'node:net';
import { fastify, type FastifyInstance } from 'fastify';
import type { AppContext } from '../services/services.js';
import { MailroomError } from '../kernel/errors.js';
import type { Metrics } from './metrics.js';
import { OAuthState, describeOAuthState } from '../oauth/token-source.js';
import { authenticate, type WebAuth } from '../web/auth.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed-in reviewer (set by the auth hook on every request that needs one). */
    reviewer: string;
  }
}

/**
 * Largest request body the web role reads (review decisions and Bull Board edits are small JSON);
 * a bigger one is refused with 413 before it is parsed.
 */
export const HTTP_BODY_LIMIT_BYTES = 256 * 1024;

/** A watcher's status counts as current for this long after it was written. */
const STATUS_FRESH_MS = 5 * 60_000;

export interface HealthReport {
  ok: boolean;
  redis: 'ok' | 'unreachable';
  /** Per `account/folder`: the state its watcher last reported (from any process). */
  imap: Record<string, string>;
  /** Per OAuth2 token source (`imap account NAME`, `smtp`) this config uses: its last state, e.g. `auth failed: refresh token rejected`. */
  oauth2?: Record<string, string>;
}

/** The OAuth2 states recorded in Redis (by any process), `{ label: OAuthState }`; unreadable entries are left out. */
export async function readOAuthStates(app: Pick<AppContext, 'redis' | 'keys'>): Promise<Record<string, OAuthState>> {
  const raw = await app.redis.hgetall(app.keys.oauthStatus()).catch(() => ({}));
  const out: Record<string, OAuthState> = {};
  for (const [label, json] of Object.entries(raw)) {
    try {
      const parsed = OAuthState.safeParse(JSON.parse(json));
      if (parsed.success) out[label] = parsed.data;
    } catch {
      // a foreign value under our key: not ours to report
    }
  }
  return out;
}

/** Redis answers, and every configured IMAP folder has a watcher that reported `connected` lately. */
export async function checkHealth(app: Pick<AppContext, 'redis' | 'keys' | 'config'>): Promise<HealthReport> {
  const ping = await Promise.race([
    app.redis.ping().then(() => 'ok' as const, () => 'unreachable' as const),
    new Promise<'unreachable'>((resolve) => setTimeout(() => resolve('unreachable'), 2_000).unref()),
  ]);
  const imap: Record<string, string> = {};
  let imapOk = true;
  for (const account of app.config.imap) {
    for (const folder of account.folders) {
      const status = ping === 'ok' ? await app.redis.hgetall(app.keys.imapStatus(account.name, folder)).catch(() => ({})) : {};
      const at = 'at' in status && typeof status.at === 'string' ? Date.parse(status.at) : NaN;
      const state = 'state' in status && typeof status.state === 'string' ? status.state : 'unknown';
      const fresh = Date.now() - at < STATUS_FRESH_MS;
      imap[`${account.name}/${folder}`] = fresh ? state : 'unknown';
      if (!fresh || state !== 'connected') imapOk = false;
    }
  }
  const labels = [
    ...app.config.imap.filter((a) => a.auth.method === 'oauth2').map((a) => `imap account ${a.name}`),
    ...(app.config.smtp.server?.auth.method === 'oauth2' ? ['smtp'] : []),
  ];
  const states = labels.length && ping === 'ok' ? await readOAuthStates(app) : {};
  const oauth2: Record<string, string> = {};
  let oauthOk = true;
  for (const label of labels) {
    const known = states[label];
    if (!known) continue;
    oauth2[label] = describeOAuthState(known.state);
    if (known.state !== 'ok' && known.state !== 'unavailable') oauthOk = false;
  }
  return { ok: ping === 'ok' && imapOk && oauthOk, redis: ping, imap, ...(labels.length ? { oauth2 } : {}) };
}

/** Something a later issue mounts on the same server (Bull Board, review routes). */
export type HttpPlugin = (server: FastifyInstance) => Promise<void> | void;

export interface HttpServer {
  readonly server: FastifyInstance;
  /** The bound address and port (useful with port 0). */
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/** A listen failure the user can fix (a port in use, not allowed, an address not ours) as a config error naming the setting. */
function listenError(err: unknown, host: string, port: number): unknown {
  const code = err instanceof Error && 'code' in err ? String(err.code) : '';
  if (code !== 'EADDRINUSE' && code !== 'EACCES' && code !== 'EADDRNOTAVAIL') return err;
  const why = code === 'EADDRINUSE' ? 'is already in use' : code === 'EACCES' ? 'is not allowed for this user' : 'is not an address of this machine';
  return new MailroomError(
    'CONFIG_INVALID',
    `HTTP ${host}:${port} ${why} (${code}): set MAILROOM_HTTP_PORT (or "http": { "port", "host" } in the config file) to a free port`,
    { cause: err },
  );
}

/**
 * Whether the web role could listen where it is told, asked before anything else starts (Redis,
 * IMAP, workers), so a busy port is one error at once, with nothing started and left behind.
 * The port is released again at once; the real listen comes later.
 */
export async function assertCanListen(host: string, port: number): Promise<void> {
  if (port === 0) return;
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', (err) => reject(listenError(err, host, port)));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/**
 * The `web` role: `/healthz` (200 or 503 with what is wrong, open to all), `/metrics` (Prometheus
 * text; a reviewer's credentials unless config `http.metrics` is `open`), and what plugins mount
 * (Bull Board). Every other request needs a reviewer's credentials (HTTP basic auth): the hook runs
 * before any route, so a plugin cannot forget it.
 */
export async function startHttpServer(
  app: Pick<AppContext, 'redis' | 'keys' | 'config' | 'logger'>,
  metrics: Metrics,
  plugins: readonly HttpPlugin[] = [],
  options: { auth: WebAuth; host?: string },
): Promise<HttpServer> {
  const server = fastify({ logger: false, bodyLimit: HTTP_BODY_LIMIT_BYTES });
  server.decorateRequest('reviewer', '');
  server.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0];
    if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) return;
    if (path === '/metrics' && app.config.http.metrics === 'open') return;
    const reviewer = authenticate(options.auth, req.headers.authorization);
    if (!reviewer) {
      return reply.code(401).header('www-authenticate', 'Basic realm="Mailroom", charset="UTF-8"').send({ error: 'sign in with a reviewer name and password' });
    }
    req.reviewer = reviewer;
  });
  server.get('/healthz', async (_req, reply) => {
    const report = await checkHealth(app);
    return reply.code(report.ok ? 200 : 503).send(report);
  });
  server.get('/metrics', async (_req, reply) => {
    const body = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(body);
  });
  for (const plugin of plugins) await plugin(server);
  const host = options.host ?? app.config.http.host;
  try {
    await server.listen({ host, port: app.config.http.port });
  } catch (err) {
    await server.close().catch(() => undefined);
    throw listenError(err, host, app.config.http.port);
  }
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : app.config.http.port;
  app.logger.info({ host, port }, 'http server listening');
  return { server, host, port, close: () => server.close() };
}
