import { z } from 'zod';
import { WouldDo, ShadowOutcome } from '../executor/shadow.js';
import { EmailId } from '../kernel/ids.js';
import type { Redis } from '../queues/connection.js';
import type { RedisKeys } from '../queues/keys.js';
import { AuditEvent, type AuditType } from '../audit/audit-trail.js';
import { AutonomyCounter, AutonomyRow } from './autonomy-report.js';
import type { EmailLedger, EmailRecord } from '../audit/email-ledger.js';
import type { HistoryStore } from '../history/history-store.js';

/** Emails whose trails are fetched in one Redis round trip. */
const CHUNK = 250;
/** Reasons listed per group, most frequent first. */
const TOP_REASONS = 5;

/**
 * Reads the audit trails of many emails, `CHUNK` at a time in one pipeline each, so a report over
 * a week holds one chunk of trails in memory, never all of them. Lines that do not parse (a type
 * this version does not know) are skipped rather than failing the whole report.
 */
export async function* readTrails(
  app: { redis: Redis; keys: RedisKeys },
  ids: readonly EmailId[],
  /** Which raw lines to parse, by their type (the others are skipped unparsed); all when absent. */
  wants?: (type: string, line: string) => boolean,
): AsyncGenerator<{ emailId: EmailId; events: AuditEvent[] }> {
  for (let i = 0; i < ids.length; i += CHUNK) {
    const chunk = ids.slice(i, i + CHUNK);
    const pipe = app.redis.pipeline();
    for (const id of chunk) pipe.lrange(app.keys.audit(id), 0, -1);
    const res = (await pipe.exec()) ?? [];
    for (const [j, id] of chunk.entries()) {
      const lines = res[j]?.[1];
      const events: AuditEvent[] = [];
      if (Array.isArray(lines)) {
        for (const line of lines) {
          if (typeof line !== 'string') continue;
          // The type is read from the raw line first: most of a trail is steps the report skips.
          if (wants && !wants(TYPE_IN_LINE.exec(line)?.[1] ?? '', line)) continue;
          const ev = AuditEvent.safeParse(safeJson(line));
          if (ev.success) events.push(ev.data);
        }
      }
      yield { emailId: id, events };
    }
  }
}

/** The `type` field as the trail writes it (`{"ts":…,"type":"…"`); an event is parsed fully after. */
const TYPE_IN_LINE = /"type":"([a-z_]+)"/;

/** The events the report reads; of the steps, only `escalate` (for its reason code). */
const REPORT_TYPES: ReadonlySet<string> = new Set<AuditType>([
  'case',
  'planned',
  'replanned',
  'parked',
  'gated',
  'approved',
  'rejected',
  'step_started',
  'would_do',
  'quarantined',
  'shadowed',
  // The autonomy figure (autonomy-report.ts): each plan's levels, and the steps that ran.
  'autonomy',
  'step_finished',
]);
const reportWants = (type: string, line: string) =>
  REPORT_TYPES.has(type) && (type !== 'step_started' || line.includes('"tool":"escalate"'));
/** `reportWants` for a parsed event (of the store): its data is written out only for a step. */
const reportWantsEvent = (e: AuditEvent) => REPORT_TYPES.has(e.type) && (e.type !== 'step_started' || JSON.stringify(e.data).includes('"tool":"escalate"'));

function safeJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return null;
  }
}

/** The would-do effects of one trail, once per plan step (a re-delivered step may record twice). */
export function wouldDoEffects(events: readonly AuditEvent[]): WouldDo[] {
  const seen = new Map<string, WouldDo>();
  for (const e of events) {
    if (e.type !== 'would_do') continue;
    const parsed = WouldDo.safeParse(e.data);
    if (parsed.success) seen.set(`${parsed.data.planId}/${parsed.data.stepId}`, parsed.data);
  }
  return [...seen.values()];
}

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

export const MailroomReport = z.object({
  since: z.string(),
  until: z.string(),
  totals: ReportRow,
  /** Steps per autonomy level, per tool and category: what the policy decided and what ran. */
  autonomy: z.array(AutonomyRow),
  mailboxes: z.array(
    z.object({
      mailbox: z.string(),
      row: ReportRow,
      categories: z.array(z.object({ category: z.string(), row: ReportRow })),
    }),
  ),
});
export type MailroomReport = z.infer<typeof MailroomReport>;

/** What one email contributes, read from its ledger record and its trail. */
export interface EmailFacts {
  record: EmailRecord;
  completedAutomatically: boolean;
  parked: boolean;
  approved: boolean;
  rejected: boolean;
  decisionMs: number | null;
  replans: number;
  planned: boolean;
  cacheHits: number;
  cacheMisses: number;
  escalationReason: string | null;
  quarantineReason: string | null;
  shadow: { would: ShadowOutcome | null; policy: 'auto' | 'park' | null; effects: WouldDo[] } | null;
  /** The email's case as triage recorded it (the `case` event); null for mail triaged before cases. */
  case: { followUp: boolean; turns: number; previous: string } | null;
}

