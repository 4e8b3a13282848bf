import { readTrails } from '../audit/trail-reading.js';
import type { EmailLedger } from '../audit/email-ledger.js';
import { MailroomError } from '../kernel/errors.js';
import { EmailId } from '../kernel/ids.js';
import type { Redis } from '../queues/connection.js';
import type { RedisKeys } from '../queues/keys.js';
import type { ArchivedEmail, HistoryStore } from './history-store.js';

/** `mailroom export --format`. */
export const EXPORT_FORMATS = ['jsonl', 'csv'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Emails read from Redis per pipeline. */
const CHUNK = 250;

/**
 * `--since`: a date (`2026-01-31`, midnight UTC) or a date and time with its zone
 * (`2026-01-31T08:00:00Z`, `…+01:00`). One clear error for anything else, or a date to come.
 */
export function parseSince(text: string, now: Date): Date {
  const m = /^(\d{4})-(\d{2})-(\d{2})(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/.exec(text);
  const at = m ? new Date(m[4] ? text : `${text}T00:00:00Z`) : null;
  // Date rolls 2026-02-30 over to March: the calendar day must be one that exists.
  const day = m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : null;
  if (!at || !day || Number.isNaN(at.getTime()) || day.getUTCDate() !== Number(m?.[3]) || day.getUTCMonth() !== Number(m?.[2]) - 1) {
    throw new MailroomError('CONFIG_INVALID', `--since: "${text}" is not a date such as 2026-01-31 or 2026-01-31T08:00:00Z`);
  }
  if (at.getTime() > now.getTime()) throw new MailroomError('CONFIG_INVALID', `--since: ${text} is in the future`);
  return at;
}

/**
 * Every email taken in since `since`, whole (record, labels, trail): first those in the history
 * store (oldest first, a page at a time), then those still in Redis (in intake order, a chunk
 * at a time). An email in both (an archive cut short) comes once, from Redis.
 */
export async function* exportEmails(
  deps: { redis: Redis; keys: RedisKeys; ledger: Pick<EmailLedger, 'getMany'>; store: Pick<HistoryStore, 'between'> },
  since: Date,
  until: Date,
): AsyncGenerator<ArchivedEmail> {
  const ids = (await deps.redis.zrangebyscore(deps.keys.emailsByTime(), since.getTime(), '+inf')).flatMap((id) => {
    const parsed = EmailId.safeParse(id);
    return parsed.success ? [parsed.data] : [];
  });
  const inRedis = new Set<string>(ids);
  for await (const email of deps.store.between(since, until)) if (!inRedis.has(email.record.emailId)) yield email;
  for (let i = 0; i < ids.length; i += CHUNK) {
    const chunk = ids.slice(i, i + CHUNK);
    const [records, labels] = await Promise.all([deps.ledger.getMany(chunk), Promise.all(chunk.map((id) => deps.redis.smembers(deps.keys.labels(id))))]);
    let j = 0;
    for await (const { events } of readTrails(deps, chunk)) {
      const record = records[j];
      const l = labels[j++] ?? [];
      if (record) yield { record, events, labels: l };
    }
  }
}

/** The CSV columns: one row per email (the trail as its length; `jsonl` has it whole). */
const CSV_COLUMNS = ['email_id', 'created_at', 'updated_at', 'state', 'reason', 'category', 'mailbox', 'mode', 'source', 'sender', 'robot', 'tools', 'plan_id', 'labels', 'events'] as const;

/**
 * One CSV cell (RFC 4180 quoting). A cell a spreadsheet would run as a formula (`=`, `+`, `-`,
 * `@`, tab, CR) is prefixed with `'`: an exported value must not execute on the reader's machine.
 */
function csvCell(value: string | number): string {
  let s = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** The header line of a CSV export. */
export const CSV_HEADER = `${CSV_COLUMNS.join(',')}\r\n`;

/** One email as one line of the export (with its line end). */
export function formatExported(email: ArchivedEmail, format: ExportFormat): string {
  const { record: r, events, labels } = email;
  if (format === 'jsonl') return `${JSON.stringify({ ...r, labels, events })}\n`;
  const row = [r.emailId, r.createdAt, r.updatedAt, r.state, r.reason, r.category, r.mailbox, r.mode, r.source, r.sender, r.robot, r.tools, r.planId, labels.join(';'), events.length];
  return `${row.map(csvCell).join(',')}\r\n`;
}
