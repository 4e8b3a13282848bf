import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { z } from 'zod';
import { AuditEvent } from '../audit/audit-trail.js';
import { EmailRecord } from '../audit/email-ledger.js';
import { EmailId } from '../ids.js';
import { Erasure, type HistoryStore } from './history-store.js';

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
/** `LIKE` with `\\` as its escape: the needle's own `%`, `_` and `\\` match only themselves. */
const likeEscaped = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

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
  const upsert = db.prepare(
    `INSERT INTO emails (email_id, state, created_at, updated_at, category, mailbox, mode, record, labels)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (email_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at,
       category = excluded.category, mailbox = excluded.mailbox, mode = excluded.mode,
       record = excluded.record, labels = excluded.labels`,
  );
  const dropEvents = db.prepare('DELETE FROM events WHERE email_id = ?');
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
  const countEmails = db.prepare('SELECT count(*) AS n FROM emails');
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
  return {
    async put(emails) {
      // Typed by the caller, which parsed what it read from Redis (archive.ts): no second parse.
      const parsed = emails;
      inTransaction(() => {
        for (const { record: r, events, labels } of parsed) {
          upsert.run(r.emailId, r.state, r.createdAt, r.updatedAt, r.category, r.mailbox, r.mode, JSON.stringify(r), JSON.stringify(labels));
          dropEvents.run(r.emailId);
          events.forEach((e, seq) => addEvent.run(r.emailId, seq, e.ts, e.type, e.actor, JSON.stringify(e.data)));
        }
      });
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
    async prune(cutoff) {
      return Number(pruneBefore.run(cutoff.toISOString()).changes);
    },
    async mentioning(needle) {
      return mentions.all(`%${likeEscaped(needle.toLowerCase())}%`).map((r) => IdRow.parse(r).email_id);
    },
    async remove(ids) {
      return inTransaction(() => ids.reduce((n, id) => n + Number(removeOne.run(id).changes), 0));
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
