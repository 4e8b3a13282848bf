/**
 * Pipeline benchmark: N emails (copies of examples/mailbox with fresh Message-IDs) through the
 * whole offline pipeline on a private redis-server, replies to an outbox folder. Prints one JSON
 * line: throughput (submit → every email at rest), outcomes, LLM calls per human email, peak RSS.
 * Run: npm run bench -- [count]   (default 1000). Loopback only; stops by itself.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runProcess } from '../src/cli/process-command.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';

const count = Number(process.argv[2] ?? 1000);
if (!Number.isInteger(count) || count < 1 || count > 100_000) {
  process.stderr.write('bench: the count must be a whole number from 1 to 100000\n');
  process.exit(2);
}
const EXAMPLES = path.resolve(import.meta.dirname, '../examples');
const sources = readdirSync(path.join(EXAMPLES, 'mailbox'))
  .filter((f) => f.endsWith('.eml'))
  .map((f) => readFileSync(path.join(EXAMPLES, 'mailbox', f), 'latin1'));
const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-bench-'));
const mailDir = path.join(dir, 'mail');
mkdirSync(mailDir);
for (let i = 0; i < count; i++) {
  const src = sources[i % sources.length] ?? '';
  // A fresh Message-ID per copy, so dedup does not fold the copies into one email.
  const raw = /^message-id:/im.test(src)
    ? src.replace(/^(message-id:\s*<)([^>]*)>/im, `$1b${i}.$2>`)
    : `Message-ID: <bench${i}@bench.example>\r\n${src}`;
  writeFileSync(path.join(mailDir, `${String(i).padStart(6, '0')}.eml`), raw, 'latin1');
}

let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
const config = loadConfig({
  env: { MAILROOM_DATA_DIR: path.join(dir, 'data'), MAILROOM_LOG_LEVEL: 'silent' },
  configPath: path.join(EXAMPLES, 'mailroom.config.json'),
  // Copies of one sender's mail would trip the per-sender reply limit; the bench measures the pipeline.
  overrides: { replyLimits: { perSenderPerDay: 1_000_000, perDomainPerHour: 1_000_000, globalPerHour: 1_000_000, maxDomainShare: 1 } },
});
const started = Date.now();
const summary = await runProcess(config, createLogger({ level: 'silent' }), { paths: [mailDir], timeoutMs: 600_000 });
const elapsed = (Date.now() - started) / 1000;
clearInterval(sampler);
const humans = summary.emails.filter((e) => !e.robot).length;
process.stdout.write(
  `${JSON.stringify({
    emails: summary.processed,
    seconds: Number(elapsed.toFixed(2)),
    emails_per_second: Number((summary.processed / elapsed).toFixed(1)),
    completed: summary.completed,
    awaiting_approval: summary.awaiting_approval,
    escalated: summary.escalated,
    quarantined: summary.quarantined,
    lost: summary.lost,
    llm_calls_per_human_email: humans ? summary.llm.calls / humans : 0,
    peak_rss_mb: Math.round(peakRss / 1024 / 1024),
  })}\n`,
);
rmSync(dir, { recursive: true, force: true });
