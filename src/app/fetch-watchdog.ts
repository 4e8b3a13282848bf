import type { Queue, Worker } from 'bullmq';

/** A worker with free slots that started no job for this long while its queue has waiting jobs is stuck. */
export const STUCK_AFTER_MS = 60_000;

/**
 * Watches one worker's fetch loop. Found by the chaos run on a Redis Cluster: after the node
 * holding Mailroom's slot restarted, one process's BullMQ worker (6.7, ioredis Cluster) never
 * fetched again although its blocking connection was back and 1,865 jobs waited. Nothing inside
 * the process notices that, so this does: free slots, waiting jobs and no job started for
 * `stuckAfterMs` call `onStuck` once (the daemon exits non-zero and its supervisor restarts it).
 * Returns a function that stops watching.
 */
export function watchFetching(
  worker: Worker,
  queue: Pick<Queue, 'getJobCounts'>,
  options: { concurrency: number; onStuck: () => void; stuckAfterMs?: number; clock?: () => number },
): () => void {
  const now = options.clock ?? Date.now;
  const stuckAfterMs = options.stuckAfterMs ?? STUCK_AFTER_MS;
  let running = 0;
  let lastStart = now();
  let fired = false;
  worker.on('active', () => {
    running += 1;
    lastStart = now();
  });
  const finished = () => {
    running = Math.max(0, running - 1);
  };
  worker.on('completed', finished);
  worker.on('failed', finished);
  const timer = setInterval(() => {
    if (fired || worker.closing || running >= options.concurrency || now() - lastStart < stuckAfterMs) return;
    queue
      .getJobCounts('waiting')
      .then((counts) => {
        if (!fired && (counts.waiting ?? 0) > 0 && now() - lastStart >= stuckAfterMs && !worker.closing) {
          fired = true;
          options.onStuck();
        }
      })
      .catch(() => undefined);
  }, Math.max(1_000, Math.floor(stuckAfterMs / 4)));
  timer.unref();
  return () => clearInterval(timer);
}
