/**
 * Report benchmark: `mailroom report` over N emails. The examples are run once (half live, half in
 * shadow) on a private redis-server; their ledger records and audit trails are then copied under
 * N fresh ids, so the report reads real trails at scale. Prints one JSON line: emails, events,
 * milliseconds for the report, emails per second, heap growth while it ran.
 * Run: npx tsx bench/report-command.ts [count]   (default 20000). Loopback only; stops by itself.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildReport } from '../src/report/report.js';
import { runProcess } from '../src/cli/process-command.js';
import { loadConfig } from '../src/config/config.js';
import { createContext } from '../src/app/context.js';
import { EmailId } from '../src/kernel/ids.js';
import { createLogger } from '../src/kernel/logger.js';

const count = Number(process.argv[2] ?? 20_000);
if (!Number.isInteger(count) || count < 1 || count > 1_000_000) {
  process.stderr.write('bench: the count must be a whole number from 1 to 1000000\n');
  process.exit(2);
}
const EXAMPLES = path.resolve(import.meta.dirname, '../examples');
const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-bench-report-'));
const logger = createLogger({ level: 'silent' });
const config = loadConfig({
  env: { MAILROOM_DATA_DIR: path.join(dir, 'data'), MAILROOM_LOG_LEVEL: 'silent' },
  configPath: path.join(EXAMPLES, 'mailroom.config.json'),
});
const app = await createContext(config, logger);
try {
  // The embedded Redis stays up for the seeding runs below through this context.
  const runConfig = { ...config, redisUrl: app.redisUrl };
  const mailbox = path.join(EXAMPLES, 'mailbox');
  const live = await runProcess(runConfig, logger, { paths: [mailbox], timeoutMs: 300_000 });
  const shadowPrefix = '{bshadow}';
  await runProcess({ ...runConfig, prefix: shadowPrefix }, logger, {
    paths: [mailbox],
    timeoutMs: 300_000,
    shadow: true,
  });
  const shadowKeys = {
    email: (id: string) => `${shadowPrefix}:email:${id}`,
    audit: (id: string) => `${shadowPrefix}:audit:${id}`,
  };

  // Templates: every example's record and trail, live and shadow.
  const templates: Array<{ record: Record<string, string>; trail: string[] }> = [];
  for (const e of live.emails) {
    const id = EmailId.parse(e.emailId);
    templates.push({
      record: await app.redis.hgetall(app.keys.email(id)),
      trail: await app.redis.lrange(app.keys.audit(id), 0, -1),
    });
    templates.push({
      record: await app.redis.hgetall(shadowKeys.email(id)),
      trail: await app.redis.lrange(shadowKeys.audit(id), 0, -1),
    });
  }
  await app.redis.del(app.keys.emailsByTime());
  let events = 0;
  const now = Date.now();
  for (let i = 0; i < count; i += 1000) {
    const pipe = app.redis.pipeline();
    for (let j = i; j < Math.min(count, i + 1000); j++) {
      const t = templates[j % templates.length];
      if (!t) continue;
      const id = `em_${j.toString(16).padStart(16, '0')}`;
      pipe.hset(`${config.prefix}:email:${id}`, { ...t.record, emailId: id });
      if (t.trail.length) pipe.rpush(`${config.prefix}:audit:${id}`, ...t.trail);
      pipe.zadd(app.keys.emailsByTime(), now - (count - j), id);
      events += t.trail.length;
    }
    await pipe.exec();
  }

  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  let peakHeap = heapBefore;
  const sampler = setInterval(() => (peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed)), 20);
  const started = performance.now();
  const report = await buildReport(app, {
    since: new Date(now - 7 * 86_400_000),
    until: new Date(now + 1000),
  });
  const ms = performance.now() - started;
  clearInterval(sampler);
  process.stdout.write(
    `${JSON.stringify({
      emails: report.totals.emails,
      events,
      report_ms: Math.round(ms),
      emails_per_s: Math.round(report.totals.emails / (ms / 1000)),
      heap_growth_mb: Math.round(((peakHeap - heapBefore) / 1024 / 1024) * 10) / 10,
      shadowed: report.totals.shadowed,
    })}\n`,
  );
} finally {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
}
