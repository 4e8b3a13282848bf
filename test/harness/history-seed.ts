import { EmailId } from '../../src/kernel/ids.js';
import type { Redis } from '../../src/queues/connection.js';
import type { RedisKeys } from '../../src/queues/keys.js';

/** Enough emails that an archive takes several batches (500 each) and a kill lands mid-run. */
export const EMAIL_ID_COUNT_FOR_KILL = 6_000;

/**
 * `count` emails at rest (completed, a day ago), written straight into Redis as the ledger and the
 * audit trail write them, each with its own trail length (2 to 6 events) so that a doubled or cut
 * trail shows. Returns each email's id and trail length.
 */
export async function seedRested(redis: Redis, keys: RedisKeys, count: number): Promise<Map<EmailId, number>> {
  const seeded = new Map<EmailId, number>();
  const at = Date.now() - 86_400_000;
  for (let i = 0; i < count; i += 1000) {
    const pipe = redis.pipeline();
    for (let j = i; j < Math.min(count, i + 1000); j++) {
      const id = EmailId.parse(`em_${(0xa000000000000000n + BigInt(j)).toString(16)}`);
      const ts = new Date(at + j).toISOString();
      const events = 2 + (j % 5);
      pipe.hset(keys.email(id), { emailId: id, state: 'completed', source: `seed/${j}`, createdAt: ts, updatedAt: ts, category: 'billing', mailbox: 'help@example.com', mode: 'live' });
      pipe.zadd(keys.emailsByTime(), at + j, id);
      pipe.hincrby(keys.emailStateCounts(), 'completed', 1);
      pipe.rpush(keys.audit(id), ...Array.from({ length: events }, (_, k) => JSON.stringify({ ts, type: k === events - 1 ? 'completed' : 'step_finished', actor: 'executor', data: { n: k } })));
      seeded.set(id, events);
    }
    await pipe.exec();
  }
  return seeded;
}
