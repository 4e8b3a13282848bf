/**
 * The IMAP figure alone (bench/imap.ts), several runs on one Redis:
 *   npx tsx bench/imap-only.ts [messages] [runs] [pairs] [--profile]
 * Prints each run's ingest and bare-imapflow rates (medians of `pairs` alternations) and their ratio, with the CPU this process and
 * Redis spent per message in each part (steadier than wall time on a shared machine), then the
 * spread of the ratio. `--profile` writes a CPU profile of each run's last ingest alone (not the
 * mailbox setup or the bare fetch) to $TMPDIR/imap-ingest-N.cpuprofile.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import os from 'node:os';
import path from 'node:path';
import { startTestRedis } from '../test/harness/redis.js';
import { createRedis } from '../src/queues/connection.js';
import { benchImap } from './imap.js';
import { redisCpuSeconds, wholeArgs } from './lib.js';

const args = process.argv.slice(2).filter((a) => a !== '--profile');
const profile = process.argv.includes('--profile');
const [messages, runs, pairs] = wholeArgs(
  'imap-only.ts',
  [
    { name: 'messages', min: 1, max: 100_000, default: 1000 },
    { name: 'runs', min: 1, max: 100, default: 3 },
    { name: 'pairs', min: 1, max: 100, default: 3 },
  ] as const,
  args,
);
const redis = await startTestRedis();
const control = createRedis(redis.url, 'bench-control');
const session = new Session();
session.connect();
const ratios: number[] = [];
try {
  for (let i = 0; i < runs; i++) {
    const cpu: Record<string, { node: number; redis: number }> = {};
    let at = { node: 0, redis: 0 };
    const r = await benchImap({ url: redis.url, prefix: redis.prefix() }, { messages, pairs }, async (part, edge) => {
      if (edge === 'start') {
        if (profile && part === 'ingest') {
          await session.post('Profiler.enable');
          await session.post('Profiler.start');
        }
        const u = process.cpuUsage();
        at = { node: (u.user + u.system) / 1000, redis: (await redisCpuSeconds(control)) * 1000 };
        return;
      }
      const u = process.cpuUsage();
      const sum = cpu[part] ?? { node: 0, redis: 0 };
      cpu[part] = { node: sum.node + (u.user + u.system) / 1000 - at.node, redis: sum.redis + (await redisCpuSeconds(control)) * 1000 - at.redis };
      if (profile && part === 'ingest') {
        const { profile: p } = await session.post('Profiler.stop');
        writeFileSync(path.join(os.tmpdir(), `imap-ingest-${i + 1}.cpuprofile`), JSON.stringify(p));
      }
    });
    const ratio = r.imap_ingest_msgs_per_s / r.imapflow_raw_fetch_msgs_per_s;
    ratios.push(ratio);
    const per = (part: string) => `node ${(((cpu[part]?.node ?? 0) * 1000) / (messages * pairs)).toFixed(0)} µs, redis ${(((cpu[part]?.redis ?? 0) * 1000) / (messages * pairs)).toFixed(0)} µs`;
    process.stdout.write(
      `run ${i + 1}: ingest ${r.imap_ingest_msgs_per_s} msgs/s (${per('ingest')} CPU a message), raw ${r.imapflow_raw_fetch_msgs_per_s} msgs/s (${per('raw')}), ratio ${ratio.toFixed(2)}, load ${os.loadavg()[0]?.toFixed(1)}\n`,
    );
  }
} finally {
  session.disconnect();
  control.disconnect();
  await redis.close();
}
ratios.sort((a, b) => a - b);
process.stdout.write(`ratio min ${ratios[0]?.toFixed(2)} median ${ratios[Math.floor(ratios.length / 2)]?.toFixed(2)} max ${ratios[ratios.length - 1]?.toFixed(2)}\n`);
process.exit(0);