/** Folds one trail into the facts the report counts. */
export function emailFacts(record: EmailRecord, events: readonly AuditEvent[]): EmailFacts {
  let parkedAt: number | null = null;
  let decidedAt: number | null = null;
  let approved = false;
  let rejected = false;
  let replans = 0;
  let planned = false;
  let cacheHits = 0;
  let cacheMisses = 0;
  let escalateArg: string | null = null;
  let quarantineCode: string | null = null;
  let would: ShadowOutcome | null = null;
  let policy: 'auto' | 'park' | null = null;
  let caseFacts: EmailFacts['case'] = null;
  for (const e of events) {
    const t = Date.parse(e.ts);
    switch (e.type) {
      case 'planned':
      case 'replanned':
        planned = true;
        if (e.type === 'replanned') replans += 1;
        // Only plans that asked the cache count (offline playbooks and robot plans never do).
        if (e.data.cacheLookup === true && e.data.cacheHit === true) cacheHits += 1;
        else if (e.data.cacheLookup === true) cacheMisses += 1;
        break;
      case 'parked':
        parkedAt ??= t;
        break;
      // The policy's decision on the email's latest plan (a replan is decided again).
      case 'gated':
        policy = 'park';
        break;
      case 'approved':
        if (e.data.auto === true) policy = 'auto';
        else {
          approved = true;
          decidedAt ??= t;
        }
        break;
      case 'rejected':
        rejected = true;
        decidedAt ??= t;
        break;
      case 'step_started':
      case 'would_do': {
        const args = e.data.args;
        if (
          e.data.tool === 'escalate' &&
          args &&
          typeof args === 'object' &&
          'reason' in args &&
          typeof args.reason === 'string'
        )
          escalateArg = args.reason;
        break;
      }
      case 'quarantined':
        if (typeof e.data.code === 'string') quarantineCode = e.data.code;
        break;
      case 'case':
        caseFacts = {
          followUp: e.data.followUp === true,
          turns: typeof e.data.turns === 'number' ? e.data.turns : 0,
          previous: typeof e.data.previous === 'string' ? e.data.previous : 'none',
        };
        break;
      case 'shadowed': {
        const w = ShadowOutcome.safeParse(e.data.would);
        if (w.success) would = w.data;
        break;
      }
      default:
        break;
    }
  }
  const state = record.state;
  const firstReason = (r: string) => r.split(';')[0]?.trim().slice(0, 120) || '(none)';
  return {
    record,
    completedAutomatically: state === 'completed' && !approved,
    parked: parkedAt !== null,
    approved,
    rejected: rejected || state === 'rejected',
    decisionMs:
      parkedAt !== null && decidedAt !== null && decidedAt >= parkedAt ? decidedAt - parkedAt : null,
    replans,
    planned,
    cacheHits,
    cacheMisses,
    escalationReason: state === 'escalated' ? (escalateArg ?? firstReason(record.reason)) : null,
    quarantineReason: state === 'quarantined' ? (quarantineCode ?? firstReason(record.reason)) : null,
    shadow: record.mode === 'shadow' ? { would, policy, effects: wouldDoEffects(events) } : null,
    case: caseFacts,
  };
}

/** A follow-up reopens its case when it is not a thank-you and the email before it was resolved without a human. */
function reopens(f: EmailFacts): boolean {
  return f.case !== null && f.case.followUp && f.record.category !== 'thanks' && (f.case.previous === 'replied' || f.case.previous === 'no_reply');
}

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
export const ROW_COUNTERS: readonly RowCounter[] = Object.keys(zeroCounters()).filter((k): k is RowCounter => k in zeroCounters());
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
export function groupNames(record: Pick<EmailRecord, 'mailbox' | 'category'>): { mailbox: string; category: string } {
  return { mailbox: record.mailbox || '(unknown)', category: record.category || '(none)' };
}

/**
 * What one archived email adds to the report, as sums (the history store keeps them beside its
 * trail, so a report over the store never reads trails): the same facts and autonomy steps the
 * report folds from a trail in Redis.
 */
export function reportSums(record: EmailRecord, events: readonly AuditEvent[]): { sums: RowSums; autonomy: AutonomyRow[] } {
  const wanted = events.filter(reportWantsEvent);
  const row = new RowBuilder();
  row.add(emailFacts(record, wanted));
  const autonomy = new AutonomyCounter();
  autonomy.add(groupNames(record).category, wanted);
  return { sums: row.sums(), autonomy: autonomy.build() };
}

