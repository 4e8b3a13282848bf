import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { z } from 'zod';
import { AuditEvent } from '../audit/audit-trail.js';
import { EmailRecord } from '../audit/email-ledger.js';
import { EmailId } from '../kernel/ids.js';
import { Erasure, type ArchivedEmail, type HistoryStore } from './history-store.js';
import { DAY_SUMS_EMPTIED, daySumsChange, daySumsQueries, dayWindow } from './day-sums.js';
import { COUNTER_COLUMNS, emailSums, likeEscaped, sumFacts } from './store-sums.js';

/**
 * The schema, one migration a step; `PRAGMA user_version` says how many have run. Append only:
 * a shipped migration is never edited.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE emails (
     email_id TEXT PRIMARY KEY,
     state TEXT NOT NULL,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     category TEXT NOT NULL,
     mailbox TEXT NOT NULL,
     mode TEXT NOT NULL,
     record TEXT NOT NULL,
     labels TEXT NOT NULL
   );
   CREATE INDEX emails_created_at ON emails (created_at);
   CREATE TABLE events (
     email_id TEXT NOT NULL REFERENCES emails (email_id) ON DELETE CASCADE,
     seq INTEGER NOT NULL,
     ts TEXT NOT NULL,
     type TEXT NOT NULL,
     actor TEXT NOT NULL,
     data TEXT NOT NULL,
     PRIMARY KEY (email_id, seq)
   );`,
  `CREATE INDEX emails_updated_at ON emails (updated_at);
   CREATE TABLE erasures (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at TEXT NOT NULL,
     by TEXT NOT NULL,
     emails INTEGER NOT NULL,
     redis_keys INTEGER NOT NULL
   );`,
  // The report's sums of each email (src/report/report.ts reportSums), so a report never reads trails.
  `CREATE TABLE facts (
     email_id TEXT PRIMARY KEY REFERENCES emails (email_id) ON DELETE CASCADE,
     created_at TEXT NOT NULL,
     mailbox TEXT NOT NULL,
     category TEXT NOT NULL,
     c_emails INTEGER NOT NULL,
     c_completed INTEGER NOT NULL,
     c_parked INTEGER NOT NULL,
     c_approved INTEGER NOT NULL,
     c_rejected INTEGER NOT NULL,
     c_escalated INTEGER NOT NULL,
     c_quarantined INTEGER NOT NULL,
     c_shadowed INTEGER NOT NULL,
     c_awaiting INTEGER NOT NULL,
     c_replans INTEGER NOT NULL,
     c_planned INTEGER NOT NULL,
     c_hits INTEGER NOT NULL,
     c_misses INTEGER NOT NULL,
     c_shadowEmails INTEGER NOT NULL,
     c_auto INTEGER NOT NULL,
     c_wouldPark INTEGER NOT NULL,
     c_wouldSend INTEGER NOT NULL,
     decision_ms REAL
   );
   CREATE INDEX facts_created_at ON facts (created_at, mailbox, category);
   CREATE TABLE fact_counts (
     email_id TEXT NOT NULL REFERENCES emails (email_id) ON DELETE CASCADE,
     kind TEXT NOT NULL,
     key TEXT NOT NULL,
     n INTEGER NOT NULL,
     m INTEGER NOT NULL DEFAULT 0
   );
   CREATE INDEX fact_counts_email ON fact_counts (email_id);`,
  // Cases (issue 32): what each email adds to the case figures; 0 for emails archived before.
  `ALTER TABLE facts ADD COLUMN c_cases INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE facts ADD COLUMN c_followUps INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE facts ADD COLUMN c_firstResolved INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE facts ADD COLUMN c_reopens INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE facts ADD COLUMN c_reopensFirst INTEGER NOT NULL DEFAULT 0;`,
  // Per-day sums (issue 31, src/history/day-sums.ts): a report reads whole days from them, and
  // decision times by a partial index. Backfilled from the facts there are; the columns are written
  // out (not COUNTER_COLUMNS) because this migration is frozen while the counters may grow.
  `CREATE TABLE day_sums (
     day TEXT NOT NULL,
     mailbox TEXT NOT NULL,
     category TEXT NOT NULL,
     c_emails INTEGER NOT NULL DEFAULT 0,
     c_completed INTEGER NOT NULL DEFAULT 0,
     c_parked INTEGER NOT NULL DEFAULT 0,
     c_approved INTEGER NOT NULL DEFAULT 0,
     c_rejected INTEGER NOT NULL DEFAULT 0,
     c_escalated INTEGER NOT NULL DEFAULT 0,
     c_quarantined INTEGER NOT NULL DEFAULT 0,
     c_shadowed INTEGER NOT NULL DEFAULT 0,
     c_awaiting INTEGER NOT NULL DEFAULT 0,
     c_replans INTEGER NOT NULL DEFAULT 0,
     c_planned INTEGER NOT NULL DEFAULT 0,
     c_hits INTEGER NOT NULL DEFAULT 0,
     c_misses INTEGER NOT NULL DEFAULT 0,
     c_shadowEmails INTEGER NOT NULL DEFAULT 0,
     c_auto INTEGER NOT NULL DEFAULT 0,
     c_wouldPark INTEGER NOT NULL DEFAULT 0,
     c_wouldSend INTEGER NOT NULL DEFAULT 0,
     c_cases INTEGER NOT NULL DEFAULT 0,
     c_followUps INTEGER NOT NULL DEFAULT 0,
     c_firstResolved INTEGER NOT NULL DEFAULT 0,
     c_reopens INTEGER NOT NULL DEFAULT 0,
     c_reopensFirst INTEGER NOT NULL DEFAULT 0,
     PRIMARY KEY (day, mailbox, category)
   ) WITHOUT ROWID;
   CREATE TABLE day_counts (
     day TEXT NOT NULL,
     mailbox TEXT NOT NULL,
     category TEXT NOT NULL,
     kind TEXT NOT NULL,
     key TEXT NOT NULL,
     n INTEGER NOT NULL,
     m INTEGER NOT NULL,
     e INTEGER NOT NULL,
     PRIMARY KEY (day, mailbox, category, kind, key)
   ) WITHOUT ROWID;
   CREATE INDEX facts_decisions ON facts (created_at, mailbox, category, decision_ms, email_id) WHERE decision_ms IS NOT NULL;
   INSERT INTO day_sums (day, mailbox, category, c_emails, c_completed, c_parked, c_approved, c_rejected, c_escalated, c_quarantined, c_shadowed, c_awaiting, c_replans, c_planned, c_hits, c_misses, c_shadowEmails, c_auto, c_wouldPark, c_wouldSend, c_cases, c_followUps, c_firstResolved, c_reopens, c_reopensFirst)
     SELECT substr(created_at, 1, 10), mailbox, category, sum(c_emails), sum(c_completed), sum(c_parked), sum(c_approved), sum(c_rejected), sum(c_escalated), sum(c_quarantined), sum(c_shadowed), sum(c_awaiting), sum(c_replans), sum(c_planned), sum(c_hits), sum(c_misses), sum(c_shadowEmails), sum(c_auto), sum(c_wouldPark), sum(c_wouldSend), sum(c_cases), sum(c_followUps), sum(c_firstResolved), sum(c_reopens), sum(c_reopensFirst)
     FROM facts GROUP BY substr(created_at, 1, 10), mailbox, category;
   INSERT INTO day_counts (day, mailbox, category, kind, key, n, m, e)
     SELECT substr(f.created_at, 1, 10), f.mailbox, f.category, c.kind, c.key, sum(c.n), sum(c.m), count(*)
     FROM facts f JOIN fact_counts c ON c.email_id = f.email_id
     GROUP BY substr(f.created_at, 1, 10), f.mailbox, f.category, c.kind, c.key;`,
];

const Version = z.object({ user_version: z.number().int() });
const EmailRow = z.object({ record: z.string(), labels: z.string() });
const EventRow = z.object({ ts: z.string(), type: z.string(), actor: z.string(), data: z.string() });
const PageRow = EmailRow.extend({ email_id: z.string() });
const Labels = z.array(z.string());
/** Emails read per page by `between`. */
const PAGE = 500;
const CountRow = z.object({ n: z.number().int() });
const IdRow = z.object({ email_id: EmailId });
const ErasureRow = z.object({ at: z.string(), by: z.string(), emails: z.number().int(), redis_keys: z.number().int() });

