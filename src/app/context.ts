import path from 'node:path';
import { createAuditTrail, type AuditTrail } from '../audit/audit-trail.js';
import { createEmailLedger } from '../audit/email-ledger.js';
import { closeAll, type ClosePart } from '../kernel/close-all.js';
import type { Config } from '../config/config.js';
import { loadAccounts, type AccountsDirectory } from '../store/accounts.js';
import { createContentStore } from '../store/content-store.js';
import { createLocalSenderCheck, serversResolver, type DnsResolver } from '../mail/local-auth.js';
import { createLlmGateway } from '../llm/gateway.js';
import type { Logger } from '../kernel/logger.js';
import { assertRedisReachable, createRedis } from '../queues/connection.js';
import { createQueues } from '../queues/catalog.js';
import { findRunningEmbeddedRedis, startEmbeddedRedis, type EmbeddedRedis } from '../queues/embedded-redis.js';
import { redisKeys } from '../queues/keys.js';
import { loadKnowledgeBase, type KnowledgeBase } from '../store/knowledge-base.js';
import { createMailer } from '../mail/mailer.js';
import { createRegistry, type ToolRegistry } from '../tools/registry.js';
import { createTokenSources } from '../oauth/token-source.js';
import { checkAutonomy } from '../planner/autonomy.js';
import type { HistoryStore } from '../history/history-store.js';
import { openHistoryStore } from '../history/open-history-store.js';
import { type AppContext } from '../services/services.js';

/** How {@link createContext} builds what tests and one-shot commands need differently. */
export interface CreateContextOptions {
  /** DNS for the local sender check; tests plant DKIM keys here. @defaultValue the system resolver */
  dnsResolver?: DnsResolver;
  /**
   * Without REDIS_URL, use the embedded redis-server a running daemon started in the data folder
   * (found through its address file) instead of starting one. For one-shot CLI commands.
   * @defaultValue false
   */
  attachToRunning?: boolean;
  /**
   * Wraps the audit trail as it is built, e.g. so that the daemon's metrics count audit writes
   * (src/daemon/metrics.ts). @defaultValue the trail as is
   */
  observeAudit?: (trail: AuditTrail) => AuditTrail;
}

/**
 * Connects to Redis (starting the embedded one when REDIS_URL is unset), loads accounts and the
 * knowledge base, and builds the shared context. `close()` releases everything in reverse order,
 * every part even when an earlier one fails, then rethrows (see {@link closeAll}).
 */
export async function createContext(
  config: Config,
  logger: Logger,
  options: CreateContextOptions = {},
): Promise<AppContext> {
  const registry = createRegistry();
  // A config that tries to lift an autonomy limit is refused here, before anything starts.
  checkAutonomy(config, registry.tools);
  const accounts = loadAccounts(config.accountsFile);
  const kb = loadKnowledgeBase(config.kbDir);
  // First, so that a wrong DATABASE_URL or a PostgreSQL that is down fails before Redis starts.
  const history = await openHistoryStore(config);
  try {
    return await withRedis(config, logger, options, { registry, accounts, kb, history });
  } catch (err) {
    await history.close().catch(() => undefined);
    throw err;
  }
}

