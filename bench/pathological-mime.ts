/**
 * Pathological-MIME benchmark: each shape an attacker can send, through the ingest path (parse
 * under limits, robot detection, bounce linking, the local DKIM check where the shape calls for
 * it). Every case runs in its own child process, so its peak RSS is its own. Reports wall time,
 * the longest event-loop block (perf_hooks.monitorEventLoopDelay) and peak RSS, as a table or
 * with `--json` as one JSON line.
 *
 * Times are for a warm parse thread (a running daemon keeps one); the first parse in a process
 * also pays 1-3 s to load the thread, off the event loop.
 *
 * Run: npx tsx bench/pathological-mime.ts [--json] [--timeout-ms 120000] [--case NAME ...]
 * Loopback only (the DKIM case plants its keys in a local resolver); stops by itself.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MailroomError } from '../src/kernel/errors.js';
import { MAX_DSN_SCAN_BYTES } from '../src/ingest/bounces.js';
import { dsnOutcome, extractBouncedMessageIds } from '../src/ingest/dsn-parser.js';
import { createLocalSenderCheck } from '../src/mail/local-auth.js';
import { DEFAULT_PARSE_LIMITS } from '../src/ingest/parse-email.js';
import { detectRobot } from '../src/ingest/robot-detector.js';
import { robotSignalsFromHeaders } from '../src/ingest/robot-signals.js';
import { parseEmailIsolated } from '../src/ingest/parse-isolated.js';
import { dkimWorld } from '../test/harness/mail.js';

const MiB = 1024 * 1024;
const HEAD = 'From: Pat <pat@customer.example>\r\nTo: support@acme.example\r\nSubject: bench\r\nMessage-ID: <bench@customer.example>\r\n';

/** Deeply nested multiparts (about 1 MB), each level with a signature line (`-- `) in its preamble. */
function nested(bytes: number): Buffer {
  const out: string[] = [HEAD];
  let size = 0;
  let depth = 0;
  while (size < bytes) {
    const line = `Content-Type: multipart/mixed; boundary="b${depth}"\r\n\r\n-- \r\n--b${depth}\r\n`;
    out.push(line);
    size += line.length;
    depth += 1;
  }
  out.push('Content-Type: text/plain\r\n\r\nhi\r\n');
  for (let i = depth - 1; i >= 0; i--) out.push(`--b${i}--\r\n`);
  return Buffer.from(out.join(''), 'latin1');
}

/** A delivery report whose body is about 1 MB of `message/rfc822` markers without a blank line. */
function rfc822Markers(bytes: number): Buffer {
  const marker = 'Content-Type: message/rfc822\r\n';
  const body = marker.repeat(Math.ceil(bytes / marker.length));
  return Buffer.from(
    `${HEAD}Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n` +
      `--r\r\nContent-Type: text/plain\r\n\r\n${body}\r\n--r--\r\n`,
    'latin1',
  );
}

/** About 1 MB of attached messages nested in one another (`message/rfc822` parts, each a header and a blank line). */
function rfc822Nested(bytes: number): Buffer {
  const marker = 'Content-Type: message/rfc822\r\n\r\n';
  // Signature-like lines (`-- `) inside: each was compared with every open container before.
  const count = Math.ceil(bytes / (marker.length + 5));
  return Buffer.from(`${HEAD}Content-Type: multipart/mixed; boundary="r"\r\n\r\n--r\r\n${marker.repeat(count)}Content-Type: text/plain\r\n\r\n${'-- \r\n'.repeat(count)}--r--\r\n`, 'latin1');
}

/** A plain-text message just under the 25 MiB message limit. */
function plain(bytes: number): Buffer {
  // Links and addresses on every line: mailparser's text-to-HTML pass linkifies them.
  const line = 'Please see https://docs.customer.example/a/b?c=1 or write to pat@customer.example again.\r\n';
  const body = line.repeat(Math.floor((bytes - HEAD.length - 64) / line.length));
  return Buffer.from(`${HEAD}Content-Type: text/plain; charset=utf-8\r\n\r\n${body}`, 'latin1');
}

/** A message of 25 MiB whose bulk is one base64 attachment (over the 10 MiB attachment limit). */
function attachment(bytes: number): Buffer {
  // base64 is 4/3 of the decoded size, plus CRLF every 76 characters.
  const b64 = Buffer.alloc(Math.floor(((bytes - 1024) * 3 * 76) / (4 * 78)), 7).toString('base64').replace(/.{76}/g, '$&\r\n');
  return Buffer.from(
    `${HEAD}Content-Type: multipart/mixed; boundary="a"\r\n\r\n--a\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n` +
      `--a\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="x.pdf"\r\n\r\n${b64}\r\n--a--\r\n`,
    'latin1',
  );
}

/** 10,000 header fields. */
function headers(count: number): Buffer {
  const lines = Array.from({ length: count }, (_, i) => `X-Filler-${i}: value ${i}\r\n`).join('');
  return Buffer.from(`${HEAD}${lines}\r\nhello\r\n`, 'latin1');
}

/** A message signed once by a planted key, then with its DKIM-Signature repeated 100 times. */
async function dkim100(world: ReturnType<typeof dkimWorld>): Promise<Buffer> {
  const signed = (await world.sign({ from: 'Pat <pat@customer.example>', subject: 'bench', text: 'hello\n'.repeat(1000), messageId: '<dkim@customer.example>' })).toString('latin1');
  const m = /^DKIM-Signature:.*(?:\r?\n[ \t].*)*\r?\n/m.exec(signed);
  if (!m) throw new Error('nodemailer did not sign');
  return Buffer.from(m[0].repeat(99) + signed, 'latin1');
}