/** Accumulates facts into one row. */
class RowBuilder {
  private n = zeroCounters();
  private decisions: number[] = [];
  private escalations = new Map<string, number>();
  private quarantines = new Map<string, number>();
  private robots = new Map<string, number>();
  private would = new Map<ShadowOutcome, number>();
  private effects = new Map<string, number>();

  add(f: EmailFacts): void {
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
      tallies: { escalations: tally(this.escalations), quarantines: tally(this.quarantines), robots: tally(this.robots), would: tally(this.would), effects: tally(this.effects) },
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

/**
 * `mailroom report`: every email taken in since `since`, per mailbox and category, from the
 * ledger (states, reasons, robots) and the audit trails (parking, decisions, replans, cache,
 * would-do effects). Emails are found by the ledger's time index; records and trails are read in
 * pipelined chunks and folded as they come, so memory holds one chunk plus the counters (and one
 * number per human decision, for the median).
 */
export async function buildReport(
  app: { redis: Redis; keys: RedisKeys; ledger: Pick<EmailLedger, 'getMany'>; history?: Pick<HistoryStore, 'between' | 'aggregate'> },
  window: { since: Date; until: Date },
  /** Sees each email's facts as they are counted (the report page's time series folds them too). */
  onEmail?: (facts: EmailFacts) => void,
): Promise<MailroomReport> {
  const raw = await app.redis.zrangebyscore(
    app.keys.emailsByTime(),
    window.since.getTime(),
    window.until.getTime(),
  );
  const ids = raw.flatMap((id) => {
    const parsed = EmailId.safeParse(id);
    return parsed.success ? [parsed.data] : [];
  });
  const totals = new RowBuilder();
  const autonomy = new AutonomyCounter();
  const byMailbox = new Map<string, { row: RowBuilder; categories: Map<string, RowBuilder> }>();
  for (let i = 0; i < ids.length; i += CHUNK) {
    const chunk = ids.slice(i, i + CHUNK);
    const records = await app.ledger.getMany(chunk);
    let j = 0;
    for await (const { events } of readTrails(app, chunk, reportWants)) {
      const record = records[j++];
      if (record) fold(record, events);
    }
  }
  // Archived emails (src/history) are read from the store; an email in both (an archive cut short
  // between its write and its delete) is counted once, from Redis. Without `onEmail` (which wants
  // each email) the store sums its per-email sums in SQL, by mailbox and category.
  const inRedis = new Set<string>(ids);
  if (app.history && !onEmail) {
    const summed = await app.history.aggregate(window.since, window.until, inRedis);
    for (const g of summed.groups) {
      const { box, cat } = groupOf(g.mailbox, g.category);
      for (const row of [totals, box.row, cat]) row.merge(g.sums);
    }
    autonomy.merge(summed.autonomy);
  } else if (app.history) {
    for await (const { record, events } of app.history.between(window.since, window.until)) {
      if (!inRedis.has(record.emailId)) fold(record, events.filter(reportWantsEvent));
    }
  }
  function groupOf(mailbox: string, category: string) {
    let box = byMailbox.get(mailbox);
    if (!box) byMailbox.set(mailbox, (box = { row: new RowBuilder(), categories: new Map() }));
    let cat = box.categories.get(category);
    if (!cat) box.categories.set(category, (cat = new RowBuilder()));
    return { box, cat };
  }
  function fold(record: EmailRecord, events: AuditEvent[]): void {
    const facts = emailFacts(record, events);
    const { mailbox, category } = groupNames(record);
    const { box, cat } = groupOf(mailbox, category);
    totals.add(facts);
    autonomy.add(category, events);
    box.row.add(facts);
    cat.add(facts);
    onEmail?.(facts);
  }
  return {
    since: window.since.toISOString(),
    until: window.until.toISOString(),
    totals: totals.build(),
    autonomy: autonomy.build(),
    mailboxes: [...byMailbox.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([mailbox, box]) => ({
        mailbox,
        row: box.row.build(),
        categories: [...box.categories.entries()]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([category, row]) => ({ category, row: row.build() })),
      })),
  };
}

/** `7d`, `24h`, `90m`, `2w` → milliseconds; null when it does not parse. */
export function parseDuration(text: string): number | null {
  const m = /^(\d{1,6})([mhdw])$/.exec(text.trim());
  const unit =
    m?.[2] === 'm'
      ? 60_000
      : m?.[2] === 'h'
        ? 3_600_000
        : m?.[2] === 'd'
          ? 86_400_000
          : m?.[2] === 'w'
            ? 604_800_000
            : null;
  return m && unit !== null ? Number(m[1]) * unit : null;
}
