import { z } from 'zod';
import type { AuditEvent } from '../audit/audit-trail.js';
import { AutonomyCounter, AutonomyRow } from '../audit/autonomy-counts.js';
import { emailOutcome, type EmailOutcome } from '../audit/email-outcome.js';
import type { EmailLedger, EmailRecord } from '../audit/email-ledger.js';
import { groupNames, ReportRow, RowBuilder } from '../audit/row-sums.js';
import { readTrails, reportWants, reportWantsEvent, TRAIL_CHUNK } from '../audit/trail-reading.js';
import type { HistoryStore } from '../history/history-store.js';
import { EmailId } from '../kernel/ids.js';
import type { Redis } from '../queues/connection.js';
import type { RedisKeys } from '../queues/keys.js';

/** The report: the rows of src/audit/row-sums.ts per mailbox and category, over a window. */
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
  onEmail?: (facts: EmailOutcome) => void,
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
  for (let i = 0; i < ids.length; i += TRAIL_CHUNK) {
    const chunk = ids.slice(i, i + TRAIL_CHUNK);
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
    const facts = emailOutcome(record, events);
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