const CASES = ['nested-multipart-1mb', 'rfc822-nested-1mb', 'rfc822-markers-bounce-1mb', 'rfc822-markers-bounce-25mib', 'plain-25mib', 'attachment-25mib', 'dkim-100-signatures', 'headers-10000'] as const;
type CaseName = (typeof CASES)[number];

interface CaseResult {
  case: string;
  inputBytes: number;
  ms: number | null;
  maxBlockMs: number | null;
  peakRssMb: number | null;
  outcome: string;
}

/** Runs one case in this process: the same calls the ingest worker makes. */
async function runCase(name: CaseName): Promise<CaseResult> {
  const world = dkimWorld('customer.example');
  const raw =
    name === 'nested-multipart-1mb' ? nested(MiB)
    : name === 'rfc822-nested-1mb' ? rfc822Nested(MiB)
    : name === 'rfc822-markers-bounce-1mb' ? rfc822Markers(MiB)
    : name === 'rfc822-markers-bounce-25mib' ? rfc822Markers(25 * MiB - 4096)
    : name === 'plain-25mib' ? plain(25 * MiB - 1024)
    : name === 'attachment-25mib' ? attachment(25 * MiB - 1024)
    : name === 'dkim-100-signatures' ? await dkim100(world)
    : headers(10_000);
  // Warm the parse thread first (as a running daemon has it): start-up is not the message's cost.
  await parseEmailIsolated(Buffer.from(`${HEAD}\r\nwarm-up\r\n`), DEFAULT_PARSE_LIMITS);
  // The longest gap between ticks of a 5 ms timer is the longest time the loop was blocked.
  let last = performance.now();
  let maxGap = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 5);
  await new Promise((resolve) => setTimeout(resolve, 50));
  const started = performance.now();
  let outcome: string;
  try {
    const parsed = await parseEmailIsolated(raw, DEFAULT_PARSE_LIMITS);
    const verdict = detectRobot(robotSignalsFromHeaders(parsed.facts.headerLines, { from: parsed.facts.fromAddresses[0] ?? null, subject: parsed.content.subject }), { ourDomains: ['acme.example'] });
    outcome = `parsed (robot: ${verdict.kind})`;
    if (verdict.kind === 'bounce') {
      // As linkBounce reads it.
      const text = raw.subarray(0, MAX_DSN_SCAN_BYTES).toString('utf8');
      dsnOutcome(text);
      outcome += `, ${extractBouncedMessageIds(text).length} bounced ids`;
    }
    if (name === 'dkim-100-signatures') {
      const check = createLocalSenderCheck({ resolver: world.resolver, mta: 'mx.acme.example' });
      const res = await check(raw);
      outcome += `, dkim: ${res.dkim.length} results, dmarc ${res.dmarc?.result ?? 'none'}`;
    }
  } catch (err) {
    outcome = err instanceof MailroomError ? `quarantined: ${err.code} ${err.message}` : `error: ${String(err)}`;
  }
  const ms = performance.now() - started;
  // Let the timer fire once more: a block at the very end is seen only then.
  await new Promise((resolve) => setTimeout(resolve, 50));
  clearInterval(tick);
  return {
    case: name,
    inputBytes: raw.length,
    ms: Math.round(ms),
    maxBlockMs: Math.round(maxGap),
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    outcome: outcome.slice(0, 120),
  };
}

/** Runs one case in a child process (same loader flags), killed after `timeoutMs`. */
function runChild(name: CaseName, timeoutMs: number): Promise<CaseResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--child', name], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      try {
        const parsed: unknown = JSON.parse(line);
        if (typeof parsed === 'object' && parsed !== null && 'case' in parsed) return resolve(parsed as CaseResult);
      } catch {
        // fall through: the child died or was killed
      }
      resolve({ case: name, inputBytes: 0, ms: null, maxBlockMs: null, peakRssMb: null, outcome: signal === 'SIGKILL' ? `killed after ${timeoutMs} ms` : `exit ${code ?? signal}` });
    });
  });
}

async function main(argv: string[]): Promise<void> {
  const childAt = argv.indexOf('--child');
  if (childAt >= 0) {
    const name = argv[childAt + 1];
    const found = CASES.find((c) => c === name);
    if (!found) throw new Error(`unknown case ${String(name)}`);
    process.stdout.write(`${JSON.stringify(await runCase(found))}\n`);
    process.exit(0);
  }
  const json = argv.includes('--json');
  const t = argv.indexOf('--timeout-ms');
  const timeoutMs = t >= 0 ? Number(argv[t + 1]) : 120_000;
  const picked = argv.flatMap((a, i) => (argv[i - 1] === '--case' ? [a] : []));
  const names = picked.length ? CASES.filter((c) => picked.includes(c)) : [...CASES];
  const results: CaseResult[] = [];
  for (const name of names) {
    const r = await runChild(name, timeoutMs);
    results.push(r);
    if (!json) process.stderr.write(`${name}: done\n`);
  }
  if (json) {
    process.stdout.write(`${JSON.stringify({ node: process.version, results })}\n`);
    return;
  }
  const rows = results.map((r) => [r.case, String(r.inputBytes), r.ms === null ? '-' : String(r.ms), r.maxBlockMs === null ? '-' : String(r.maxBlockMs), r.peakRssMb === null ? '-' : String(r.peakRssMb), r.outcome]);
  const header = ['case', 'bytes', 'ms', 'max block ms', 'peak RSS MB', 'outcome'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  for (const row of [header, ...rows]) process.stdout.write(`${row.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')}\n`);
}

await main(process.argv.slice(2));
