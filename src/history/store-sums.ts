import { z } from 'zod';
import { AutonomyLevel } from '../model/autonomy.js';
import type { AuditEvent } from '../audit/audit-trail.js';
import type { EmailRecord } from '../audit/email-ledger.js';
import type { AutonomyRow } from '../audit/autonomy-counts.js';
import { groupNames, reportSums, ROW_COUNTERS, ROW_TALLIES, zeroCounters, type RowTally } from '../audit/row-sums.js';
import type { StoreAggregate } from './history-store.js';

/**
 * The report's sums as both stores keep them: one `facts` row per email (its group, one column
 * per counter, its decision time) and `fact_counts` rows for its keyed tallies and autonomy
 * steps. The stores differ in SQL dialect, not in what they keep or how it is summed back.
 */

/** The `facts` columns holding counters, in {@link ROW_COUNTERS} order. */
export const COUNTER_COLUMNS: readonly string[] = ROW_COUNTERS.map((c) => `c_${c}`);

/**
 * Between tool and level in an autonomy row's `key`: the ASCII unit separator, which PostgreSQL
 * text can hold (it refuses NUL, which SQLite files written before it have; both are read).
 */
const KEY_SEPARATOR = '\u001f';

/** One email's `facts` row and `fact_counts` rows, ready to insert. */
export interface EmailSums {
  emailId: string;
  createdAt: string;
  mailbox: string;
  category: string;
  /** In {@link COUNTER_COLUMNS} order. */
  counters: number[];
  decisionMs: number | null;
  counts: Array<{ kind: string; key: string; n: number; m: number }>;
}

/** What one email adds to the report, as the rows a store keeps for it. */
export function emailSums({ record, events }: { record: EmailRecord; events: readonly AuditEvent[] }): EmailSums {
  const { sums, autonomy } = reportSums(record, events);
  const counts: EmailSums['counts'] = [];
  for (const tally of ROW_TALLIES) for (const [key, n] of sums.tallies[tally]) counts.push({ kind: tally, key, n, m: 0 });
  for (const a of autonomy) counts.push({ kind: 'autonomy', key: `${a.tool}${KEY_SEPARATOR}${a.level}`, n: a.decided, m: a.ran });
  return {
    emailId: record.emailId,
    createdAt: record.createdAt,
    ...groupNames(record),
    counters: ROW_COUNTERS.map((c) => sums.counters[c]),
    decisionMs: sums.decisions[0] ?? null,
    counts,
  };
}

const GroupRow = z.object({ mailbox: z.string(), category: z.string() }).catchall(z.number().nullable());
const CountSumRow = z.object({ mailbox: z.string(), category: z.string(), kind: z.string(), key: z.string(), n: z.number(), m: z.number() });
const DecisionRow = z.object({ mailbox: z.string(), category: z.string(), decision_ms: z.number() });

/**
 * The SQL sums of {@link HistoryStore.aggregate} as the report's groups and autonomy rows: `groups`
 * has `mailbox`, `category` and one sum per counter column; `counts` the `fact_counts` sums by
 * group, kind and key; `decisions` every email's decision time.
 */
export function sumFacts(groups: unknown[], counts: unknown[], decisions: unknown[]): StoreAggregate {
  type Group = { mailbox: string; category: string; counters: ReturnType<typeof zeroCounters>; tallies: Record<RowTally, Array<[string, number]>>; decisions: number[] };
  const byGroup = new Map<string, Group>();
  const key = (g: { mailbox: string; category: string }) => `${g.mailbox}\u0000${g.category}`;
  for (const raw of groups) {
    const g = GroupRow.parse(raw);
    const counters = zeroCounters();
    for (const c of ROW_COUNTERS) counters[c] = Number(g[`c_${c}`] ?? 0);
    byGroup.set(key(g), { mailbox: g.mailbox, category: g.category, counters, tallies: { escalations: [], quarantines: [], robots: [], would: [], effects: [] }, decisions: [] });
  }
  const autonomy = new Map<string, AutonomyRow>();
  for (const raw of counts) {
    const c = CountSumRow.parse(raw);
    if (c.kind === 'autonomy') {
      const [tool = '', level = ''] = c.key.replaceAll('\u0000', KEY_SEPARATOR).split(KEY_SEPARATOR);
      const lvl = AutonomyLevel.safeParse(level);
      if (!lvl.success) continue;
      const k = `${tool}\u0000${c.category}\u0000${lvl.data}`;
      const row = autonomy.get(k) ?? { tool, category: c.category, level: lvl.data, decided: 0, ran: 0 };
      row.decided += c.n;
      row.ran += c.m;
      autonomy.set(k, row);
      continue;
    }
    const tally = ROW_TALLIES.find((t) => t === c.kind);
    const group = byGroup.get(key(c));
    if (tally && group) group.tallies[tally].push([c.key, c.n]);
  }
  for (const raw of decisions) {
    const d = DecisionRow.parse(raw);
    byGroup.get(key(d))?.decisions.push(d.decision_ms);
  }
  const out = [...byGroup.values()].map(({ mailbox, category, ...sums }) => ({ mailbox, category, sums }));
  return { groups: out, autonomy: [...autonomy.values()] };
}

/** `LIKE` with `\\` as its escape: the needle's own `%`, `_` and `\\` match only themselves. */
export const likeEscaped = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);
