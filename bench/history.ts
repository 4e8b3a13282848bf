/**
 * The history store's figures (issue 31): archive throughput, Redis bytes per rested email after
 * archiving, the report, export and forget over N archived emails. The 45 examples are processed
 * once for real; their records and trails are then cloned N times (new ids, a customer address
 * per clone) straight into Redis, as a year of mail would leave them, and archived.
 * Run: npx tsx bench/history.ts [--emails N] [--archived M] [--postgres]   (default 100000, 0)
 *   --archived M  also writes M more clones straight into the store and times the report over all
 *   --postgres    the store in a private PostgreSQL cluster (test/harness/postgres.ts), not SQLite
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildReport } from '../src/report/report.js';
import { createContext } from '../src/app/context.js';
import { archiveRested } from '../src/history/archive.js';
import { exportEmails } from '../src/history/export.js';
import { forgetCustomer } from '../src/run/forget.js';
import { EmailId } from '../src/kernel/ids.js';
import { createLogger } from '../src/kernel/logger.js';
import { runProcess } from '../src/cli/process-command.js';
import { exampleConfig } from '../test/harness/example-config.js';
import { startTestPostgres } from '../test/harness/postgres.js';
import { startTestRedis } from '../test/harness/redis.js';
import { EXAMPLES } from './lib.js';

const at = process.argv.indexOf('--emails');
const N = at > 0 ? Number(process.argv[at + 1]) : 100_000;
const atArchived = process.argv.indexOf('--archived');
const M = atArchived > 0 ? Number(process.argv[atArchived + 1]) : 0;
const log = (msg: string) => process.stderr.write(`bench-history: ${msg}\n`);

const redis = await startTestRedis();
const postgres = process.argv.includes('--postgres') ? await startTestPostgres() : null;
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-bench-history-'));
const config = exampleConfig({ redis, dataDir, env: postgres ? { DATABASE_URL: postgres.url } : {} });
const logger = createLogger({ level: 'silent' });
const result: Record<string, number | string> = { store: postgres ? 'postgres' : 'sqlite', emails: N };
try {
  await runProcess(config, logger, { paths: [path.join(EXAMPLES, 'mailbox')], timeoutMs: 300_000 });
  const app = await createContext(config, logger);
  try {
    const ids = (await app.redis.zrange(app.keys.emailsByTime(), 0, -1)).map((id) => EmailId.parse(id));
    const templates = [];
    for (const id of ids) {
      const [hash, audit, labels] = await Promise.all([app.redis.hgetall(app.keys.email(id)), app.redis.lrange(app.keys.audit(id), 0, -1), app.redis.smembers(app.keys.labels(id))]);
      if (hash.state !== 'awaiting_approval') templates.push({ id, hash, audit, labels });
    }
    // What a day of work in flight leaves besides the history (content, plans, jobs), measured before cloning.
    const before = Number(/used_memory:(\d+)/.exec(await app.redis.info('memory'))?.[1]);
    log(`cloning ${N} emails from ${templates.length} rested examples`);
    const start = Date.now() - 30 * 86_400_000;
    // The clones spread evenly over the month (all N + M of them), as a month of mail would: a report
    // window then covers whole days and two partial ones, as it does in use.
    const step = Math.max(1, Math.floor((30 * 86_400_000) / (N + M)));
    for (let i = 0; i < N; i += 1000) {
      const pipe = app.redis.pipeline();
      for (let j = i; j < Math.min(N, i + 1000); j++) {
        const t = templates[j % templates.length];
        if (!t) continue;
        const id = EmailId.parse(`em_${(0xb000000000000000n + BigInt(j)).toString(16)}`);
        const ts = new Date(start + j * step).toISOString();
        // Each clone its own customer: the example's address gets the clone's number.
        const swap = (s: string) => s.replaceAll(t.id, id).replace(/"to":"([^"@]+)@/g, `"to":"c${j}.$1@`);
        pipe.hset(app.keys.email(id), { ...t.hash, emailId: id, createdAt: ts, updatedAt: ts });
        pipe.zadd(app.keys.emailsByTime(), start + j * step, id);
        if (t.audit.length) pipe.rpush(app.keys.audit(id), ...t.audit.map(swap));
        if (t.labels.length) pipe.sadd(app.keys.labels(id), ...t.labels);
      }
      await pipe.exec();
    }
    const seeded = Number(/used_memory:(\d+)/.exec(await app.redis.info('memory'))?.[1]);
    result.redis_bytes_per_email_before_archive = Math.round((seeded - before) / N);

    let t0 = performance.now();
    const archived = await archiveRested({ redis: app.redis, keys: app.keys, store: app.history }, { olderThanMs: 0 });
    const archiveS = (performance.now() - t0) / 1000;
    result.archived = archived.archived;
    result.archive_emails_per_s = Math.round(archived.archived / archiveS);
    const after = Number(/used_memory:(\d+)/.exec(await app.redis.info('memory'))?.[1]);
    result.redis_bytes_per_rested_email_after_archive = Math.round((after - before) / N);
    let persistent = 0;
    for (const id of (await app.redis.zrange(app.keys.emailsByTime(), 0, -1)).slice(0, 1000)) persistent += (await app.redis.ttl(app.keys.email(EmailId.parse(id)))) === -1 ? 1 : 0;
    result.emails_left_in_redis = await app.redis.zcard(app.keys.emailsByTime());

    const until = new Date();
    t0 = performance.now();
    const report = await buildReport({ ...app, history: app.history }, { since: new Date(start - 1000), until });
    result.report_ms = Math.round(performance.now() - t0);
    result.report_emails = report.totals.emails;

    t0 = performance.now();
    let exported = 0;
    for await (const e of exportEmails({ redis: app.redis, keys: app.keys, ledger: app.ledger, store: app.history }, new Date(start - 1000), until)) exported += e.events.length > 0 ? 1 : 0;
    result.export_emails_per_s = Math.round(exported / ((performance.now() - t0) / 1000));

    const customer = /"to":"([^"]+)"/.exec(templates.flatMap((t) => t.audit).find((l) => l.includes('"to":"')) ?? '')?.[1] ?? '';
    const address = `c${templates.findIndex((t) => t.audit.some((l) => l.includes(`"to":"${customer}"`)))}.${customer}`;
    t0 = performance.now();
    const forgot = await forgetCustomer({ redis: app.redis, keys: app.keys, queues: app.queues, store: app.history, outboxDir: config.smtp.outboxDir, clock: app.clock }, { address, by: 'bench' });
    result.forget_ms = Math.round(performance.now() - t0);
    result.forget_emails = forgot.emails;
    log(`persistent per-email keys among 1000 left: ${persistent}`);

    if (M > 0) {
      log(`writing ${M} more archived emails into the store`);
      const stored = [];
      for (const t of templates) {
        const record = await app.history.get(EmailId.parse(`em_${(0xb000000000000000n + BigInt(templates.indexOf(t))).toString(16)}`));
        if (record) stored.push(record);
      }
      for (let i = 0; i < M; i += 1000) {
        const batch = [];
        for (let j = i; j < Math.min(M, i + 1000); j++) {
          const t = stored[j % stored.length];
          if (!t) continue;
          const emailId = EmailId.parse(`em_${(0xc000000000000000n + BigInt(j)).toString(16)}`);
          const ts = new Date(start + (N + j) * step).toISOString();
          batch.push({ ...t, record: { ...t.record, emailId, createdAt: ts, updatedAt: ts } });
        }
        await app.history.put(batch);
      }
      t0 = performance.now();
      const big = await buildReport({ ...app, history: app.history }, { since: new Date(start - 1000), until: new Date() });
      result.report_ms_all = Math.round(performance.now() - t0);
      result.report_emails_all = big.totals.emails;
    }
  } finally {
    await app.close();
  }
} finally {
  await redis.close();
  await postgres?.close();
  rmSync(dataDir, { recursive: true, force: true });
}
process.stdout.write(`${JSON.stringify(result)}\n`);
