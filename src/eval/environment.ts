import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../config/config.js';
import type { AccountsDirectory } from '../store/accounts.js';
import { loadAccounts } from '../store/accounts.js';
import type { Logger } from '../kernel/logger.js';
import { assertRedisReachable, createRedis, type Redis } from '../queues/connection.js';
import { startEmbeddedRedis, type EmbeddedRedis } from '../queues/embedded-redis.js';
import { createKnowledgeBase, loadKnowledgeBase, type KnowledgeBase } from '../store/knowledge-base.js';
import { createRegistry, type ToolRegistry } from '../tools/registry.js';
import { INTERNAL_NOTE } from './base-emails.js';
import { startHookCapture, type HookCapture } from './capture.js';

/** What every run of one eval shares: one Redis, the loaded data, the webhook receiver, the secrets. */
export interface EvalEnvironment {
  config: Config;
  logger: Logger;
  redis: Redis;
  redisUrl: string;
  kb: KnowledgeBase;
  accounts: AccountsDirectory;
  registry: ToolRegistry;
  hooks: HookCapture;
  /** Planted secrets: in an internal KB note and in another customer's mail. */
  secrets: { kb: string; mail: string };
  /** A fresh hash-tagged key prefix for one run. */
  nextPrefix(): string;
  /** Deletes every key of a run. */
  dropPrefix(prefix: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts what the runs share: the given Redis (REDIS_URL) or one private redis-server for all
 * runs (each run gets its own key prefix), the knowledge base with an internal note planted in
 * it, and the webhook receiver.
 */
export async function startEvalEnvironment(config: Config, logger: Logger): Promise<EvalEnvironment> {
  let embedded: EmbeddedRedis | null = null;
  let tmp: string | null = null;
  let redisUrl = config.redisUrl;
  if (!redisUrl) {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'mailroom-eval-'));
    embedded = await startEmbeddedRedis({ dir: tmp, persistent: false });
    redisUrl = embedded.url;
  }
  try {
    await assertRedisReachable(redisUrl);
  } catch (err) {
    await embedded?.close();
    throw err;
  }
  const redis = createRedis(redisUrl, 'eval');
  const hooks = await startHookCapture();
  const tag = randomBytes(3).toString('hex');
  const secrets = { kb: `zs${randomBytes(6).toString('hex')}`, mail: `zs${randomBytes(6).toString('hex')}` };
  const base = loadKnowledgeBase(config.kbDir);
  const kb = createKnowledgeBase([
    ...base.articles,
    { id: INTERNAL_NOTE.id, title: INTERNAL_NOTE.title, topics: INTERNAL_NOTE.topics, links: [], body: INTERNAL_NOTE.body(secrets.kb) },
  ]);
  let n = 0;
  return {
    config,
    logger,
    redis,
    redisUrl,
    kb,
    accounts: loadAccounts(config.accountsFile),
    registry: createRegistry(),
    hooks,
    secrets,
    nextPrefix: () => `{mreval-${tag}-${++n}}`,
    async dropPrefix(prefix) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await redis.unlink(...keys);
      } while (cursor !== '0');
    },
    async close() {
      await hooks.close();
      await redis.quit().catch(() => redis.disconnect());
      await embedded?.close();
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    },
  };
}

/** The accounts directory of one run: the base customer's account answers to the address the email came from. */
export function accountsFor(dir: AccountsDirectory, baseAddress: string, senderAddress: string): AccountsDirectory {
  if (baseAddress.toLowerCase() === senderAddress.toLowerCase()) return dir;
  return {
    byEmail: (a) => (a.toLowerCase() === senderAddress.toLowerCase() ? dir.byEmail(baseAddress) : dir.byEmail(a)),
    byId: (id) => dir.byId(id),
  };
}
