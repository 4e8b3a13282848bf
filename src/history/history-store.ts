import { z } from 'zod';
import { AuditEvent } from '../audit/audit-trail.js';
import { EmailRecord } from '../audit/email-ledger.js';
import type { AutonomyRow } from '../audit/autonomy-counts.js';
import type { RowSums } from '../audit/row-sums.js';
import type { EmailId } from '../kernel/ids.js';

/**
 * One email's history as it leaves Redis: its ledger record, its audit trail in order, and the
 * labels a mailbox action put on it. Email text is not part of it (content stays in Redis, with
 * its own TTL).
 */
export const ArchivedEmail = z.object({
  record: EmailRecord,
  events: z.array(AuditEvent),
  labels: z.array(z.string()),
});
export type ArchivedEmail = z.infer<typeof ArchivedEmail>;

/** A durable, queryable home for the history of emails at rest. */
export interface HistoryStore {
  /**
   * Writes the emails, replacing any earlier copy of the same email whole (so a re-run of an
   * interrupted archive never doubles a trail). All or nothing.
   */
  put(emails: readonly ArchivedEmail[]): Promise<void>;
  get(emailId: EmailId): Promise<ArchivedEmail | null>;
  /** Emails taken in within `[since, until]` (by `createdAt`), oldest first, read a page at a time. */
  between(since: Date, until: Date): AsyncIterable<ArchivedEmail>;
  count(): Promise<number>;
  /**
   * The report's figures of the emails taken in within `[since, until]`, leaving out `skip` (those
   * also in Redis, which the report counts from there): sums by mailbox and category, summed by
   * the store from what it kept per email, without reading a trail.
   */
  aggregate(since: Date, until: Date, skip: ReadonlySet<string>): Promise<StoreAggregate>;
  /** Deletes every email whose last change is before `cutoff` (retention); returns how many. */
  prune(cutoff: Date): Promise<number>;
  /** Emails any of whose events' data contains `needle`, compared case-insensitively (for erasure). */
  mentioning(needle: string): Promise<EmailId[]>;
  /** Deletes these emails whole; returns how many there were. */
  remove(ids: readonly EmailId[]): Promise<number>;
  /** Appends to the log of erasures (`mailroom forget`), which keeps counts and never an address. */
  recordErasure(erasure: Erasure): Promise<void>;
  erasures(): Promise<Erasure[]>;
  /**
   * Moves what was deleted out of the files too: deleted rows are zeroed in place
   * (`secure_delete`) and the write-ahead log is checkpointed and truncated.
   */
  compact(): Promise<void>;
  close(): Promise<void>;
}

/** What {@link HistoryStore.aggregate} answers. */
export interface StoreAggregate {
  groups: Array<{ mailbox: string; category: string; sums: RowSums }>;
  autonomy: AutonomyRow[];
}

/** One `mailroom forget`: who asked, when, and how much went. The address is not kept. */
export const Erasure = z.object({
  at: z.string(),
  by: z.string(),
  /** Emails whose history or content was removed. */
  emails: z.number().int().min(0),
  /** Redis keys deleted or trimmed (content, run records, rate-limit entries, jobs, …). */
  redisKeys: z.number().int().min(0),
});
export type Erasure = z.infer<typeof Erasure>;
