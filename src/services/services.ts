import type { AuditTrail } from '../audit/audit-trail.js';
import type { EmailLedger } from '../audit/email-ledger.js';
import type { HistoryStore } from '../history/history-store.js';
import type { Logger } from '../kernel/logger.js';
import type { LocalSenderCheck } from '../mail/local-auth.js';
import type { TokenSources } from '../oauth/token-source.js';
import type { Queues } from '../queues/catalog.js';
import type { EmbeddedRedis } from '../queues/embedded-redis.js';
import type { ToolRegistry } from '../tools/registry.js';
import type { ToolServices } from '../tools/tool.js';

/**
 * The services every stage runs with, as an interface: the stages (ingest, planner, executor, run)
 * depend on this contract, and src/app/context.ts is the one place that builds it. Types only, so
 * that a stage never loads what builds its services.
 */

/** Everything a stage needs, built once at start and passed in; nothing is created on import. */
export interface AppContext extends ToolServices {
  logger: Logger;
  queues: Queues;
  ledger: EmailLedger;
  audit: AuditTrail;
  /** Where the history of emails at rest goes once archived out of Redis (src/history). */
  history: HistoryStore;
  registry: ToolRegistry;
  /** OAuth2 access tokens, one source per set of credentials (IMAP accounts, SMTP); their states go to Redis. */
  tokens: TokenSources;
  /** Our own DKIM/DMARC check for mail without trusted Authentication-Results; null when turned off. */
  senderCheck: LocalSenderCheck | null;
  /** Where Redis is: the configured URL or the embedded server's. */
  redisUrl: string;
  embeddedRedis: EmbeddedRedis | null;
  close(): Promise<void>;
}
