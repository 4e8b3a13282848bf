import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createAuditTrail, type AuditType } from '../../src/audit/audit-trail.js';
import { createEmailLedger, type EmailState } from '../../src/audit/email-ledger.js';
import { buildReport } from '../../src/report/report.js';
import { archiveRested } from '../../src/history/archive.js';
import { sqliteHistoryFile } from '../../src/history/open-history-store.js';
import { openSqliteHistoryStore } from '../../src/history/sqlite-history-store.js';
import { EmailId } from '../../src/kernel/ids.js';
import { createRedis, type Redis } from '../../src/queues/connection.js';
import { redisKeys } from '../../src/queues/keys.js';
import { describeEachBackend } from '../harness/history-backends.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';

/** One email of each kind the report tells apart, with its trail. */
const kinds: Array<{ state: EmailState; category: string; mailbox: string; robot?: string; reason?: string; shadow?: true; events: Array<[AuditType, Record<string, unknown>]> }> = [
  { state: 'completed', category: 'billing', mailbox: 'a@x.example', events: [['planned', { cacheLookup: true, cacheHit: true }]] },
  { state: 'completed', category: 'billing', mailbox: 'a@x.example', events: [['planned', { cacheLookup: true, cacheHit: false }], ['parked', {}], ['approved', {}]] },
  { state: 'rejected', category: 'refund', mailbox: 'a@x.example', events: [['planned', {}], ['replanned', {}], ['parked', {}], ['rejected', {}]] },
  { state: 'escalated', category: 'bug', mailbox: 'b@x.example', reason: 'unverified_sender; more', events: [['planned', {}]] },
  { state: 'quarantined', category: '', mailbox: 'b@x.example', events: [['quarantined', { code: 'MAILROOM_EMAIL_MALFORMED' }]] },
  { state: 'completed', category: 'spam', mailbox: '', robot: 'auto_reply', events: [] },
  // Counters spelled in camelCase (PostgreSQL folds an unquoted name to lower case).
  { state: 'completed', category: 'billing', mailbox: 'a@x.example', shadow: true, events: [['parked', {}], ['shadowed', { would: 'park' }]] },
  { state: 'completed', category: 'billing', mailbox: 'a@x.example', events: [['case', { followUp: false, turns: 0, previous: 'none' }]] },
  { state: 'completed', category: 'billing', mailbox: 'a@x.example', events: [['case', { followUp: true, turns: 1, previous: 'replied' }]] },
  // The autonomy figure's steps (fact_counts rows of kind `autonomy`).
  {
    state: 'completed',
    category: 'billing',
    mailbox: 'a@x.example',
    events: [
      ['autonomy', { planId: 'pl_1', steps: [{ stepId: 'send', tool: 'send_reply', level: 'auto', configured: 'auto', rule: null, limit: null }] }],
      ['step_finished', { planId: 'pl_1', stepId: 'send' }],
    ],
  },
];

const id = (n: number) => EmailId.parse(`em_${n.toString(16).padStart(16, '0')}`);

