import { afterAll, beforeAll, expect, it } from 'vitest';
import { createAuditTrail } from '../../src/audit/audit-trail.js';
import { createEmailLedger } from '../../src/audit/email-ledger.js';
import { archiveRested } from '../../src/history/archive.js';
import { startArchiveSweep } from '../../src/history/archive-sweep.js';
import type { HistoryStore } from '../../src/history/history-store.js';
import { EmailId } from '../../src/kernel/ids.js';
import { createRedis, type Redis } from '../../src/queues/connection.js';
import { redisKeys } from '../../src/queues/keys.js';
import { describeEachBackend } from '../harness/history-backends.js';
import { waitFor } from '../harness/mail.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';

const id = (n: number) => EmailId.parse(`em_${n.toString(16).padStart(16, '0')}`);

describeEachBackend('archiving rested emails from Redis into the history store', (backend) => {
  let server: TestRedis;
  let redis: Redis;
  const fresh = async () => (await backend.place()).open();

  beforeAll(async () => {
    server = await startTestRedis();
    redis = createRedis(server.url, 'test');
  });
  afterAll(async () => {
    redis.disconnect();
    await server.close();
  });

  async function seed(prefix: string, n: number, clock: () => Date) {
    const keys = redisKeys(prefix);
    const ledger = createEmailLedger(redis, keys, clock);
    const audit = createAuditTrail(redis, keys, clock);
    for (let i = 1; i <= n; i++) {
      await ledger.create(id(i), 'file', { mailbox: 'help@example.com' });
      await audit.appendAll(id(i), [
        { type: 'ingested', actor: 'ingest', data: { n: i } },
        { type: 'completed', actor: 'executor' },
      ]);
      await ledger.setState(id(i), i % 2 ? 'completed' : 'awaiting_approval', { category: 'billing' });
      await redis.sadd(keys.labels(id(i)), 'billing');
    }
    return { keys, ledger, audit };
  }

  it('moves terminal emails whole, leaves one awaiting approval, and a re-run neither doubles nor loses', async () => {
    const store = await fresh();
    const { keys } = await seed('{arch1}', 4, () => new Date('2026-01-01T00:00:00Z'));
    const before = await redis.lrange(keys.audit(id(1)), 0, -1);

    const first = await archiveRested({ redis, keys, store }, { olderThanMs: 0 });
    expect(first).toEqual({ archived: 2, skipped: 2 });
    expect(await redis.exists(keys.email(id(1)), keys.audit(id(1)), keys.labels(id(1)))).toBe(0);
    expect(await redis.exists(keys.email(id(2)), keys.audit(id(2)), keys.labels(id(2)))).toBe(3);
    expect(await redis.zrange(keys.emailsByTime(), 0, -1)).toEqual([id(2), id(4)].sort());

    const got = await store.get(id(1));
    expect(got?.record).toMatchObject({ emailId: id(1), state: 'completed', category: 'billing', mailbox: 'help@example.com' });
    expect(got?.events.map((e) => JSON.stringify(e))).toEqual(before);
    expect(got?.labels).toEqual(['billing']);

    // A crash after the store write and before the delete: the email is in both; the re-run replaces, never doubles.
    await store.put([{ record: { ...got!.record, emailId: id(9) }, events: got!.events, labels: [] }]);
    await store.put([{ record: { ...got!.record, emailId: id(9) }, events: got!.events, labels: [] }]);
    expect((await store.get(id(9)))?.events).toHaveLength(2);
    expect(await archiveRested({ redis, keys, store }, { olderThanMs: 0 })).toEqual({ archived: 0, skipped: 2 });
    expect(await store.count()).toBe(3);
    await store.close();
  });

  it('keeps an email that changed while it was being archived in Redis, and takes it whole next time', async () => {
    const store = await fresh();
    const { keys, audit } = await seed('{arch2}', 1, () => new Date('2026-01-01T00:00:00Z'));
    const racing: HistoryStore = {
      ...store,
      async put(emails) {
        await store.put(emails);
        await audit.append(id(1), 'bounced', 'ingest');
      },
    };
    expect(await archiveRested({ redis, keys, store: racing }, { olderThanMs: 0 })).toEqual({ archived: 0, skipped: 1 });
    expect(await redis.llen(keys.audit(id(1)))).toBe(3);
    expect(await archiveRested({ redis, keys, store }, { olderThanMs: 0 })).toEqual({ archived: 1, skipped: 0 });
    expect((await store.get(id(1)))?.events.map((e) => e.type)).toEqual(['ingested', 'completed', 'bounced']);
    await store.close();
  });

  it('leaves emails younger than the threshold, and the schema survives a reopen', async () => {
    const place = await backend.place();
    const now = new Date('2026-01-10T00:00:00Z');
    const { keys } = await seed('{arch3}', 1, () => new Date('2026-01-09T12:00:00Z'));
    const store = await place.open();
    expect((await archiveRested({ redis, keys, store }, { olderThanMs: 86_400_000, now })).archived).toBe(0);
    expect(await redis.exists(keys.email(id(1)))).toBe(1);
    await store.close();
    const again = await place.open();
    expect(await again.count()).toBe(0);
    await again.close();
  });
});

describeEachBackend('the daemon sweep', (backend) => {
  it('archives rested emails on its own, a bounded batch at a time, and stops on close', async () => {
    const server = await startTestRedis();
    const redis = createRedis(server.url, 'sweep');
    const store = await (await backend.place()).open();
    try {
      const keys = redisKeys('{sweep}');
      const ledger = createEmailLedger(redis, keys);
      for (let i = 1; i <= 5; i++) {
        await ledger.create(id(i), 'file');
        await ledger.setState(id(i), 'completed');
      }
      const logger = { info: () => undefined, warn: () => undefined };
      const config = { contentTtlSeconds: 3600, retention: { historySeconds: 400 * 86_400, archiveAfterSeconds: 0 } };
      const sweep = startArchiveSweep({ redis, keys, store, logger, config }, { everyMs: 20, maxEmails: 2 });
      await waitFor('five archived', async () => ((await store.count()) === 5 ? true : undefined), 5_000);
      await sweep.close();
      expect(await redis.zcard(keys.emailsByTime())).toBe(0);
    } finally {
      await store.close();
      redis.disconnect();
      await server.close();
    }
  });
});
