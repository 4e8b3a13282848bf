import { Pool, type PoolClient } from 'pg';
import { z } from 'zod';
import { AuditEvent } from '../audit/audit-trail.js';
import { EmailRecord } from '../audit/email-ledger.js';
import { MailroomError } from '../kernel/errors.js';
import { EmailId } from '../kernel/ids.js';
import { redactUrl } from '../config/redis-target.js';
import { Erasure, type ArchivedEmail, type HistoryStore } from './history-store.js';
import { DAY_SUMS_EMPTIED, daySumsChange, daySumsQueries, dayWindow } from './day-sums.js';
import { COUNTER_COLUMNS, emailSums, likeEscaped, sumFacts } from './store-sums.js';

/**
 * The schema, one migration a step; the `schema_version` table says how many have run. Append
 * only: a shipped migration is never edited. The same tables and columns as the SQLite store's
 * (src/history/sqlite-history-store.ts), in one step since there are no older databases to carry.
 * Times stay ISO-8601 text (what the ledger writes, ordered the same way) and a trail's data stays
 * the JSON text it was in Redis, so that an email comes back byte for byte (`jsonb` would reorder
 * its keys). The DDL is written out here rather than shared with SQLite's: a shipped migration is
 * frozen per dialect, and a shared string edited for one would silently rewrite the other's.
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
   CREATE INDEX emails_created_at ON emails (created_at, email_id);
   CREATE INDEX emails_updated_at ON emails (updated_at);
   CREATE TABLE events (
     email_id TEXT NOT NULL REFERENCES emails (email_id) ON DELETE CASCADE,
     seq INTEGER NOT NULL,
     ts TEXT NOT NULL,
     type TEXT NOT NULL,
     actor TEXT NOT NULL,
     data TEXT NOT NULL,
     PRIMARY KEY (email_id, seq)
   );
   CREATE TABLE erasures (
     id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     at TEXT NOT NULL,
     by TEXT NOT NULL,
     emails INTEGER NOT NULL,
     redis_keys INTEGER NOT NULL
   );
   CREATE TABLE facts (
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
     decision_ms DOUBLE PRECISION
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
   );
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
   );
   CREATE INDEX facts_decisions ON facts (created_at, mailbox, category, decision_ms, email_id) WHERE decision_ms IS NOT NULL;
   INSERT INTO day_sums (day, mailbox, category, c_emails, c_completed, c_parked, c_approved, c_rejected, c_escalated, c_quarantined, c_shadowed, c_awaiting, c_replans, c_planned, c_hits, c_misses, c_shadowEmails, c_auto, c_wouldPark, c_wouldSend, c_cases, c_followUps, c_firstResolved, c_reopens, c_reopensFirst)
     SELECT substr(created_at, 1, 10), mailbox, category, sum(c_emails), sum(c_completed), sum(c_parked), sum(c_approved), sum(c_rejected), sum(c_escalated), sum(c_quarantined), sum(c_shadowed), sum(c_awaiting), sum(c_replans), sum(c_planned), sum(c_hits), sum(c_misses), sum(c_shadowEmails), sum(c_auto), sum(c_wouldPark), sum(c_wouldSend), sum(c_cases), sum(c_followUps), sum(c_firstResolved), sum(c_reopens), sum(c_reopensFirst)
     FROM facts GROUP BY substr(created_at, 1, 10), mailbox, category;
   INSERT INTO day_counts (day, mailbox, category, kind, key, n, m, e)
     SELECT substr(f.created_at, 1, 10), f.mailbox, f.category, c.kind, c.key, sum(c.n), sum(c.m), count(*)
     FROM facts f JOIN fact_counts c ON c.email_id = f.email_id
     GROUP BY substr(f.created_at, 1, 10), f.mailbox, f.category, c.kind, c.key;`,
];

/** Serialises migrations between hosts starting at once (`pg_advisory_xact_lock`); any constant of ours. */
const MIGRATION_LOCK = 0x6d61696c; // "mail"
/**
 * Serialises the transactions that change the day sums (put, prune, remove), taken first in each:
 * every archive touches today's rows, so they would wait for each other anyway, and one lock taken
 * before any row's cannot deadlock against another's.
 */
const DAY_SUMS_LOCK = 0x64617973; // "days"
/** Emails read per page by `between`. */
const PAGE = 500;
/** How long opening waits for the server, in ms. */
const CONNECT_TIMEOUT_MS = 5_000;