describeEachBackend("the report from the store's SQL sums", (backend) => {
  let server: TestRedis;
  let redis: Redis;
  let dir: string;
  beforeAll(async () => {
    server = await startTestRedis();
    redis = createRedis(server.url, 'sums');
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-sums-'));
  });
  afterAll(async () => {
    redis.disconnect();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('says what the report folded from the trails in Redis said, for an email in both once, and after a backfill', async () => {
    const keys = redisKeys(server.prefix());
    let t = Date.parse('2026-11-01T00:00:00Z');
    const clock = () => new Date((t += 60_000));
    const ledger = createEmailLedger(redis, keys, clock);
    const audit = createAuditTrail(redis, keys, clock);
    for (let i = 0; i < 63; i++) {
      const k = kinds[i % kinds.length];
      if (!k) continue;
      await ledger.create(id(i + 1), 'file', { ...(k.mailbox ? { mailbox: k.mailbox } : {}), ...(k.shadow ? { mode: 'shadow' as const } : {}) });
      for (const [type, data] of k.events) await audit.append(id(i + 1), type, 'test', data);
      await ledger.setState(id(i + 1), k.state, { category: k.category, reason: k.reason ?? '', robot: k.robot ?? '' });
    }
    // Redis indexes intake by the real time, the records carry the clock's: the window holds both.
    const window = { since: new Date('2026-10-01T00:00:00Z'), until: new Date(Date.now() + 86_400_000) };
    const fromRedis = await buildReport({ redis, keys, ledger }, window);
    expect(fromRedis.totals.emails).toBe(63);
    expect(fromRedis.totals.shadow.emails).toBe(6);
    expect(fromRedis.totals.cases).toMatchObject({ opened: 6, follow_ups: 6, reopens: 6 });

    const store = await (await backend.place(dir)).open();
    // Half archived, then the other half written to the store but left in Redis too (an archive cut short).
    await archiveRested({ redis, keys, store }, { olderThanMs: 0, maxEmails: 30 });
    const left = await redis.zrange(keys.emailsByTime(), 0, -1);
    const copies = [];
    for (const e of left.slice(0, 10)) {
      const emailId = EmailId.parse(e);
      const record = await ledger.get(emailId);
      if (record) copies.push({ record, events: await audit.read(emailId), labels: [] });
    }
    await store.put(copies);
    const history = { between: store.between, aggregate: store.aggregate };
    expect(await buildReport({ redis, keys, ledger, history }, window)).toEqual(fromRedis);
    // The report page's way (each email folded, from its trail) agrees.
    expect(await buildReport({ redis, keys, ledger, history }, window, () => undefined)).toEqual(fromRedis);
    await store.close();

    // A file from before the sums (SQLite's migration 3; PostgreSQL had them from its first): they are computed when it is opened.
    if (backend.name !== 'sqlite') return;
    const file = sqliteHistoryFile(dir);
    const db = new DatabaseSync(file);
    // As it was at version 2: no facts, no day sums (their migrations run again when it is opened).
    db.exec('DROP TABLE day_counts; DROP TABLE day_sums; DROP TABLE fact_counts; DROP TABLE facts; PRAGMA user_version = 2;');
    db.close();
    const reopened = openSqliteHistoryStore(file);
    try {
      expect(await buildReport({ redis, keys, ledger, history: { between: reopened.between, aggregate: reopened.aggregate } }, window)).toEqual(fromRedis);
    } finally {
      await reopened.close();
    }
  });
  it('adds up whole days and edge days to what the trails in Redis said: windows cut mid-day, emails put again, forgotten and pruned', async () => {
    const keys = redisKeys(server.prefix());
    const day0 = Date.parse('2026-11-01T00:00:00Z');
    const hour = 3_600_000;
    let t = day0;
    const clock = () => new Date((t += 1_000));
    const ledger = createEmailLedger(redis, keys, clock);
    const audit = createAuditTrail(redis, keys, clock);
    // 60 emails 2.5 hours apart: a little over six days, each day holding every kind of email.
    const created: number[] = [];
    for (let i = 0; i < 60; i++) {
      const k = kinds[i % kinds.length];
      if (!k) continue;
      t = day0 + 3 * hour + i * 2.5 * hour + (i % 7) * 60_000;
      created.push(t + 1_000);
      await ledger.create(id(i + 1), 'file', { ...(k.mailbox ? { mailbox: k.mailbox } : {}), ...(k.shadow ? { mode: 'shadow' as const } : {}) });
      // Parked for a while that differs per email, so the median is of real values.
      for (const [type, data] of k.events) {
        if (type === 'approved' || type === 'rejected') t += i * 7_000;
        await audit.append(id(i + 1), type, 'test', data);
      }
      await ledger.setState(id(i + 1), k.state, { category: k.category, reason: k.reason ?? '', robot: k.robot ?? '' });
      // Redis indexes intake by the real time; here by the clock's, as it is when the two agree.
      await redis.zadd(keys.emailsByTime(), created[created.length - 1] ?? 0, id(i + 1));
    }
    const at = (ms: number) => new Date(ms);
    const windows = [
      { since: at(day0 - 86_400_000), until: at(day0 + 8 * 86_400_000) },
      // Whole days in between, cut mid-day at both ends.
      { since: at(day0 + 13 * hour + 7 * 60_000), until: at(day0 + 5 * 86_400_000 + 9 * hour) },
      // Exactly whole days.
      { since: at(day0 + 86_400_000), until: at(day0 + 3 * 86_400_000) },
      // Within one day, and across one midnight with no whole day.
      { since: at(day0 + 2 * 86_400_000 + 2 * hour), until: at(day0 + 2 * 86_400_000 + 20 * hour) },
      { since: at(day0 + 2 * 86_400_000 - 5 * hour), until: at(day0 + 2 * 86_400_000 + 5 * hour) },
      // Both ends on an email's own intake time (the window holds both).
      { since: at(created[10] ?? 0), until: at(created[40] ?? 0) },
    ];
    const fromRedis = await Promise.all(windows.map((w) => buildReport({ redis, keys, ledger }, w)));
    expect(fromRedis.map((r) => r.totals.emails)).toEqual([60, 46, 19, 7, 4, 31]);
    expect(fromRedis[0]?.totals.decisions).toBe(12);

    const store = await (await backend.place()).open();
    try {
      const history = { between: store.between, aggregate: store.aggregate };
      const report = (w: { since: Date; until: Date }) => buildReport({ redis, keys, ledger, history }, w);
      /** The report's way that reads no sums: each email folded from its trail in the store. */
      const folded = (w: { since: Date; until: Date }) => buildReport({ redis, keys, ledger, history }, w, () => undefined);
      const all = () => Promise.all(windows.map(report));

      // Half archived; copies of some left in Redis written to the store too (they count once, from Redis).
      await archiveRested({ redis, keys, store }, { olderThanMs: 0, maxEmails: 30 });
      const copies = [];
      for (const e of (await redis.zrange(keys.emailsByTime(), 0, -1)).filter((_, i) => i % 2 === 0)) {
        const emailId = EmailId.parse(e);
        const record = await ledger.get(emailId);
        if (record) copies.push({ record, events: await audit.read(emailId), labels: [] });
      }
      await store.put(copies);
      expect(await all()).toEqual(fromRedis);

      // The rest archived, then every email put again, some twice in one batch: nothing doubles.
      await archiveRested({ redis, keys, store }, { olderThanMs: 0 });
      expect(await redis.zcard(keys.emailsByTime())).toBe(0);
      const stored = [];
      for await (const e of store.between(windows[0]?.since ?? at(0), windows[0]?.until ?? at(0))) stored.push(e);
      expect(stored).toHaveLength(60);
      await store.put([...stored, ...stored.slice(0, 5)]);
      await store.put(stored.slice(20, 30));
      expect(await all()).toEqual(fromRedis);

      // Forgotten emails and pruned ones leave the sums: they go down to what the trails left say.
      const gone = stored.filter((_, i) => i % 4 === 1).map((e) => e.record.emailId);
      expect(await store.remove(gone)).toBe(15);
      const pruned = await store.prune(at(day0 + 86_400_000 + 12 * hour));
      expect(pruned).toBeGreaterThan(0);
      const after = await all();
      expect(after[0]?.totals.emails).toBe(60 - 15 - pruned);
      for (const [i, w] of windows.entries()) expect(after[i]).toEqual(await folded(w));
      expect(after[1]?.totals.emails).toBeLessThan(fromRedis[1]?.totals.emails ?? 0);
      // Nothing left: every sum is gone, not a row of zeros.
      await store.remove(stored.map((e) => e.record.emailId));
      expect((await report(windows[0] ?? { since: at(0), until: at(0) })).mailboxes).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
