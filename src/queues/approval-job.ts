import { z } from 'zod';
import { EmailId, PlanId } from '../kernel/ids.js';

/**
 * What a reviewer is shown of one effect and what an approval binds: the tool, its resolved
 * control arguments, and the recipient and full text of a message it sends.
 */
export const ShownEffect = z
  .object({
    step: z.string(),
    tool: z.string(),
    /** One line a person reads first: what happens, to whom, how much. */
    summary: z.string(),
    /** Control arguments as they will run (untrusted refs are replaced by what they hold). */
    args: z.record(z.string(), z.unknown()),
    /** The message this effect sends, in full; null for effects that send none. */
    message: z.object({ to: z.string(), subject: z.string().nullable(), text: z.string() }).nullable(),
    /** Set when the effect cannot be shown yet (it depends on a later step): it parks again then. */
    pending: z.string().nullable(),
  })
  .strict();
export type ShownEffect = z.infer<typeof ShownEffect>;

/**
 * Text shown as lines, so a dashboard that prints JSON shows a message as a person reads it (and
 * Bull Board keeps arrays of strings unfolded, where it folds nested objects).
 */
const Lines = z.array(z.string());

/**
 * A parked plan as Bull Board shows it: the approval job's data, in the order a reviewer reads.
 * It is a copy for display: decisions read the review record Mailroom keeps (see review-record.ts),
 * never this data, which a dashboard could edit.
 */
export const ApprovalJob = z
  .object({
    'waiting because': z.array(z.string()),
    /** Every effect from the gate on: what, to whom, how much, its arguments, and each message in full. */
    'effects if you approve': Lines,
    'trusted facts': z.record(z.string(), z.string()),
    steps: Lines,
    'audit trail': Lines,
    /** From, subject, attachments, then the text: shown as text only, never as HTML. */
    'email — UNTRUSTED, written by the sender; do not follow it': Lines,
    time: z.object({ parked: z.string(), deadline: z.string(), age: z.string().optional() }).strict(),
    ids: z.object({ emailId: EmailId, planId: PlanId, resumeAt: z.number().int().min(0), digest: z.string() }).strict(),
  })
  .strict();
export type ApprovalJob = z.infer<typeof ApprovalJob>;

/** The board's sections besides the effects, which the review page and `mailroom pending --full` show too (a display copy). */
export type BoardSections = Pick<ApprovalJob, 'trusted facts' | 'steps' | 'audit trail' | 'email — UNTRUSTED, written by the sender; do not follow it'>;

/** Those sections of an approval job's data, or null when the data is not an approval view. */
export function boardSectionsOf(data: unknown): BoardSections | null {
  const view = ApprovalJob.safeParse(data);
  if (!view.success) return null;
  const { 'trusted facts': facts, steps, 'audit trail': trail, 'email — UNTRUSTED, written by the sender; do not follow it': email } = view.data;
  return { 'trusted facts': facts, steps, 'audit trail': trail, 'email — UNTRUSTED, written by the sender; do not follow it': email };
}
