import { z } from 'zod';
import { ShadowOutcome } from '../model/would-do.js';
import type { AuditEvent } from './audit-trail.js';
import { AutonomyCounter, type AutonomyRow } from './autonomy-counts.js';
import { emailOutcome, reopens, type EmailOutcome } from './email-outcome.js';
import type { EmailRecord } from './email-ledger.js';
import { reportWantsEvent } from './trail-reading.js';

/**
 * The report's rows as sums that add up: counters and keyed tallies per email, summed per group.
 * One email's sums are what the history store keeps beside its trail (src/history/store-sums.ts),
 * so a report over the store sums them in SQL instead of reading trails again.
 */

/** Reasons listed per group, most frequent first. */
const TOP_REASONS = 5;

const Count = z.number().int().min(0);
const Reasons = z.array(z.object({ reason: z.string(), count: Count }));

/** One row of the report: a mailbox, a category of a mailbox, or everything. */
export const ReportRow = z.object({
  emails: Count,
  /** Completed without a human approving anything. */
  completed_automatically: Count,
  /** Emails whose plan parked for a human (whatever happened next). */
  parked: Count,
  /** Parked plans a human approved, and rejected. */
  approved: Count,
  rejected: Count,
  escalated: Count,
  quarantined: Count,
  shadowed: Count,
  /** Still parked at the time of the report. */
  awaiting_approval: Count,
  replans: Count,
  /** Replans per planned email: often above ~0.1 means plans fail at run time (a planning problem). */
  replan_rate: z.number().nullable(),
  plan_cache: z.object({ hits: Count, misses: Count, hit_rate: z.number().nullable() }),
  /** Median time from parking to a human's decision, in seconds (null: no decision yet). */
  median_decision_seconds: z.number().nullable(),
  decisions: Count,
  top_escalation_reasons: Reasons,
  top_quarantine_reasons: Reasons,
  robots: z.record(z.string(), Count),
  /** Shadow mode: what a live run would have done. */
  /**
   * Cases (an email and its follow-ups; robot mail left out). A reopen is a follow-up that is not
   * a thank-you after an email we resolved on our own (replied, or completed with no reply);
   * first-contact resolution is the share of cases whose first email was resolved on its own and
   * not reopened by the next; turns per case is emails per case.
   */
  cases: z.object({
    opened: Count,
    follow_ups: Count,
    reopens: Count,
    reopen_rate: z.number().nullable(),
    first_contact_resolution: z.number().nullable(),
    turns_per_case: z.number().nullable(),
  }),
  shadow: z.object({
    emails: Count,
    would: z.record(z.string(), Count),
    /** Shadow emails whose plan policy approved by itself, and those it would have parked. */
    auto_approved: Count,
    would_park: Count,
    /** auto_approved / (auto_approved + would_park). */
    auto_rate: z.number().nullable(),
    /** Write and external steps previewed, by tool. */
    effects: z.record(z.string(), Count),
    would_send: Count,
  }),
});
export type ReportRow = z.infer<typeof ReportRow>;

/** The counters of one row, summed over emails: what the history store keeps per archived email. */
export function zeroCounters() {
  return {
    emails: 0,
    completed: 0,
    parked: 0,
    approved: 0,
    rejected: 0,
    escalated: 0,
    quarantined: 0,
    shadowed: 0,
    awaiting: 0,
    replans: 0,
    planned: 0,
    hits: 0,
    misses: 0,
    shadowEmails: 0,
    auto: 0,
    wouldPark: 0,
    wouldSend: 0,
    cases: 0,
    followUps: 0,
    firstResolved: 0,
    reopens: 0,
    reopensFirst: 0,
  };
}
export type RowCounter = keyof ReturnType<typeof zeroCounters>;
export const ROW_COUNTERS: readonly RowCounter[] = Object.keys(zeroCounters()).filter(
  (k): k is RowCounter => k in zeroCounters(),
);
/** The keyed counts of a row: top reasons, robots, shadow outcomes and effects. */
export const ROW_TALLIES = ['escalations', 'quarantines', 'robots', 'would', 'effects'] as const;
export type RowTally = (typeof ROW_TALLIES)[number];

/**
 * What a set of emails adds to a row, in a form that adds up: counters, keyed tallies and the
 * decision times (for the median). One email's is what the store keeps for it; a group's is the
 * store's SQL sum of those.
 */
export interface RowSums {
  counters: Record<RowCounter, number>;
  tallies: Record<RowTally, ReadonlyArray<readonly [string, number]>>;
  decisions: readonly number[];
}

/** The report's group of an email: its mailbox and category, named when empty. */
export function groupNames(record: Pick<EmailRecord, 'mailbox' | 'category'>): {
  mailbox: string;
  category: string;
} {
  return { mailbox: record.mailbox || '(unknown)', category: record.category || '(none)' };
}

/**
 * What one archived email adds to the report, as sums (the history store keeps them beside its
 * trail, so a report over the store never reads trails): the same facts and autonomy steps the
 * report folds from a trail in Redis.
 */
export function reportSums(
  record: EmailRecord,
  events: readonly AuditEvent[],
): { sums: RowSums; autonomy: AutonomyRow[] } {
  const wanted = events.filter(reportWantsEvent);
  const row = new RowBuilder();
  row.add(emailOutcome(record, wanted));
  const autonomy = new AutonomyCounter();
  autonomy.add(groupNames(record).category, wanted);
  return { sums: row.sums(), autonomy: autonomy.build() };
}

