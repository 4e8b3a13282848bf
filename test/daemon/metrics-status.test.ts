import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmailState } from '../../src/audit/email-ledger.js';
import { runProcess, runStatus } from '../../src/cli/process-command.js';
import { createContext } from '../../src/app/context.js';
import { createMetrics } from '../../src/daemon/metrics.js';
import { closeParseThreads } from '../../src/ingest/parse-isolated.js';
import { createLogger } from '../../src/kernel/logger.js';
import { createPlanCache } from '../../src/planner/plan-cache.js';
import { EXAMPLES } from '../fixtures/examples.js';
import { exampleConfig } from '../harness/example-config.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';

const silent = createLogger({ level: 'silent' });

/** `name{labels} value` lines of one metric, as label value → number. */
function series(text: string, metric: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(new RegExp(`^${metric}\\{([^}]*)\\} (\\S+)$`, 'gm'))) {
    const key = new RegExp(`${label}="([^"]*)"`).exec(m[1] ?? '')?.[1];
    if (key !== undefined) out[key] = Number(m[2]);
  }
  return out;
}

describe('/metrics and `mailroom status` agree', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startTestRedis();
  });
  afterAll(async () => {
    await closeParseThreads();
    await redis?.close();
  });

  it('every ledger state and both plan-cache results are there from the start, at 0, in both', async () => {
    const config = exampleConfig({ redis });
    const app = await createContext(config, silent);
    try {
      const text = await createMetrics(app).registry.metrics();
      const status = await runStatus(config, silent, 5);
      expect(series(text, 'mailroom_emails', 'state')).toEqual(Object.fromEntries(EmailState.options.map((s) => [s, 0])));
      expect(status.states).toEqual(series(text, 'mailroom_emails', 'state'));
      expect(series(text, 'mailroom_plan_cache_total', 'result')).toEqual({ hit: 0, miss: 0 });
      expect(status.planCache).toEqual({ hits: 0, misses: 0 });
    } finally {
      await app.close();
    }
  });

  it('after a run in another context (another process, in production), the numbers are the same', async () => {
    const config = exampleConfig({ redis });
    const mailbox = path.join(EXAMPLES, 'mailbox');
    // The offline planner has no cache; a planner in another process looks plans up like this.
    const planner = await createContext(config, silent);
    await createPlanCache(planner.redis, planner.keys).get('a-view-never-planned');
    await planner.close();
    await runProcess(config, silent, { paths: [path.join(mailbox, '01-invoice-copy-request.eml'), path.join(mailbox, '02-card-declined-renewal.eml'), path.join(mailbox, '41-malformed-no-from.eml')], timeoutMs: 30_000 });
    // A metrics registry that saw none of the planning: its numbers come from Redis.
    const app = await createContext(config, silent);
    try {
      const text = await createMetrics(app).registry.metrics();
      const status = await runStatus(config, silent, 5);
      const states = series(text, 'mailroom_emails', 'state');
      expect(status.states).toEqual(states);
      expect(states.quarantined).toBe(1);
      expect(Object.values(states).reduce((a, b) => a + b, 0)).toBe(3);
      const cache = series(text, 'mailroom_plan_cache_total', 'result');
      expect({ hits: cache.hit, misses: cache.miss }).toEqual(status.planCache);
      expect(status.planCache).toEqual({ hits: 0, misses: 1 });
    } finally {
      await app.close();
    }
  });
});
