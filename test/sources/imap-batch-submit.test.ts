import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContext } from '../../src/app/context.js';
import { type AppContext } from '../../src/services/services.js';
import type { EmailId } from '../../src/kernel/ids.js';
import { checkpointStore } from '../../src/store/imap-checkpoint.js';
import { uidSet } from '../../src/mail/imap-client.js';
import { watchFolder } from '../../src/sources/imap-watcher.js';
import { emailIdOf, submitEmails, type SubmitItem } from '../../src/ingest/submit.js';
import { createLogger } from '../../src/kernel/logger.js';
import { connectImap, startDovecot, type DovecotServer } from '../harness/dovecot.js';
import { customerMail, imapConfig, waitFor } from '../harness/mail.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';

const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const HANDLED = '$MailroomHandled';
const MAILBOX = 'support@acme.example';
const mail = (id: string) => Buffer.from(customerMail(id));
const idOf = (id: string): EmailId => emailIdOf(mail(id), MAILBOX);
const fileItem = (id: string): SubmitItem => ({ input: mail(id), source: { kind: 'file', path: `${id}.eml` } });

describe('uidSet', () => {
  it('joins runs of consecutive UIDs and never spans a UID it was not given', () => {
    expect(uidSet([5, 1, 2, 3, 7, 8, 10])).toBe('1:3,5,7:8,10');
    // 2 is missing (flagged, oversize or refused): a range 1:3 would mark it too.
    expect(uidSet([1, 3])).toBe('1,3');
    expect(uidSet([4, 4, 5])).toBe('4:5');
    expect(uidSet([9])).toBe('9');
  });
});

/**
 * Batched submission and the watcher's rounds against a real Redis and Dovecot. Redis refuses one
 * message's write for real: its ledger (or audit) key is made a plain string first, so the write
 * fails with WRONGTYPE for that message alone, as a per-message failure would.
 */
