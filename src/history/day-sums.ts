import { COUNTER_COLUMNS } from './store-sums.js';

/**
 * Per-day sums of the `facts` (issue 31): `day_sums` holds, per UTC day (the first ten characters
 * of `created_at`), mailbox and category, the sum of each counter column; `day_counts` the sums of
 * `fact_counts` by the same and kind and key, with `e` the rows summed (so a key whose emails all
 * went is known to be gone, not a zero). A report reads whole days from them and only its partial
 * edge days from `facts`. They are kept equal to the sums of `facts` by set-based statements that
 * run in the same transaction as the rows they follow: the contribution of an email's old rows is
 * taken out before they are replaced or deleted and its new rows' added after they are written, so
 * re-putting an email (a re-run archive, a copy) never counts it twice.
 *
 * Both dialects run this DML; what differs is passed in: how a placeholder is spelled, the set of
 * ids a statement covers, the set of ids a report skips, and how a column alias is quoted.
 */
export interface DaySumsDialect {
  /** The `i`th bound value (1-based): `?1` in SQLite, `$1` in PostgreSQL. */
  p(i: number): string;
  /** A subquery of the emails a report leaves out (those it counts from Redis), when it is the `i`th value. */
  skip(i: number): string;
  /** An output column's alias as the driver will name it back (PostgreSQL folds unquoted ones). */
  alias(name: string): string;
}

const DAY = 'substr(f.created_at, 1, 10)';
/** A sum as a double: PostgreSQL's bigint would come back as text, and a count fits a double exactly. */
const total = (col: string) => `CAST(sum(${col}) AS DOUBLE PRECISION)`;

/** The statement that adds (`sign` 1) or takes out (-1) the facts of the emails in `ids` (a subquery). */
export function daySumsChange(sign: 1 | -1, ids: string): string[] {
  const s = sign < 0 ? '-' : '';
  return [
    `INSERT INTO day_sums (day, mailbox, category, ${COUNTER_COLUMNS.join(', ')})
     SELECT ${DAY}, f.mailbox, f.category, ${COUNTER_COLUMNS.map((c) => `${s}sum(f.${c})`).join(', ')}
     FROM facts f WHERE f.email_id IN (${ids}) GROUP BY ${DAY}, f.mailbox, f.category
     ON CONFLICT (day, mailbox, category) DO UPDATE SET ${COUNTER_COLUMNS.map((c) => `${c} = day_sums.${c} + excluded.${c}`).join(', ')}`,
    `INSERT INTO day_counts (day, mailbox, category, kind, key, n, m, e)
     SELECT ${DAY}, f.mailbox, f.category, c.kind, c.key, ${s}sum(c.n), ${s}sum(c.m), ${s}count(*)
     FROM facts f JOIN fact_counts c ON c.email_id = f.email_id WHERE f.email_id IN (${ids})
     GROUP BY ${DAY}, f.mailbox, f.category, c.kind, c.key
     ON CONFLICT (day, mailbox, category, kind, key) DO UPDATE SET n = day_counts.n + excluded.n, m = day_counts.m + excluded.m, e = day_counts.e + excluded.e`,
  ];
}

/** Rows whose emails all went (after a prune or an erasure): they add nothing, so they are dropped. */
export const DAY_SUMS_EMPTIED = ['DELETE FROM day_sums WHERE c_emails = 0', 'DELETE FROM day_counts WHERE e = 0'];

/** The days a window covers whole, and its edges (read from `facts`), as the values of {@link daySumsQueries}. */
export function dayWindow(since: Date, until: Date): string[] {
  const dayMs = 86_400_000;
  const from = since.toISOString();
  const to = until.toISOString();
  // Whole days are [first, last): first is the day boundary at or after `since`, last the one at or before `until`.
  const first = Math.ceil(since.getTime() / dayMs) * dayMs;
  const last = Math.floor(until.getTime() / dayMs) * dayMs;
  const iso = (ms: number) => new Date(ms).toISOString();
  if (first >= last) {
    // No whole day: the window is all edge (the first range empty, the second the window).
    return [iso(first).slice(0, 10), iso(first).slice(0, 10), from, from, from, to, from, from];
  }
  return [iso(first).slice(0, 10), iso(last).slice(0, 10), from, iso(first), iso(last), to, iso(first), iso(last)];
}

/**
 * The report's sums over a window (values from {@link dayWindow}): whole days from the day tables,
 * the edges from `facts` without the skipped emails, less the skipped emails of the whole days.
 * Decision times (the median needs each) are read from `facts` over the window, by a partial index:
 * `decisions` takes the window's ends as its values 1 and 2 (and the skipped as 3); the others take
 * {@link dayWindow}'s eight (and the skipped as 9).
 */
export function daySumsQueries(d: DaySumsDialect): { groups: string; counts: string; decisions: string } {
  const { p } = d;
  const skip = d.skip(9);
  const whole = `day >= ${p(1)} AND day < ${p(2)}`;
  const edges = `((f.created_at >= ${p(3)} AND f.created_at < ${p(4)}) OR (f.created_at >= ${p(5)} AND f.created_at <= ${p(6)})) AND f.email_id NOT IN (${skip})`;
  const skippedInWhole = `f.email_id IN (${skip}) AND f.created_at >= ${p(7)} AND f.created_at < ${p(8)}`;
  const cols = COUNTER_COLUMNS.join(', ');
  const groups = `SELECT mailbox, category, ${COUNTER_COLUMNS.map((c) => `${total(c)} AS ${d.alias(c)}`).join(', ')} FROM (
      SELECT mailbox, category, ${cols} FROM day_sums WHERE ${whole}
      UNION ALL SELECT f.mailbox, f.category, ${COUNTER_COLUMNS.map((c) => `f.${c}`).join(', ')} FROM facts f WHERE ${edges}
      UNION ALL SELECT f.mailbox, f.category, ${COUNTER_COLUMNS.map((c) => `-f.${c}`).join(', ')} FROM facts f WHERE ${skippedInWhole}
    ) s GROUP BY mailbox, category HAVING sum(c_emails) > 0`;
  const counts = `SELECT mailbox, category, kind, key, ${total('n')} AS n, ${total('m')} AS m FROM (
      SELECT mailbox, category, kind, key, n, m, e FROM day_counts WHERE ${whole}
      UNION ALL SELECT f.mailbox, f.category, c.kind, c.key, c.n, c.m, 1 FROM facts f JOIN fact_counts c ON c.email_id = f.email_id WHERE ${edges}
      UNION ALL SELECT f.mailbox, f.category, c.kind, c.key, -c.n, -c.m, -1 FROM facts f JOIN fact_counts c ON c.email_id = f.email_id WHERE ${skippedInWhole}
    ) s GROUP BY mailbox, category, kind, key HAVING sum(e) > 0`;
  const decisions = `SELECT f.mailbox, f.category, f.decision_ms FROM facts f
    WHERE f.created_at >= ${p(1)} AND f.created_at <= ${p(2)} AND f.decision_ms IS NOT NULL AND f.email_id NOT IN (${d.skip(3)})`;
  return { groups, counts, decisions };
}
