/**
 * Hostile-corpus benchmark: the generated malformed and abusive messages (test/corpora/hostile.ts)
 * through the whole offline pipeline on a private redis-server, then each one alone through the
 * isolated parser. Prints one JSON line: outcomes and their reasons, wall time, peak RSS of the
 * process while the pipeline ran (parse threads included; the default reply limits apply, so
 * most of one sender's flood waits for a human), and the slowest message alone (kind, parse time).
 * Run: npx tsx bench/hostile-corpus.ts [count] [large]   (defaults 1000 and 3; loopback only).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runProcess } from '../src/cli/process-command.js';
import { loadConfig } from '../src/config/config.js';
import { DEFAULT_PARSE_LIMITS } from '../src/ingest/parse-email.js';
import { closeParseThreads, parseEmailIsolated } from '../src/ingest/parse-isolated.js';
import { createLogger } from '../src/kernel/logger.js';
import { hostileCorpus } from '../test/corpora/hostile.js';

const count = Number(process.argv[2] ?? 1000);
const large = Number(process.argv[3] ?? 3);
if (!Number.isInteger(count) || count < 1 || count > 100_000 || !Number.isInteger(large) || large < 0) {
  process.stderr.write('bench: usage: hostile-corpus.ts [count 1-100000] [large 0-3]\n');
  process.exit(2);
}
const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-hostile-bench-'));
const mailDir = path.join(dir, 'mail');
mkdirSync(mailDir);
// Written out and let go: the generator's memory is not the pipeline's.
const index = hostileCorpus({ seed: 20, count, large }).map((m) => {
  writeFileSync(path.join(mailDir, m.name), m.raw);
  return { name: m.name, kind: m.kind, bytes: m.raw.length };
});
(globalThis as { gc?: () => void }).gc?.();

let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
const config = loadConfig({
  env: { MAILROOM_DATA_DIR: path.join(dir, 'data'), MAILROOM_LOG_LEVEL: 'silent' },
  configPath: path.resolve(import.meta.dirname, '../examples/mailroom.config.json'),
});
const started = Date.now();
const summary = await runProcess(config, createLogger({ level: 'silent' }), {
  paths: [mailDir],
  timeoutMs: 600_000,
  onProgress: (done, total) => process.stderr.write(`\r${done}/${total} at rest after ${((Date.now() - started) / 1000).toFixed(1)} s`),
});
const pipelineSeconds = (Date.now() - started) / 1000;
const pipelinePeakRss = peakRss;
process.stderr.write('\n');

// Each message alone (a warm parse thread), so its time is its own.
let slowest = { name: '', kind: '', ms: 0, outcome: '' };
for (const m of index) {
  const raw = readFileSync(path.join(mailDir, m.name));
  const t = performance.now();
  let outcome = 'parsed';
  try {
    await parseEmailIsolated(raw, DEFAULT_PARSE_LIMITS);
  } catch (err) {
    outcome = err instanceof Error ? err.message.slice(0, 80) : 'error';
  }
  const ms = performance.now() - t;
  if (ms > slowest.ms) slowest = { name: m.name, kind: m.kind, ms: Math.round(ms), outcome };
}
clearInterval(sampler);
await closeParseThreads();
// Reasons with their numbers masked, most frequent first: what the corpus ends in.
const reasons: Record<string, number> = {};
for (const e of summary.emails) {
  const key = `${e.state}: ${e.reason.replace(/\d+/g, 'N').slice(0, 90)}`;
  reasons[key] = (reasons[key] ?? 0) + 1;
}
process.stdout.write(
  `${JSON.stringify({
    emails: summary.processed,
    bytes_mb: Math.round(index.reduce((n, m) => n + m.bytes, 0) / 1e6),
    pipeline_seconds: Number(pipelineSeconds.toFixed(1)),
    completed: summary.completed,
    awaiting_approval: summary.awaiting_approval,
    escalated: summary.escalated,
    quarantined: summary.quarantined,
    rejected: summary.rejected,
    lost: summary.lost,
    duplicates: summary.duplicates,
    peak_rss_mb: Math.round(pipelinePeakRss / 1024 / 1024),
    peak_rss_mb_one_at_a_time: Math.round(peakRss / 1024 / 1024),
    slowest_message: slowest,
    reasons: Object.fromEntries(Object.entries(reasons).sort((a, b) => b[1] - a[1])),
  })}\n`,
);
rmSync(dir, { recursive: true, force: true });
