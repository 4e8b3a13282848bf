import type { EmailId } from '../kernel/ids.js';
import { WouldDo } from '../model/would-do.js';
import type { Redis } from '../queues/connection.js';
import type { RedisKeys } from '../queues/keys.js';
import { AuditEvent, type AuditType } from './audit-trail.js';

/**
 * Reading audit trails back: many emails' at once, in chunks, and only the events a reader wants.
 * The report (src/report), the CLI's audit and summary, and the history export read through here.
 */

/** Emails whose trails are fetched in one Redis round trip. */
export const TRAIL_CHUNK = 250;

/**
 * Reads the audit trails of many emails, `TRAIL_CHUNK` at a time in one pipeline each, so a report over
 * a week holds one chunk of trails in memory, never all of them. Lines that do not parse (a type
 * this version does not know) are skipped rather than failing the whole report.
 */
export async function* readTrails(
  app: { redis: Redis; keys: RedisKeys },
  ids: readonly EmailId[],
  /** Which raw lines to parse, by their type (the others are skipped unparsed); all when absent. */
  wants?: (type: string, line: string) => boolean,
): AsyncGenerator<{ emailId: EmailId; events: AuditEvent[] }> {
  for (let i = 0; i < ids.length; i += TRAIL_CHUNK) {
    const chunk = ids.slice(i, i + TRAIL_CHUNK);
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
export const reportWants = (type: string, line: string) =>
  REPORT_TYPES.has(type) && (type !== 'step_started' || line.includes('"tool":"escalate"'));
/** `reportWants` for a parsed event (of the store): its data is written out only for a step. */
export const reportWantsEvent = (e: AuditEvent) =>
  REPORT_TYPES.has(e.type) &&
  (e.type !== 'step_started' || JSON.stringify(e.data).includes('"tool":"escalate"'));

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