/** Runs the migrations the file has not seen yet, each in its own transaction. */
function migrate(db: DatabaseSync): void {
  const version = Version.parse(db.prepare('PRAGMA user_version').get()).user_version;
  for (let i = version; i < MIGRATIONS.length; i++) {
    db.exec('BEGIN');
    try {
      db.exec(MIGRATIONS[i] ?? '');
      db.exec(`PRAGMA user_version = ${i + 1}`);
      db.exec('COMMIT');
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    }
  }
}

/**
 * The history store in one SQLite file (Node's built-in `node:sqlite`: no native addon);
 * `:memory:` for one that lives as long as the process.
 */
export function openSqliteHistoryStore(file: string): HistoryStore {
  if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
  const db = new DatabaseSync(file);
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA secure_delete = ON;');
  migrate(db);
  // The emails a report counts from Redis, left out of the store's sums (HistoryStore.aggregate).
  db.exec('CREATE TEMP TABLE skip (email_id TEXT PRIMARY KEY)');
  const upsert = db.prepare(
    `INSERT INTO emails (email_id, state, created_at, updated_at, category, mailbox, mode, record, labels)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (email_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at,
       category = excluded.category, mailbox = excluded.mailbox, mode = excluded.mode,
       record = excluded.record, labels = excluded.labels`,
  );
  const dropEvents = db.prepare('DELETE FROM events WHERE email_id = ?');
  const dropFacts = db.prepare('DELETE FROM facts WHERE email_id = ?');
  const dropCounts = db.prepare('DELETE FROM fact_counts WHERE email_id = ?');
  const addFacts = db.prepare(
    `INSERT INTO facts (email_id, created_at, mailbox, category, ${COUNTER_COLUMNS.join(', ')}, decision_ms)
     VALUES (?, ?, ?, ?, ${COUNTER_COLUMNS.map(() => '?').join(', ')}, ?)`,
  );
  const addCount = db.prepare('INSERT INTO fact_counts (email_id, kind, key, n, m) VALUES (?, ?, ?, ?, ?)');
  /** Keeps the report's sums of one email (replacing earlier ones). */
  const writeFacts = (email: Pick<ArchivedEmail, 'record' | 'events'>) => {
    const f = emailSums(email);
    dropFacts.run(f.emailId);
    dropCounts.run(f.emailId);
    addFacts.run(f.emailId, f.createdAt, f.mailbox, f.category, ...f.counters, f.decisionMs);
    for (const c of f.counts) addCount.run(f.emailId, c.kind, c.key, c.n, c.m);
  };
  const sums = daySumsQueries({ p: (i) => `?${i}`, skip: () => 'SELECT email_id FROM temp.skip', alias: (c) => c });
  const sumGroups = db.prepare(sums.groups);
  const sumCounts = db.prepare(sums.counts);
  const decisions = db.prepare(sums.decisions);
  /** Takes out (before) and adds back (after) the day sums of the emails whose ids are the JSON array bound first. */
  const dayChange = (sign: 1 | -1, ids: string) => daySumsChange(sign, ids).map((sql) => db.prepare(sql));
  const [takeOut, addIn] = [dayChange(-1, 'SELECT value FROM json_each(?1)'), dayChange(1, 'SELECT value FROM json_each(?1)')];
  const takeOutPruned = dayChange(-1, 'SELECT email_id FROM emails WHERE updated_at < ?1');
  const dropEmptied = DAY_SUMS_EMPTIED.map((sql) => db.prepare(sql));
  /** Runs `write` between taking out the day sums of the emails `ids` and adding back what they then are. */
  const keepingDaySums = <T>(ids: readonly string[], write: () => T): T => {
    const json = JSON.stringify(ids);
    for (const st of takeOut) st.run(json);
    const out = write();
    for (const st of addIn) st.run(json);
    return out;
  };
  const addEvent = db.prepare('INSERT INTO events (email_id, seq, ts, type, actor, data) VALUES (?, ?, ?, ?, ?, ?)');
  const getEmail = db.prepare('SELECT record, labels FROM emails WHERE email_id = ?');
  const getEvents = db.prepare('SELECT ts, type, actor, data FROM events WHERE email_id = ? ORDER BY seq');
  const page = db.prepare(
    'SELECT email_id, record, labels FROM emails WHERE created_at >= ? AND created_at <= ? AND (created_at > ? OR (created_at = ? AND email_id > ?)) ORDER BY created_at, email_id LIMIT ?',
  );
  const readEvents = (emailId: string) =>
    getEvents.all(emailId).map((raw) => {
      const e = EventRow.parse(raw);
      return AuditEvent.parse({ ts: e.ts, type: e.type, actor: e.actor, data: JSON.parse(e.data) });
    });
  const addSkip = db.prepare('INSERT OR IGNORE INTO temp.skip (email_id) VALUES (?)');
  const countEmails = db.prepare('SELECT count(*) AS n FROM emails');
  const withoutFacts = db.prepare('SELECT email_id FROM emails WHERE email_id NOT IN (SELECT email_id FROM facts) LIMIT 500');
  const pruneBefore = db.prepare('DELETE FROM emails WHERE updated_at < ?');
  const removeOne = db.prepare('DELETE FROM emails WHERE email_id = ?');
  // JSON escapes only quotes, backslashes and controls, none of which an address needs.
  const mentions = db.prepare("SELECT DISTINCT email_id FROM events WHERE lower(data) LIKE ? ESCAPE '\\'");
  const addErasure = db.prepare('INSERT INTO erasures (at, by, emails, redis_keys) VALUES (?, ?, ?, ?)');
  const listErasures = db.prepare('SELECT at, by, emails, redis_keys FROM erasures ORDER BY id');
  /** Runs `fn` in one transaction. */
  const inTransaction = <T>(fn: () => T): T => {
    db.exec('BEGIN');
    try {
      const out = fn();
      db.exec('COMMIT');
      return out;
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    }
  };
  // Emails archived before the facts table (migration 3) get their sums once, a page at a time.
  for (let page = withoutFacts.all(); page.length; page = withoutFacts.all()) {
    const ids = page.map((raw) => IdRow.parse(raw).email_id);
    inTransaction(() =>
      keepingDaySums(ids, () => {
        for (const id of ids) {
          const row = getEmail.get(id);
          if (row !== undefined) writeFacts({ record: EmailRecord.parse(JSON.parse(EmailRow.parse(row).record)), events: readEvents(id) });
        }
      }),
    );
  }
  return {
    async put(emails) {
      // Typed by the caller, which parsed what it read from Redis (archive.ts): no second parse.
      const parsed = emails;
      inTransaction(() =>
        keepingDaySums(
          parsed.map((e) => e.record.emailId),
          () => {
            for (const { record: r, events, labels } of parsed) {
              upsert.run(r.emailId, r.state, r.createdAt, r.updatedAt, r.category, r.mailbox, r.mode, JSON.stringify(r), JSON.stringify(labels));
              dropEvents.run(r.emailId);
              events.forEach((e, seq) => addEvent.run(r.emailId, seq, e.ts, e.type, e.actor, JSON.stringify(e.data)));
              writeFacts({ record: r, events });
            }
          },
        ),
      );
    },
    async get(emailId) {
      const row = getEmail.get(emailId);
      if (row === undefined) return null;
      const { record, labels } = EmailRow.parse(row);
      return { record: EmailRecord.parse(JSON.parse(record)), events: readEvents(emailId), labels: Labels.parse(JSON.parse(labels)) };
    },
    async *between(since, until) {
      const [from, to] = [since.toISOString(), until.toISOString()];
      // Keyset pages: memory holds one page, and a page is one indexed range scan.
      let after = { createdAt: '', emailId: '' };
      for (;;) {
        const rows = page.all(from, to, after.createdAt, after.createdAt, after.emailId, PAGE).map((r) => PageRow.parse(r));
        for (const row of rows) {
          const record = EmailRecord.parse(JSON.parse(row.record));
          yield { record, events: readEvents(row.email_id), labels: Labels.parse(JSON.parse(row.labels)) };
          after = { createdAt: record.createdAt, emailId: row.email_id };
        }
        if (rows.length < PAGE) return;
      }
    },
    async count() {
      return CountRow.parse(countEmails.get()).n;
    },
    async aggregate(since, until, skip) {
      const w = dayWindow(since, until);
      return inTransaction(() => {
        db.exec('DELETE FROM temp.skip');
        for (const id of skip) addSkip.run(id);
        return sumFacts(sumGroups.all(...w), sumCounts.all(...w), decisions.all(since.toISOString(), until.toISOString()));
      });
    },
    async prune(cutoff) {
      const at = cutoff.toISOString();
      return inTransaction(() => {
        for (const st of takeOutPruned) st.run(at);
        const n = Number(pruneBefore.run(at).changes);
        for (const st of dropEmptied) st.run();
        return n;
      });
    },
    async mentioning(needle) {
      return mentions.all(`%${likeEscaped(needle.toLowerCase())}%`).map((r) => IdRow.parse(r).email_id);
    },
    async remove(ids) {
      return inTransaction(() => {
        for (const st of takeOut) st.run(JSON.stringify(ids));
        const n = ids.reduce((sum, id) => sum + Number(removeOne.run(id).changes), 0);
        for (const st of dropEmptied) st.run();
        return n;
      });
    },
    async recordErasure(erasure) {
      const e = Erasure.parse(erasure);
      addErasure.run(e.at, e.by, e.emails, e.redisKeys);
    },
    async erasures() {
      return listErasures.all().map((raw) => {
        const r = ErasureRow.parse(raw);
        return { at: r.at, by: r.by, emails: r.emails, redisKeys: r.redis_keys };
      });
    },
    async compact() {
      db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    },
    async close() {
      if (db.isOpen) db.close();
    },
  };
}
