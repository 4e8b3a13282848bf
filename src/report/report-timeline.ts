import { z } from 'zod';
import type { EmailOutcome } from '../audit/email-outcome.js';

const Count = z.number().int().min(0);

/**
 * Where one email ended, as the report counts it: the same states and the same split of
 * `completed` (by itself, or after a human approved) as the report's rows. `in_progress` holds
 * the emails still moving through the pipeline when the report was read.
 */
export const ReportOutcome = z.enum([
  'completed_automatically',
  'completed_after_approval',
  'awaiting_approval',
  'rejected',
  'escalated',
  'quarantined',
  'shadowed',
  'in_progress',
]);
export type ReportOutcome = z.infer<typeof ReportOutcome>;

/** The report's outcome of one email, from its ledger state and whether a human approved its plan. */
export function reportOutcome(facts: Pick<EmailOutcome, 'record' | 'completedAutomatically'>): ReportOutcome {
  const state = facts.record.state;
  if (state === 'completed')
    return facts.completedAutomatically ? 'completed_automatically' : 'completed_after_approval';
  if (state === 'received' || state === 'triaged' || state === 'planned' || state === 'running')
    return 'in_progress';
  return state;
}

/** Upper bounds (seconds, exclusive) of the time-to-decision bins; the last bin is open. */
const DECISION_BINS: ReadonlyArray<{ label: string; below: number }> = [
  { label: '< 1 min', below: 60 },
  { label: '1–5 min', below: 300 },
  { label: '5–15 min', below: 900 },
  { label: '15–60 min', below: 3_600 },
  { label: '1–4 h', below: 14_400 },
  { label: '4–24 h', below: 86_400 },
  { label: '≥ 1 day', below: Infinity },
];

/** A window of 2 days or less is shown by the hour, of 120 days or less by the day, longer by the week. */
export const TimelineBucket = z.enum(['hour', 'day', 'week']);
export type TimelineBucket = z.infer<typeof TimelineBucket>;
const BUCKET_MS: Record<TimelineBucket, number> = { hour: 3_600_000, day: 86_400_000, week: 7 * 86_400_000 };

/** The bucket size for a window. */
export function bucketFor(window: { since: Date; until: Date }): TimelineBucket {
  const span = window.until.getTime() - window.since.getTime();
  return span <= 2 * BUCKET_MS.day ? 'hour' : span <= 120 * BUCKET_MS.day ? 'day' : 'week';
}

/** The report's emails over time (by when each was taken in) and the spread of decision times. */
export const ReportTimeline = z.object({
  bucket: TimelineBucket,
  /** Every category seen in the window, sorted (the same names as the report's rows). */
  categories: z.array(z.string()),
  /** Consecutive buckets from the window's start to its end, empty ones included. */
  buckets: z.array(
    z.object({
      /** Start of the bucket (UTC, ISO 8601). */
      start: z.string(),
      /** Emails taken in during the bucket, by where they ended (every outcome present). */
      outcomes: z.record(ReportOutcome, Count),
      /** Emails taken in during the bucket, by category (only the categories with emails). */
      categories: z.record(z.string(), Count),
    }),
  ),
  /**
   * Time from parking to a human's decision, binned, for the window's emails whose parked plan was
   * decided (their median is the report's `median_decision_seconds`).
   */
  decisions: z.array(z.object({ label: z.string(), count: Count })),
});
export type ReportTimeline = z.infer<typeof ReportTimeline>;

/**
 * Folds the same per-email facts as the report (pass {@link TimelineBuilder.add} as `buildReport`'s
 * `onEmail`) into buckets. Memory is one counter set per bucket and one number per decision, and
 * the buckets are bounded by the window: an email's time is clamped into it (its ledger time and
 * the index it was found by come from the same moment, save for clocks set by tests).
 */
export class TimelineBuilder {
  readonly bucket: TimelineBucket;
  private readonly size: number;
  private readonly first: number;
  private readonly last: number;
  private readonly byStart = new Map<
    number,
    { outcomes: Map<ReportOutcome, number>; categories: Map<string, number> }
  >();
  private readonly categories = new Set<string>();
  private readonly decisions: number[] = [];

  constructor(private readonly window: { since: Date; until: Date }) {
    this.bucket = bucketFor(window);
    this.size = BUCKET_MS[this.bucket];
    this.first = this.floor(window.since.getTime());
    this.last = this.floor(Math.max(window.since.getTime(), window.until.getTime()));
  }

  /** Buckets start at multiples of their size since the epoch (UTC midnight for days, Thursdays for weeks). */
  private floor(ms: number): number {
    return Math.floor(ms / this.size) * this.size;
  }

  add(facts: EmailOutcome): void {
    const taken = Date.parse(facts.record.createdAt);
    const at = Number.isFinite(taken)
      ? Math.min(Math.max(taken, this.window.since.getTime()), this.window.until.getTime())
      : this.window.until.getTime();
    const start = this.floor(at);
    let b = this.byStart.get(start);
    if (!b) this.byStart.set(start, (b = { outcomes: new Map(), categories: new Map() }));
    const outcome = reportOutcome(facts);
    b.outcomes.set(outcome, (b.outcomes.get(outcome) ?? 0) + 1);
    // The same fallback name as the report's rows, so that the two can be compared.
    const category = facts.record.category || '(none)';
    b.categories.set(category, (b.categories.get(category) ?? 0) + 1);
    this.categories.add(category);
    if (facts.decisionMs !== null) this.decisions.push(facts.decisionMs / 1000);
  }

  build(): ReportTimeline {
    const buckets: ReportTimeline['buckets'] = [];
    for (let start = this.first; start <= this.last; start += this.size) {
      const b = this.byStart.get(start);
      buckets.push({
        start: new Date(start).toISOString(),
        outcomes: Object.fromEntries(
          ReportOutcome.options.map((o) => [o, b?.outcomes.get(o) ?? 0]),
        ) as Record<ReportOutcome, number>,
        categories: Object.fromEntries(
          [...(b?.categories.entries() ?? [])].sort(([x], [y]) => x.localeCompare(y)),
        ),
      });
    }
    const bins = DECISION_BINS.map((bin) => ({ label: bin.label, count: 0 }));
    for (const seconds of this.decisions) {
      const i = DECISION_BINS.findIndex((bin) => seconds < bin.below);
      const bin = bins[i];
      if (bin) bin.count += 1;
    }
    return {
      bucket: this.bucket,
      categories: [...this.categories].sort((a, b) => a.localeCompare(b)),
      buckets,
      decisions: bins,
    };
  }
}