const VersionRow = z.object({ version: z.number().int() });
const EmailRow = z.object({ email_id: z.string(), record: z.string(), labels: z.string() });
const EventRow = z.object({ email_id: z.string(), ts: z.string(), type: z.string(), actor: z.string(), data: z.string() });
const GetRow = z.object({ record: z.string(), labels: z.string(), ts: z.string().nullable(), type: z.string().nullable(), actor: z.string().nullable(), data: z.string().nullable() });
const CountRow = z.object({ n: z.number().int() });
const IdRow = z.object({ email_id: EmailId });
const ErasureRow = z.object({ at: z.string(), by: z.string(), emails: z.number().int(), redis_keys: z.number().int() });
const Labels = z.array(z.string());

/**
 * PostgreSQL text cannot hold NUL (SQLite's can). Records and trails are stored as JSON, which
 * escapes it; the few plain columns beside them get U+FFFD, as a reader would show it anyway.
 */
const text = (s: string) => s.replaceAll('\u0000', '\ufffd');

const toEvent = (e: { ts: string; type: string; actor: string; data: string }) => AuditEvent.parse({ ts: e.ts, type: e.type, actor: e.actor, data: JSON.parse(e.data) });

/** Runs `fn` in one transaction on one connection; a connection whose rollback failed is dropped. */
async function inTransaction<T>(pool: Pool, fn: (c: PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query(begin);
    const out = await fn(client);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch((e: unknown) => {
      broken = e instanceof Error ? e : new Error(String(e));
    });
    throw err;
  } finally {
    client.release(broken);
  }
}

