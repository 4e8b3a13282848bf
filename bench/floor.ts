/**
 * The floor: the least work any correct pipeline must do for the same emails, run in the same
 * sitting on the same Redis as Mailroom (bench/pipeline.ts), so the two are compared as a ratio.
 * Each email is one durable BullMQ job (its raw message in the job); a worker parses it with
 * mailparser in a worker thread, verifies the sender from the trusted Authentication-Results
 * header (dmarc=pass, aligned with From, from our MTA), renders the same kind of templated reply
 * and hands it to a nodemailer stream transport. No ledger, no audit, no plan, no review: what
 * Mailroom spends above this is the price of those.
 */
import { Worker as Thread } from 'node:worker_threads';
import { Queue, Worker } from 'bullmq';
import nodemailer from 'nodemailer';
import { z } from 'zod';
import { createRedis, type Redis } from '../src/queues/connection.js';
import { aligned } from '../src/ingest/sender-verification.js';
import { parseAuthenticationResults } from '../src/ingest/authentication-results.js';
import { corpus, mapLimit, redisCommandCount, redisCpuSeconds, round } from './lib.js';

const Parsed = z.union([
  z.object({ id: z.number(), from: z.string(), name: z.string(), subject: z.string(), messageId: z.string(), authResults: z.string() }),
  z.object({ id: z.number(), error: z.string() }),
]);
type Parsed = z.infer<typeof Parsed>;

/** A pool of parser threads, each taking one message at a time. */
function parserPool(size: number): { parse(raw: Buffer): Promise<Parsed>; close(): Promise<void> } {
  const threads = Array.from({ length: size }, () => new Thread(new URL('./floor-parse-thread.mjs', import.meta.url)));
  const waiting = new Map<number, (p: Parsed) => void>();
  for (const t of threads) t.on('message', (m: unknown) => {
    const p = Parsed.parse(m);
    waiting.get(p.id)?.(p);
    waiting.delete(p.id);
  });
  let next = 0;
  return {
    parse(raw) {
      const id = next++;
      return new Promise((resolve) => {
        waiting.set(id, resolve);
        threads[id % threads.length]?.postMessage({ id, raw });
      });
    },
    async close() {
      await Promise.all(threads.map((t) => t.terminate()));
    },
  };
}

/** Verified: our MTA says DMARC passed for a domain aligned with From. */
function verified(p: Extract<Parsed, { from: string }>, authservId: string): boolean {
  const ar = parseAuthenticationResults(p.authResults);
  if (!ar || ar.authservId !== authservId) return false;
  const fromDomain = p.from.split('@')[1]?.toLowerCase() ?? '';
  return ar.results.some((r) => r.method === 'dmarc' && r.result === 'pass' && aligned(fromDomain, (r.props['header.from'] ?? '').toLowerCase()));
}

export interface FloorResult {
  floor_emails_per_s: number;
  /** CPU per email of this process (all threads) and of redis-server, as Mailroom's `cpu_ms_per_email` + `redis_cpu_ms_per_email`. */
  floor_cpu_ms_per_email: number;
  floor_redis_commands_per_email: number;
  floor_replies: number;
}

/** Runs `count` emails (the corpus Mailroom's bench uses) through the floor pipeline on `redisUrl`. */
export async function benchFloor(redisUrl: string, prefix: string, count: number, opts: { concurrency: number; authservId: string; submitWidth: number }): Promise<FloorResult> {
  const conn: Redis = createRedis(redisUrl, 'bench-floor');
  const queue = new Queue('floor', { connection: conn, prefix, defaultJobOptions: { removeOnComplete: true, attempts: 3 } });
  const pool = parserPool(2);
  const mailer = nodemailer.createTransport({ streamTransport: true, buffer: true });
  let replies = 0;
  let done = 0;
  let allDone: () => void = () => {};
  const finished = new Promise<void>((r) => (allDone = r));
  const worker = new Worker(
    'floor',
    async (job) => {
      const raw = Buffer.from(z.string().parse(job.data.raw), 'latin1');
      const p = await pool.parse(raw);
      if ('from' in p && p.from && verified(p, opts.authservId)) {
        const text = `Hello ${p.name || 'there'},\n\nThank you for writing to us about "${p.subject.slice(0, 200)}". We have your message and will answer within one business day.\n\nThe support team\n`;
        await mailer.sendMail({ from: 'support@acme.example', to: p.from, subject: `Re: ${p.subject}`, text, inReplyTo: p.messageId, references: p.messageId });
        replies += 1;
      }
    },
    { connection: createRedis(redisUrl, 'bench-floor-worker'), prefix, concurrency: opts.concurrency },
  );
  worker.on('completed', () => {
    done += 1;
    if (done === count) allDone();
  });
  worker.on('failed', (_job, err) => process.stderr.write(`bench: floor job failed: ${err.message}\n`));
  const raws = corpus(count, 'f');
  // Warm-up (not timed): the threads load mailparser, the worker its scripts.
  await Promise.all(raws.slice(0, 8).map((r) => pool.parse(r)));
  const cmd0 = await redisCommandCount(conn);
  const rcpu0 = await redisCpuSeconds(conn);
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  await mapLimit(raws, opts.submitWidth, (raw) => queue.add('email', { raw: raw.toString('latin1') }));
  await finished;
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const rcpu1 = await redisCpuSeconds(conn);
  const cmd1 = await redisCommandCount(conn);
  await worker.close();
  await queue.close();
  await pool.close();
  conn.disconnect();
  return {
    floor_emails_per_s: round(count / seconds, 1),
    floor_cpu_ms_per_email: round(((cpu.user + cpu.system) / 1000 + (rcpu1 - rcpu0) * 1000) / count, 2),
    // Two INFO calls of this bench are in the count; noise against thousands of commands.
    floor_redis_commands_per_email: round((cmd1 - cmd0) / count, 1),
    floor_replies: replies,
  };
}