/** The rest of {@link createContext}, from Redis on; the caller closes `history` if this throws. */
async function withRedis(
  config: Config,
  logger: Logger,
  options: CreateContextOptions,
  built: { registry: ToolRegistry; accounts: AccountsDirectory; kb: KnowledgeBase; history: HistoryStore },
): Promise<AppContext> {
  const { registry, accounts, kb, history } = built;
  let embeddedRedis: EmbeddedRedis | null = null;
  let redisUrl = config.redisUrl;
  const redisDir = path.join(config.dataDir, 'redis');
  if (!redisUrl && options.attachToRunning) {
    redisUrl = findRunningEmbeddedRedis(redisDir) ?? undefined;
    if (redisUrl) logger.debug({ redisUrl }, "using the running daemon's embedded redis-server");
  }
  if (!redisUrl) {
    embeddedRedis = await startEmbeddedRedis({ dir: redisDir });
    redisUrl = embeddedRedis.url;
    const orphan = embeddedRedis.replacedOrphan;
    if (orphan) {
      logger.warn(
        { pid: orphan.pid, owner: orphan.owner, dir: embeddedRedis.dir },
        'stopped the embedded redis-server a Mailroom that is no longer running left behind (its data saved and loaded again)',
      );
    }
    logger.info({ port: embeddedRedis.port, pid: embeddedRedis.pid, dir: embeddedRedis.dir }, 'started embedded redis-server');
  }
  const tlsOptions = config.redisTlsCaFile ? { tlsCaFile: config.redisTlsCaFile } : {};
  // What is open so far, in the order to release it: a step that throws below closes these (and
  // with them the embedded redis-server just started) before the error goes up.
  const opened: ClosePart[] = [['embedded redis-server', () => embeddedRedis?.close()]];
  try {
    await assertRedisReachable(redisUrl, 3_000, tlsOptions);
    // A single server or a Redis Cluster: the keys' hash tag keeps either working the same way.
    // Two connections: BullMQ's (queues and workers; its Lua scripts are defined there) and
    // Mailroom's own (ledger, audit, run store, content, tools), auto-pipelined so that the writes of
    // many jobs at once leave in few socket writes, and where a pipeline does not carry BullMQ's
    // scripts along. Order between the two holds because every write is awaited before the job that
    // depends on it is added.
    const redis = createRedis(redisUrl, 'main', { ...tlsOptions, autoPipelining: true });
    opened.unshift(['redis', () => redis.quit().catch(() => redis.disconnect())]);
    const queueRedis = createRedis(redisUrl, 'queues', tlsOptions);
    opened.unshift(['queue redis', () => queueRedis.quit().catch(() => queueRedis.disconnect())]);
    const keys = redisKeys(config.prefix);
    const queues = createQueues(queueRedis, config.prefix);
    opened.unshift(['queues', () => queues.close()]);
    const tokens = createTokenSources({
      logger,
      onState: (label, state) => {
        void redis.hset(keys.oauthStatus(), label, JSON.stringify(state)).catch(() => undefined);
      },
    });
    const mailer = createMailer(config.smtp, { tokens, logger: logger.child({ component: 'mailer' }) });
    opened.unshift(['mailer', () => mailer.close()]);
    const clock = () => new Date();
    let closing: Promise<void> | undefined;
    return {
      config,
      logger,
      redis,
      keys,
      queues,
      ledger: createEmailLedger(redis, keys, clock, logger.child({ component: 'ledger' })),
      audit: (options.observeAudit ?? ((trail) => trail))(createAuditTrail(redis, keys, clock)),
      history,
      content: createContentStore(redis, keys, config.contentTtlSeconds),
      llm: createLlmGateway(config, logger),
      registry,
      tokens,
      kb,
      accounts,
      mailer,
      senderCheck: config.localSenderVerification
        ? createLocalSenderCheck({ mta: config.authservId ?? 'mailroom', ...localResolver(options.dnsResolver, config.verification.dnsServers) })
        : null,
      redisUrl,
      embeddedRedis,
      clock,
      close() {
        // Every part is released even when an earlier one fails, the embedded redis-server last; a
        // second call waits for the first.
        closing ??= closeAll([['history store', () => history.close()], ...opened], logger);
        return closing;
      },
    };
  } catch (err) {
    await closeAll(opened, logger).catch(() => undefined);
    throw err;
  }
}

/** The local check's resolver: a test's, else the configured DNS servers', else (none) the system's. */
function localResolver(test: DnsResolver | undefined, servers: readonly string[] | undefined): { resolver?: DnsResolver } {
  if (test) return { resolver: test };
  return servers ? { resolver: serversResolver(servers) } : {};
}
