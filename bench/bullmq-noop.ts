/**
 * The ceiling: plain BullMQ no-op jobs on the same Redis, one worker at the same concurrency as
 * Mailroom's workers, jobs added with addBulk first, timed from the worker's start to the last
 * completion.
 */
import { Queue, Worker } from 'bullmq';
import { createRedis } from '../src/queues/connection.js';

export interface NoopResult {
  bullmq_noop_jobs_per_s: number;
}

export async function benchBullmqNoop(redisUrl: string, opts: { jobs: number; concurrency: number; prefix: string }): Promise<NoopResult> {
  const connection = createRedis(redisUrl, 'bench-noop');
  const queue = new Queue('noop', { connection, prefix: opts.prefix });
  try {
    for (let i = 0; i < opts.jobs; i += 1000) {
      await queue.addBulk(Array.from({ length: Math.min(1000, opts.jobs - i) }, (_, j) => ({ name: 'noop', data: { i: i + j }, opts: { removeOnComplete: true } })));
    }
    let done = 0;
    let finished: () => void = () => {};
    const all = new Promise<void>((r) => (finished = r));
    const started = performance.now();
    const worker = new Worker('noop', async () => {}, { connection, prefix: opts.prefix, concurrency: opts.concurrency });
    worker.on('completed', () => {
      if (++done === opts.jobs) finished();
    });
    await all;
    const seconds = (performance.now() - started) / 1000;
    await worker.close();
    return { bullmq_noop_jobs_per_s: Math.round(opts.jobs / seconds) };
  } finally {
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    connection.disconnect();
  }
}
