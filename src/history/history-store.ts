import { z } from 'zod';
import { AuditEvent } from '../audit/audit-trail.js';
import { EmailRecord } from '../audit/email-ledger.js';
import type { EmailId } from '../ids.js';

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
  close(): Promise<void>;
}
