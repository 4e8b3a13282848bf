import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createAuditTrail, type AuditType } from '../../src/audit/audit-trail.js';
import { createEmailLedger, type EmailState } from '../../src/audit/email-ledger.js';
import { buildReport } from '../../src/audit/report.js';
import { archiveRested } from '../../src/history/archive.js';
import { sqliteHistoryFile } from '../../src/history/open-history-store.js';
import { openSqliteHistoryStore } from '../../src/history/sqlite-history-store.js';
import { EmailId } from '../../src/ids.js';
import { createRedis, type Redis } from '../../src/queues/connection.js';
import { redisKeys } from '../../src/queues/keys.js';
import { describeEachBackend } from '../harness/history-backends.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';

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
    ];
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
    expect(fromRedis.totals.shadow.emails).toBe(7);
    expect(fromRedis.totals.cases).toMatchObject({ opened: 7, follow_ups: 7, reopens: 7 });

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
    db.exec('DELETE FROM fact_counts; DELETE FROM facts;');
    db.close();
    const reopened = openSqliteHistoryStore(file);
    try {
      expect(await buildReport({ redis, keys, ledger, history: { between: reopened.between, aggregate: reopened.aggregate } }, window)).toEqual(fromRedis);
    } finally {
      await reopened.close();
    }
  });
});
