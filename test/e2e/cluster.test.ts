import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis as SingleRedis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESTING_STATES, type EmailState } from '../../src/audit/email-ledger.js';
import { runProcess } from '../../src/cli/process-command.js';
import { loadConfig } from '../../src/config/config.js';
import { createContext } from '../../src/app/context.js';
import { type AppContext } from '../../src/services/services.js';
import type { EmailId } from '../../src/kernel/ids.js';
import { submitEmail } from '../../src/ingest/submit.js';
import { createLogger } from '../../src/kernel/logger.js';
import { EXAMPLE_CONFIG_FILE, EXAMPLES } from '../fixtures/examples.js';
import { exampleConfig } from '../harness/example-config.js';
import { startRedisCluster, type TestRedisCluster } from '../harness/redis-cluster.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';
import { startRole, type RoleProcess } from '../harness/roles.js';
import { startSmtpCapture, type SmtpCapture } from '../harness/smtp-capture.js';

const MAILBOX = path.join(EXAMPLES, 'mailbox');
const files = readdirSync(MAILBOX).filter((f) => f.endsWith('.eml')).sort();
const STATES = ['completed', 'rejected', 'escalated', 'quarantined', 'awaiting_approval'] as const satisfies readonly EmailState[];

/** Keys per cluster node, read straight from each node (not through the cluster client). */
async function keysByNode(cluster: TestRedisCluster): Promise<string[][]> {
  return Promise.all(
    cluster.nodes.map(async (n) => {
      const node = new SingleRedis(n.port, '127.0.0.1', { lazyConnect: true });
      try {
        await node.connect();
        return await node.keys('*');
      } finally {
        node.disconnect();
      }
    }),
  );
}

describe('examples/ on a 3-node Redis Cluster, roles in separate processes', () => {
  let cluster: TestRedisCluster;
  let single: TestRedis;
  let smtp: SmtpCapture;
  let smtpSingle: SmtpCapture;
  let app: AppContext;
  let prefix: string;
  const roles: RoleProcess[] = [];
  const baseline: Partial<Record<EmailState, number>> = {};

  beforeAll(async () => {
    [cluster, single, smtp, smtpSingle] = await Promise.all([startRedisCluster(), startTestRedis(), startSmtpCapture(), startSmtpCapture()]);
    // The reference: the same mail through one Redis, all roles in one process.
    const summary = await runProcess(exampleConfig({ redis: single, smtp: smtpSingle }), createLogger({ level: 'silent' }), { paths: [MAILBOX], timeoutMs: 60_000 });
    for (const s of STATES) baseline[s] = summary[s];
    expect(summary.lost).toBe(0);

    prefix = cluster.prefix();
    const env = {
      REDIS_CLUSTER_NODES: cluster.nodeList,
      MAILROOM_PREFIX: prefix,
      MAILROOM_DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'mailroom-cluster-data-')),
      MAILROOM_CONFIG: EXAMPLE_CONFIG_FILE,
      SMTP_URL: smtp.url,
    };
    for (const [name, r] of [['triage', 'triage'], ['planner', 'planner'], ['executor', 'executor']] as const) roles.push(startRole(name, r, env));
    // The test itself is the ingest side, through the redis+cluster:// URL form.
    const { REDIS_CLUSTER_NODES: _nodes, ...rest } = env;
    app = await createContext(loadConfig({ env: { ...rest, REDIS_URL: cluster.url } }), createLogger({ level: 'silent' }));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(roles.map((r) => r.kill()));
    await app?.close();
    await Promise.all([smtp?.close(), smtpSingle?.close(), cluster?.close(), single?.close()]);
  });

  it('brings every email to rest with the same outcomes as one Redis, and every key on one slot', async () => {
    const ids: EmailId[] = [];
    for (const f of files) ids.push((await submitEmail(app, readFileSync(path.join(MAILBOX, f)), { kind: 'file', path: f })).emailId);
    const deadline = Date.now() + 45_000;
    let resting = 0;
    while (Date.now() < deadline) {
      const recs = await app.ledger.getMany(ids);
      resting = recs.filter((r) => r && RESTING_STATES.includes(r.state)).length;
      if (resting === ids.length) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(resting, roles.map((r) => `${r.name}: ${r.stderrTail}`).join('\n')).toBe(files.length);

    const counts = await app.ledger.countByState();
    for (const s of STATES) expect(counts[s] ?? 0, s).toBe(baseline[s] ?? 0);
    expect(smtp.messages.length).toBe(smtpSingle.messages.length);

    // The whole keyspace of this run carries the hash tag, so it all lives on one node.
    const perNode = await keysByNode(cluster);
    const ours = perNode.map((keys) => keys.filter((k) => k.startsWith(prefix)));
    expect(ours.flat().length).toBeGreaterThan(100);
    expect(perNode.flat().filter((k) => !k.startsWith(prefix))).toEqual([]);
    expect(ours.filter((keys) => keys.length > 0)).toHaveLength(1);

    // Each role stops cleanly on SIGTERM.
    for (const r of roles) expect(await r.stop(), r.name).toBe(0);
  }, 90_000);
});
