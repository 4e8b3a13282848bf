import path from 'node:path';
import { createAuditTrail, type AuditTrail } from './audit/audit-trail.js';
import { createEmailLedger, type EmailLedger } from './audit/email-ledger.js';
import type { Config } from './config.js';
import { loadAccounts, type AccountsDirectory } from './ingest/accounts.js';
import { createContentStore, type ContentStore } from './ingest/content-store.js';
import { createLocalSenderCheck, type DnsResolver, type LocalSenderCheck } from './ingest/local-auth.js';
import { createLlmGateway, type LlmGateway } from './llm/gateway.js';
import type { Logger } from './logger.js';
import { assertRedisReachable, createRedis, type Redis } from './queues/connection.js';
import { createQueues, type Queues } from './queues/catalog.js';
import { findRunningEmbeddedRedis, startEmbeddedRedis, type EmbeddedRedis } from './queues/embedded-redis.js';
import { redisKeys, type RedisKeys } from './queues/keys.js';
import { loadKnowledgeBase, type KnowledgeBase } from './tools/knowledge-base.js';
import { createMailer, type Mailer } from './tools/mailer.js';
import { createRegistry, type ToolRegistry } from './tools/registry.js';
import { checkAutonomy } from './planner/autonomy.js';

/** Everything a stage needs, built once at start and passed in; nothing is created on import. */
export interface AppContext {
  config: Config;
  logger: Logger;
  redis: Redis;
  keys: RedisKeys;
  queues: Queues;
  ledger: EmailLedger;
  audit: AuditTrail;
  content: ContentStore;
  llm: LlmGateway;
  registry: ToolRegistry;
  kb: KnowledgeBase;
  accounts: AccountsDirectory;
  mailer: Mailer;
  /** Our own DKIM/DMARC check for mail without trusted Authentication-Results; null when turned off. */
  senderCheck: LocalSenderCheck | null;
  /** Where Redis is: the configured URL or the embedded server's. */
  redisUrl: string;
  embeddedRedis: EmbeddedRedis | null;
  clock: () => Date;
  close(): Promise<void>;
}

/**
 * Connects to Redis (starting the embedded one when REDIS_URL is unset), loads accounts and the
 * knowledge base, and builds the shared context. `close()` releases everything in reverse order.
 */
export async function createContext(
  config: Config,
  logger: Logger,
  options: {
    /** DNS for the local sender check; tests plant DKIM keys here. @defaultValue the system resolver */
    dnsResolver?: DnsResolver;
    /**
     * Without REDIS_URL, use the embedded redis-server a running daemon started in the data folder
     * (found through its address file) instead of starting one. For one-shot CLI commands.
     * @defaultValue false
     */
    attachToRunning?: boolean;
  } = {},
): Promise<AppContext> {
  const registry = createRegistry();
  // A config that tries to lift an autonomy limit is refused here, before anything starts.
  checkAutonomy(config, registry.tools);
  const accounts = loadAccounts(config.accountsFile);
  const kb = loadKnowledgeBase(config.kbDir);
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
    logger.info({ port: embeddedRedis.port, dir: embeddedRedis.dir }, 'started embedded redis-server');
  }
  const tlsOptions = config.redisTlsCaFile ? { tlsCaFile: config.redisTlsCaFile } : {};
  try {
    await assertRedisReachable(redisUrl, 3_000, tlsOptions);
  } catch (err) {
    await embeddedRedis?.close();
    throw err;
  }
  // A single server or a Redis Cluster: the keys' hash tag keeps either working the same way.
  const redis = createRedis(redisUrl, 'main', tlsOptions);
  const keys = redisKeys(config.prefix);
  const queues = createQueues(redis, config.prefix);
  const mailer = createMailer(config.smtp);
  const clock = () => new Date();
  return {
    config,
    logger,
    redis,
    keys,
    queues,
    ledger: createEmailLedger(redis, keys, clock, logger.child({ component: 'ledger' })),
    audit: createAuditTrail(redis, keys, clock),
    content: createContentStore(redis, keys, config.contentTtlSeconds),
    llm: createLlmGateway(config, logger),
    registry,
    kb,
    accounts,
    mailer,
    senderCheck: config.localSenderVerification
      ? createLocalSenderCheck({ mta: config.authservId ?? 'mailroom', ...(options.dnsResolver ? { resolver: options.dnsResolver } : {}) })
      : null,
    redisUrl,
    embeddedRedis,
    clock,
    async close() {
      mailer.close();
      await queues.close();
      await redis.quit().catch(() => redis.disconnect());
      await embeddedRedis?.close();
    },
  };
}