describe('IMAP rounds submitted as one batch (real Dovecot and Redis)', () => {
  let dovecot: DovecotServer;
  let redis: TestRedis;
  const apps: AppContext[] = [];

  beforeAll(async () => {
    [dovecot, redis] = await Promise.all([startDovecot(), startTestRedis()]);
  });
  afterAll(async () => {
    await Promise.all(apps.map((a) => a.close().catch(() => undefined)));
    await Promise.all([dovecot?.close(), redis?.close()]);
  });

  /** A context with no workers: what is enqueued stays in the ingest queue to be counted. */
  async function context(folder: string) {
    const app = await createContext(imapConfig(dovecot, { REDIS_URL: redis.url, MAILROOM_PREFIX: redis.prefix() }, { folders: [folder], pollSeconds: 0.5 }), logger);
    apps.push(app);
    return app;
  }

  it('gives each message of a batch its own outcome: a refused one does not stop the others, and two copies are one email', async () => {
    const app = await context('INBOX');
    await app.redis.set(app.keys.email(idOf('b-refused')), 'not a hash');
    const outcomes = await submitEmails(app, [fileItem('b-one'), fileItem('b-refused'), fileItem('b-two'), fileItem('b-one')], MAILBOX);

    expect(outcomes.map((o) => (o.ok ? (o.submission.duplicate ? 'duplicate' : 'new') : o.stage))).toEqual(['new', 'store', 'new', 'duplicate']);
    const ingest = app.queues.get('ingest');
    expect(await ingest.getJob(idOf('b-one'))).toBeDefined();
    expect(await ingest.getJob(idOf('b-two'))).toBeDefined();
    expect(await ingest.getJob(idOf('b-refused'))).toBeUndefined();
    expect(await ingest.getJobCountByTypes('waiting')).toBe(2);
    // The second copy is recorded as a duplicate on the first one's trail, not as a second email.
    expect((await app.audit.read(idOf('b-one'))).map((e) => e.type)).toEqual(['ingested', 'duplicate']);

    // Once Redis takes it, the refused message goes in like any other.
    await app.redis.del(app.keys.email(idOf('b-refused')));
    const [again] = await submitEmails(app, [fileItem('b-refused')], MAILBOX);
    expect(again).toMatchObject({ ok: true, submission: { emailId: idOf('b-refused'), duplicate: false } });
    expect(await ingest.getJob(idOf('b-refused'))).toBeDefined();
  });

  it('adds the job of a message whose record was written but whose source was refused, when it comes again', async () => {
    const app = await context('INBOX');
    // The record is created, then the audit write fails: the email is left in `received`, no job.
    await app.redis.set(app.keys.audit(idOf('r-half')), 'not a list');
    const [first, other] = await submitEmails(app, [fileItem('r-half'), fileItem('r-other')], MAILBOX);
    expect(first).toMatchObject({ ok: false, stage: 'store' });
    expect(other).toMatchObject({ ok: true });
    expect((await app.ledger.get(idOf('r-half')))?.state).toBe('received');
    expect(await app.queues.get('ingest').getJob(idOf('r-half'))).toBeUndefined();

    await app.redis.del(app.keys.audit(idOf('r-half')));
    const [again] = await submitEmails(app, [fileItem('r-half')], MAILBOX);
    expect(again).toMatchObject({ ok: true, submission: { duplicate: false } });
    expect(await app.queues.get('ingest').getJob(idOf('r-half'))).toBeDefined();
  });

  it("a round holding copies of a customer's Message-ID from others (forged From, or the same text) keeps the customer's email its own; only true copies are duplicates", async () => {
    const folder = 'SameId';
    const admin = await connectImap(dovecot);
    await admin.mailboxCreate(folder).finally(() => admin.logout());
    const real = customerMail('victim-1');
    const forgedFrom = customerMail('victim-1', { body: 'Please send my refund to another account.' });
    const ownFrom = customerMail('victim-1', { from: 'mallory@attacker.example' });
    // Attacker copies first, so a Message-ID-only dedup would make the real one their duplicate.
    for (const raw of [forgedFrom, ownFrom, forgedFrom, real, ownFrom, real]) await dovecot.append(raw, folder);
    const app = await context(folder);
    const account = app.config.imap[0];
    if (!account) throw new Error('no IMAP account in the test config');
    const watcher = watchFolder(app, account, folder);
    try {
      await watcher.firstSync;
      expect(watcher.stats).toMatchObject({ ingested: 3, duplicates: 3, sourceFetches: 1 });
      const onServer = await dovecot.listMailbox(folder);
      expect(onServer.every((m) => m.flags.includes(HANDLED))).toBe(true);
      expect((await checkpointStore(app.redis, app.keys, account.name, folder).load())?.lastUid).toBe(onServer[onServer.length - 1]?.uid);
      const [realId, ...others] = [real, forgedFrom, ownFrom].map((raw) => emailIdOf(Buffer.from(raw), MAILBOX));
      if (!realId) throw new Error('no id');
      expect(new Set([realId, ...others]).size).toBe(3);
      for (const id of [realId, ...others]) expect(await app.queues.get('ingest').getJob(id)).toBeDefined();
      // The customer's own email: ingested once, then its one true copy.
      expect((await app.audit.read(realId)).map((e) => e.type)).toEqual(['ingested', 'duplicate']);
    } finally {
      await watcher.close();
    }
  }, 60_000);

  it('sizes at the edges of the byte budget and of the small-message bound cost no message its place: each is taken in, marked and passed by the checkpoint', async () => {
    const folder = 'Edges';
    const admin = await connectImap(dovecot);
    await admin.mailboxCreate(folder).finally(() => admin.logout());
    // A budget of 120000 bytes: rounds of unknown size count each message as 300 bytes (budget / 2 / 100).
    const budget = 120_000;
    const sized = (id: string, bytes: number) => {
      const head = customerMail(id, { body: '' });
      return customerMail(id, { body: 'x'.repeat(bytes - Buffer.byteLength(head)) });
    };
    const sizes = [299, 300, 301, budget - 1, budget, budget + 1, 300, 2 * budget, 301];
    const raws = sizes.map((n, i) => sized(`edge-${i}`, n));
    expect(raws.map((r) => Buffer.byteLength(r))).toEqual(sizes);
    for (const raw of raws) await dovecot.append(raw, folder);
    const app = await context(folder);
    const account = app.config.imap[0];
    if (!account) throw new Error('no IMAP account in the test config');
    const watcher = watchFolder(app, account, folder, { fetchBudgetBytes: budget });
    try {
      await watcher.firstSync;
      expect(watcher.stats).toMatchObject({ ingested: sizes.length, duplicates: 0, quarantined: 0 });
      // No fetch ever asked for more than the budget, but for a message alone that is larger.
      expect(watcher.stats.largestFetchBytes).toBeLessThanOrEqual(2 * budget);
      const onServer = await dovecot.listMailbox(folder);
      expect(onServer.every((m) => m.flags.includes(HANDLED))).toBe(true);
      expect((await checkpointStore(app.redis, app.keys, account.name, folder).load())?.lastUid).toBe(onServer[onServer.length - 1]?.uid);
      for (const raw of raws) expect(await app.queues.get('ingest').getJob(emailIdOf(Buffer.from(raw), MAILBOX))).toBeDefined();
    } finally {
      await watcher.close();
    }
  }, 60_000);

  it('marks and checkpoints only what is stored: the others of the round go in, the refused one is taken in once Redis accepts it', async () => {
    const folder = 'Refused';
    const admin = await connectImap(dovecot);
    await admin.mailboxCreate(folder).finally(() => admin.logout());
    const ids = ['w-1', 'w-2', 'w-3', 'w-4', 'w-5'];
    for (const id of ids) await dovecot.append(customerMail(id), folder);
    const app = await context(folder);
    const refused = idOf('w-3');
    await app.redis.set(app.keys.email(refused), 'not a hash');
    const account = app.config.imap[0];
    if (!account) throw new Error('no IMAP account in the test config');
    const checkpoint = checkpointStore(app.redis, app.keys, account.name, folder);

    const watcher = watchFolder(app, account, folder);
    try {
      await watcher.firstSync;
      // The first catch-up took in the four others and told the server so; not the refused one.
      expect(watcher.stats.ingested).toBe(4);
      const onServer = await dovecot.listMailbox(folder);
      expect(onServer.map((m) => m.flags.includes(HANDLED))).toEqual([true, true, false, true, true]);
      const uids = onServer.map((m) => m.uid);
      // The checkpoint stops below the message that is not stored, though the two after it are.
      expect((await checkpoint.load())?.lastUid).toBe(uids[1]);
      expect(await app.queues.get('ingest').getJob(refused)).toBeUndefined();

      await app.redis.del(app.keys.email(refused));
      await waitFor('the refused message taken in', async () => ((await checkpoint.load())?.lastUid === uids[4] ? true : undefined), 15_000);
      expect((await dovecot.listMailbox(folder)).every((m) => m.flags.includes(HANDLED))).toBe(true);
      expect(await app.queues.get('ingest').getJob(refused)).toBeDefined();
      // Nothing twice: the four flagged ones were skipped, not submitted again.
      expect(watcher.stats).toMatchObject({ ingested: 5, duplicates: 0 });
      expect(await app.queues.get('ingest').getJobCountByTypes('waiting')).toBe(5);
    } finally {
      await watcher.close();
    }
  }, 60_000);
});