/** Runs the migrations the database has not seen yet, under a lock so that two hosts never race. */
async function migrate(pool: Pool): Promise<void> {
  await inTransaction(pool, async (c) => {
    await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await c.query('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
    const rows = (await c.query('SELECT version FROM schema_version')).rows.map((r) => VersionRow.parse(r));
    const version = rows[0]?.version ?? 0;
    if (rows.length === 0) await c.query('INSERT INTO schema_version (version) VALUES (0)');
    if (version > MIGRATIONS.length) {
      throw new MailroomError('CONFIG_INVALID', `the history store's schema is version ${version}, newer than this Mailroom knows (${MIGRATIONS.length}): upgrade Mailroom on this host`);
    }
    for (let i = version; i < MIGRATIONS.length; i++) await c.query(MIGRATIONS[i] ?? '');
    await c.query('UPDATE schema_version SET version = $1', [MIGRATIONS.length]);
  });
}

/** A failure to reach or log in to the server, as one line without the password. */
function unreachable(url: string, err: unknown): MailroomError {
  const password = (() => {
    try {
      return decodeURIComponent(new URL(url).password);
    } catch {
      return '';
    }
  })();
  let reason = err instanceof Error ? err.message || err.name : String(err);
  if (password) reason = reason.replaceAll(password, '***');
  return new MailroomError(
    'DATABASE_UNREACHABLE',
    `PostgreSQL at ${redactUrl(url)} is unreachable (${reason}); start it (e.g. systemctl start postgresql), fix DATABASE_URL, or unset it to keep the history in <MAILROOM_DATA_DIR>/history.sqlite`,
    { cause: err },
  );
}

/**
 * The history store in PostgreSQL (`DATABASE_URL`), for several hosts sharing one store: the same
 * schema and semantics as the SQLite file's. Connects and migrates before it returns, so a wrong
 * URL or a server that is down is one clear error at start (`MAILROOM_DATABASE_UNREACHABLE`).
 */
export async function openPostgresHistoryStore(url: string, options: { connectTimeoutMs?: number } = {}): Promise<HistoryStore> {
  const pool = new Pool({ connectionString: url, max: 4, connectionTimeoutMillis: options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS, application_name: 'mailroom' });
  // An idle connection the server closed (a restart) errors on the pool; the next query reconnects.
  pool.on('error', () => undefined);
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw unreachable(url, err);
  }
  try {
    await migrate(pool);
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
  const query = async (text: string, values: unknown[] = []) => (await pool.query(text, values)).rows;
  const sums = daySumsQueries({ p: (i) => `$${i}`, skip: (i) => `SELECT unnest($${i}::text[])`, alias: (c) => `"${c}"` });
  const [takeOut, addIn] = [daySumsChange(-1, 'SELECT unnest($1::text[])'), daySumsChange(1, 'SELECT unnest($1::text[])')];
  const takeOutPruned = daySumsChange(-1, 'SELECT email_id FROM emails WHERE updated_at < $1');
  const lockDaySums = (c: PoolClient) => c.query('SELECT pg_advisory_xact_lock($1)', [DAY_SUMS_LOCK]);
  const runAll = async (c: PoolClient, statements: readonly string[], values: unknown[] = []) => {
    for (const sql of statements) await c.query(sql, values);
  };
  let closing: Promise<void> | undefined;
  return {
    async put(emails) {
      // One copy per email, the last one given, in id order: two hosts writing the same emails
      // lock their rows in the same order and wait for each other instead of deadlocking.
      const byId = new Map<string, ArchivedEmail>();
      for (const e of emails) byId.set(e.record.emailId, e);
      const list = [...byId.values()].sort((a, b) => (a.record.emailId < b.record.emailId ? -1 : 1));
      if (list.length === 0) return;
      const ids = list.map((e) => e.record.emailId);
      const col = <T>(f: (e: ArchivedEmail) => T) => list.map(f);
      const events = list.flatMap(({ record, events: ev }) => ev.map((e, seq) => ({ id: record.emailId, seq, e })));
      const facts = list.map(emailSums);
      const counts = facts.flatMap((f) => f.counts.map((c) => ({ id: f.emailId, ...c })));
      await inTransaction(pool, async (c) => {
        await lockDaySums(c);
        await c.query(
          `INSERT INTO emails (email_id, state, created_at, updated_at, category, mailbox, mode, record, labels)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
           ON CONFLICT (email_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at,
             category = excluded.category, mailbox = excluded.mailbox, mode = excluded.mode,
             record = excluded.record, labels = excluded.labels`,
          [ids, col((e) => e.record.state), col((e) => e.record.createdAt), col((e) => e.record.updatedAt), col((e) => text(e.record.category)), col((e) => text(e.record.mailbox)), col((e) => e.record.mode), col((e) => JSON.stringify(e.record)), col((e) => JSON.stringify(e.labels))],
        );
        await runAll(c, takeOut, [ids]);
        for (const table of ['events', 'facts', 'fact_counts']) await c.query(`DELETE FROM ${table} WHERE email_id = ANY($1::text[])`, [ids]);
        await c.query('INSERT INTO events (email_id, seq, ts, type, actor, data) SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[])', [
          events.map((r) => r.id),
          events.map((r) => r.seq),
          events.map((r) => r.e.ts),
          events.map((r) => r.e.type),
          events.map((r) => r.e.actor),
          events.map((r) => JSON.stringify(r.e.data)),
        ]);
        const n = COUNTER_COLUMNS.length;
        await c.query(
          `INSERT INTO facts (email_id, created_at, mailbox, category, ${COUNTER_COLUMNS.join(', ')}, decision_ms)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], ${COUNTER_COLUMNS.map((_, i) => `$${i + 5}::int[]`).join(', ')}, $${n + 5}::float8[])`,
          [facts.map((f) => f.emailId), facts.map((f) => f.createdAt), facts.map((f) => text(f.mailbox)), facts.map((f) => text(f.category)), ...COUNTER_COLUMNS.map((_, i) => facts.map((f) => f.counters[i] ?? 0)), facts.map((f) => f.decisionMs)],
        );
        await c.query('INSERT INTO fact_counts (email_id, kind, key, n, m) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::int[])', [
          counts.map((r) => r.id),
          counts.map((r) => r.kind),
          counts.map((r) => text(r.key)),
          counts.map((r) => r.n),
          counts.map((r) => r.m),
        ]);
        await runAll(c, addIn, [ids]);
      });
    },
    async get(emailId) {
      // One statement, one snapshot: the record and the trail a concurrent put left together.
      const rows = (await query('SELECT m.record, m.labels, v.ts, v.type, v.actor, v.data FROM emails m LEFT JOIN events v USING (email_id) WHERE m.email_id = $1 ORDER BY v.seq', [emailId])).map((r) => GetRow.parse(r));
      const first = rows[0];
      if (!first) return null;
      const events = rows.flatMap((r) => (r.ts !== null && r.type !== null && r.actor !== null && r.data !== null ? [toEvent({ ts: r.ts, type: r.type, actor: r.actor, data: r.data })] : []));
      return { record: EmailRecord.parse(JSON.parse(first.record)), events, labels: Labels.parse(JSON.parse(first.labels)) };
    },
    async *between(since, until) {
      const [from, to] = [since.toISOString(), until.toISOString()];
      // Keyset pages: memory holds one page; each page's records and trails are read in one snapshot.
      let after = { createdAt: '', emailId: '' };
      for (;;) {
        const page = await inTransaction(
          pool,
          async (c) => {
            const emails = (
              await c.query(
                'SELECT email_id, record, labels FROM emails WHERE created_at >= $1 AND created_at <= $2 AND (created_at, email_id) > ($3, $4) ORDER BY created_at, email_id LIMIT $5',
                [from, to, after.createdAt, after.emailId, PAGE],
              )
            ).rows.map((r) => EmailRow.parse(r));
            const events = emails.length
              ? (await c.query('SELECT email_id, ts, type, actor, data FROM events WHERE email_id = ANY($1::text[]) ORDER BY email_id, seq', [emails.map((e) => e.email_id)])).rows.map((r) => EventRow.parse(r))
              : [];
            return { emails, events };
          },
          'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
        );
        const trails = new Map<string, AuditEvent[]>();
        for (const e of page.events) trails.set(e.email_id, [...(trails.get(e.email_id) ?? []), toEvent(e)]);
        for (const row of page.emails) {
          const record = EmailRecord.parse(JSON.parse(row.record));
          yield { record, events: trails.get(row.email_id) ?? [], labels: Labels.parse(JSON.parse(row.labels)) };
          after = { createdAt: record.createdAt, emailId: row.email_id };
        }
        if (page.emails.length < PAGE) return;
      }
    },
    async count() {
      return CountRow.parse((await query('SELECT count(*)::int AS n FROM emails'))[0]).n;
    },
    async aggregate(since, until, skip) {
      const w = dayWindow(since, until);
      const args = [...w, [...skip]];
      return inTransaction(
        pool,
        async (c) => {
          const groups = await c.query(sums.groups, args);
          const counts = await c.query(sums.counts, args);
          const decisions = await c.query(sums.decisions, [since.toISOString(), until.toISOString(), [...skip]]);
          return sumFacts(groups.rows, counts.rows, decisions.rows);
        },
        'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
      );
    },
    async prune(cutoff) {
      return inTransaction(pool, async (c) => {
        await lockDaySums(c);
        await runAll(c, takeOutPruned, [cutoff.toISOString()]);
        const n = (await c.query('DELETE FROM emails WHERE updated_at < $1', [cutoff.toISOString()])).rowCount ?? 0;
        await runAll(c, DAY_SUMS_EMPTIED);
        return n;
      });
    },
    async mentioning(needle) {
      // JSON escapes only quotes, backslashes and controls, none of which an address needs.
      return (await query("SELECT DISTINCT email_id FROM events WHERE lower(data) LIKE $1 ESCAPE '\\'", [`%${likeEscaped(needle.toLowerCase())}%`])).map((r) => IdRow.parse(r).email_id);
    },
    async remove(ids) {
      if (ids.length === 0) return 0;
      return inTransaction(pool, async (c) => {
        await lockDaySums(c);
        await runAll(c, takeOut, [[...ids]]);
        const n = (await c.query('DELETE FROM emails WHERE email_id = ANY($1::text[])', [[...ids]])).rowCount ?? 0;
        await runAll(c, DAY_SUMS_EMPTIED);
        return n;
      });
    },
    async recordErasure(erasure) {
      const e = Erasure.parse(erasure);
      await pool.query('INSERT INTO erasures (at, by, emails, redis_keys) VALUES ($1, $2, $3, $4)', [e.at, e.by, e.emails, e.redisKeys]);
    },
    async erasures() {
      return (await query('SELECT at, by, emails, redis_keys FROM erasures ORDER BY id')).map((raw) => {
        const r = ErasureRow.parse(raw);
        return { at: r.at, by: r.by, emails: r.emails, redisKeys: r.redis_keys };
      });
    },
    async compact() {
      // Frees the deleted rows' space for reuse; PostgreSQL has no secure_delete, see README "Data and retention".
      await pool.query('VACUUM emails, events, facts, fact_counts, day_sums, day_counts');
    },
    close() {
      closing ??= pool.end();
      return closing;
    },
  };
}
