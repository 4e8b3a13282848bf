import { ShadowOutcome, type WouldDo } from '../model/would-do.js';
import type { AuditEvent } from './audit-trail.js';
import type { EmailRecord } from './email-ledger.js';
import { wouldDoEffects } from './trail-reading.js';

/** What one email contributes, read from its ledger record and its trail. */
export interface EmailOutcome {
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
export function emailOutcome(record: EmailRecord, events: readonly AuditEvent[]): EmailOutcome {
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
  let caseOutcome: EmailOutcome['case'] = null;
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
        caseOutcome = {
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
    case: caseOutcome,
  };
}

/** A follow-up reopens its case when it is not a thank-you and the email before it was resolved without a human. */
export function reopens(f: EmailOutcome): boolean {
  return (
    f.case !== null &&
    f.case.followUp &&
    f.record.category !== 'thanks' &&
    (f.case.previous === 'replied' || f.case.previous === 'no_reply')
  );
}
