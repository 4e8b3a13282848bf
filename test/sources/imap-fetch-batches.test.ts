import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmailRecord } from '../../src/audit/email-ledger.js';
import { startDaemon, type Daemon } from '../../src/daemon/daemon.js';
import type { EmailId } from '../../src/kernel/ids.js';
import { planFetchBatches } from '../../src/sources/imap-listing.js';
import { watchFolder } from '../../src/sources/imap-watcher.js';
import { emailIdOf } from '../../src/ingest/submit.js';
import { closeParseThreads } from '../../src/ingest/parse-isolated.js';
import { createLogger } from '../../src/kernel/logger.js';
import { connectImap, startDovecot, type DovecotServer } from '../harness/dovecot.js';
import { customerMail, imapConfig, waitFor } from '../harness/mail.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';

const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const RESTING = ['completed', 'escalated', 'quarantined', 'rejected', 'awaiting_approval'];
const MB = 1024 * 1024;

describe('planFetchBatches', () => {
  const sized = (sizes: number[]) => sizes.map((size, uid) => ({ uid, size }));
  const plan = (sizes: number[], maxBytes: number) =>
    planFetchBatches(sized(sizes), { maxCount: 3, maxBytes, skipOver: 100 }).map((b) => b.map((m) => m.uid));

  it('closes a round before it would pass the byte budget or the count', () => {
    expect(plan([10, 10, 10, 10], 25)).toEqual([[0, 1], [2, 3]]);
    expect(plan([1, 1, 1, 1, 1], 1000)).toEqual([[0, 1, 2], [3, 4]]);
  });

  it('sends a message larger than the budget alone, and one over the size limit for free', () => {
    expect(plan([5, 60, 5], 50)).toEqual([[0], [1], [2]]);
    expect(plan([20, 500, 20], 50)).toEqual([[0, 1, 2]]);
  });
});

describe('IMAP fetch rounds are bounded by bytes (real Dovecot)', () => {
  let dovecot: DovecotServer;
  let redis: TestRedis;
  let d: Daemon | undefined;

  beforeAll(async () => {
    [dovecot, redis] = await Promise.all([startDovecot(), startTestRedis()]);
  });
  afterAll(async () => {
    await d?.close().catch(() => undefined);
    await closeParseThreads();
    await Promise.all([dovecot?.close(), redis?.close()]);
  });

  it('fetches six ~1.5 MB messages two at a time under a 3.5 MB budget, skips the oversize one, and ingests them all', async () => {
    const folder = 'Large';
    const admin = await connectImap(dovecot);
    await admin.mailboxCreate(folder).finally(() => admin.logout());
    const ids = Array.from({ length: 6 }, (_, i) => `large-${i}`);
    // A paragraph per line, so the text is ordinary mail, only long.
    const body = `${'Our invoice export keeps failing on the large account, see the log below. '.repeat(20)}\r\n`.repeat(1_000);
    const raws = ids.map((id) => customerMail(id, { subject: 'Invoice export', body }));
    // The email id covers the Message-ID, the From addresses and a digest of the body.
    const emailIds: EmailId[] = raws.map((raw) => emailIdOf(Buffer.from(raw), 'support@acme.example'));
    for (const raw of raws.slice(0, 3)) await dovecot.append(raw, folder);
    await dovecot.append(customerMail('oversize', { body: 'x'.repeat(5 * MB) }), folder);
    for (const raw of raws.slice(3)) await dovecot.append(raw, folder);

    // Processing roles only: the watcher below is the one under test, with a small budget.
    const config = imapConfig(dovecot, { REDIS_URL: redis.url, MAILROOM_PREFIX: redis.prefix() }, { folders: [folder] }, { maxMessageBytes: 4 * MB });
    d = await startDaemon(config, logger, { roles: ['triage', 'planner', 'executor'] });
    const account = d.app.config.imap[0];
    if (!account) throw new Error('no IMAP account in the test config');
    const watcher = watchFolder(d.app, account, folder, { fetchBudgetBytes: 3.5 * MB });
    try {
      await watcher.firstSync;
      const records = await waitFor('every large message at rest', async () => {
        const recs = (await d?.app.ledger.getMany(emailIds))?.filter((r): r is EmailRecord => r !== null) ?? [];
        return recs.length === ids.length && recs.every((r) => RESTING.includes(r.state)) ? recs : undefined;
      }, 60_000);
      expect(records.map((r) => r.state)).not.toContain('quarantined');
      expect(watcher.stats).toMatchObject({ ingested: 6, quarantined: 1, sourceFetches: 3 });
      expect(watcher.stats.largestFetchBytes).toBeGreaterThan(2.5 * MB); // two messages a round
      expect(watcher.stats.largestFetchBytes).toBeLessThanOrEqual(3.5 * MB);
      const onServer = await dovecot.listMailbox(folder);
      expect(onServer).toHaveLength(7);
      expect(onServer.every((m) => m.flags.includes('$MailroomHandled'))).toBe(true);
    } finally {
      await watcher.close();
    }
  }, 120_000);
});