/** Accumulates facts into one row. */
export class RowBuilder {
  private n = zeroCounters();
  private decisions: number[] = [];
  private escalations = new Map<string, number>();
  private quarantines = new Map<string, number>();
  private robots = new Map<string, number>();
  private would = new Map<ShadowOutcome, number>();
  private effects = new Map<string, number>();

  add(f: EmailOutcome): void {
    const n = this.n;
    const s = f.record.state;
    n.emails += 1;
    if (f.completedAutomatically) n.completed += 1;
    if (f.parked) n.parked += 1;
    if (f.approved) n.approved += 1;
    if (f.rejected) n.rejected += 1;
    if (s === 'escalated') n.escalated += 1;
    if (s === 'quarantined') n.quarantined += 1;
    if (s === 'shadowed') n.shadowed += 1;
    if (s === 'awaiting_approval') n.awaiting += 1;
    n.replans += f.replans;
    if (f.planned) n.planned += 1;
    n.hits += f.cacheHits;
    n.misses += f.cacheMisses;
    if (f.decisionMs !== null) this.decisions.push(f.decisionMs);
    if (f.escalationReason) bump(this.escalations, f.escalationReason);
    if (f.quarantineReason) bump(this.quarantines, f.quarantineReason);
    if (f.record.robot) bump(this.robots, f.record.robot);
    if (f.case && !f.record.robot && s !== 'quarantined') {
      if (!f.case.followUp) {
        n.cases += 1;
        if (f.completedAutomatically) n.firstResolved += 1;
      } else {
        n.followUps += 1;
        if (reopens(f)) {
          n.reopens += 1;
          if (f.case.turns === 1) n.reopensFirst += 1;
        }
      }
    }
    if (f.shadow) {
      n.shadowEmails += 1;
      if (f.shadow.would) bump(this.would, f.shadow.would);
      if (f.shadow.policy === 'auto') n.auto += 1;
      if (f.shadow.policy === 'park') n.wouldPark += 1;
      for (const e of f.shadow.effects) {
        bump(this.effects, e.tool);
        n.wouldSend += e.messages.length;
      }
    }
  }

  /** What was added so far, as sums (see {@link RowSums}). */
  sums(): RowSums {
    const tally = (m: Map<string, number>) => [...m.entries()];
    return {
      counters: { ...this.n },
      tallies: {
        escalations: tally(this.escalations),
        quarantines: tally(this.quarantines),
        robots: tally(this.robots),
        would: tally(this.would),
        effects: tally(this.effects),
      },
      decisions: [...this.decisions],
    };
  }

  /** Adds a group's sums, as if each of its emails had been added. */
  merge(s: RowSums): void {
    // Sums kept before a counter existed lack it: they add 0.
    for (const k of ROW_COUNTERS) this.n[k] += s.counters[k] ?? 0;
    for (const [key, n] of s.tallies.escalations) bump(this.escalations, key, n);
    for (const [key, n] of s.tallies.quarantines) bump(this.quarantines, key, n);
    for (const [key, n] of s.tallies.robots) bump(this.robots, key, n);
    for (const [key, n] of s.tallies.effects) bump(this.effects, key, n);
    for (const [key, n] of s.tallies.would) {
      const outcome = ShadowOutcome.safeParse(key);
      if (outcome.success) bump(this.would, outcome.data, n);
    }
    this.decisions.push(...s.decisions);
  }

  build(): ReportRow {
    const n = this.n;
    const top = (m: Map<string, number>) =>
      [...m.entries()]
        .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
        .slice(0, TOP_REASONS)
        .map(([reason, count]) => ({ reason, count }));
    const ratio = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 1000) / 1000 : null);
    return {
      emails: n.emails,
      completed_automatically: n.completed,
      parked: n.parked,
      approved: n.approved,
      rejected: n.rejected,
      escalated: n.escalated,
      quarantined: n.quarantined,
      shadowed: n.shadowed,
      awaiting_approval: n.awaiting,
      replans: n.replans,
      replan_rate: ratio(n.replans, n.planned),
      plan_cache: { hits: n.hits, misses: n.misses, hit_rate: ratio(n.hits, n.hits + n.misses) },
      median_decision_seconds:
        median(this.decisions) === null ? null : Math.round((median(this.decisions) ?? 0) / 100) / 10,
      decisions: this.decisions.length,
      top_escalation_reasons: top(this.escalations),
      top_quarantine_reasons: top(this.quarantines),
      robots: Object.fromEntries([...this.robots.entries()].sort()),
      cases: {
        opened: n.cases,
        follow_ups: n.followUps,
        reopens: n.reopens,
        reopen_rate: ratio(n.reopens, n.cases),
        first_contact_resolution: ratio(Math.max(0, n.firstResolved - n.reopensFirst), n.cases),
        turns_per_case: ratio(n.cases + n.followUps, n.cases),
      },
      shadow: {
        emails: n.shadowEmails,
        would: Object.fromEntries([...this.would.entries()].sort()),
        auto_approved: n.auto,
        would_park: n.wouldPark,
        auto_rate: ratio(n.auto, n.auto + n.wouldPark),
        effects: Object.fromEntries([...this.effects.entries()].sort()),
        would_send: n.wouldSend,
      },
    };
  }
}

function bump<K>(m: Map<K, number>, k: K, by = 1): void {
  m.set(k, (m.get(k) ?? 0) + by);
}

/** The median of a list of numbers; null for none. */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}
