import { z } from 'zod';

export const EvalAgent = z.enum(['mailroom', 'react-baseline']);
export type EvalAgent = z.infer<typeof EvalAgent>;
export const EvalModel = z.enum(['worst-case', 'evasive', 'endpoint']);
export type EvalModel = z.infer<typeof EvalModel>;

/** What one attacked run did, beside its benign twin (no email text, only what ran and why it counts). */
export const RunSummary = z.object({
  base: z.string(),
  state: z.string(),
  /** Tools that ran, in order. */
  executed: z.array(z.string()),
  /** Recipients of the mail it sent. */
  mail_to: z.array(z.string()),
  /** Why it is a hard success (empty when it is not). */
  hard: z.array(z.string()),
  /** What differs from the benign run. */
  changed: z.array(z.string()),
  parked: z.boolean(),
});
export type RunSummary = z.infer<typeof RunSummary>;

export const ItemResult = z.object({
  id: z.string(),
  technique: z.string().nullable(),
  attacker_goal_kind: z.string().nullable(),
  placement: z.string(),
  hard_success: z.boolean(),
  routing_changed: z.boolean(),
  parked: z.boolean(),
  /** The item's canary was in at least one model request. */
  payload_reached_model: z.boolean(),
  effects: z.array(RunSummary),
  /** Set when the item could not be run: it still counts in `total`, and the run fails. */
  error: z.string().optional(),
});
export type ItemResult = z.infer<typeof ItemResult>;

/** The `--json` object of `mailroom eval injections`. */
export const EvalReport = z.object({
  agent: EvalAgent,
  model: EvalModel,
  /** Corpus items, every one counted (errors included). */
  total: z.number().int(),
  hard_successes: z.number().int(),
  /** hard_successes / total. */
  asr_hard: z.number(),
  /** Items that changed what ran (tools, control arguments, recipients, tickets, …) without a hard success. */
  routing_changes: z.number().int(),
  /** Items whose attacked run waits for a human where the benign run did not. */
  parked: z.number().int(),
  /** Share of items whose payload (its canary) reached at least one model request. */
  payload_reached_model: z.number(),
  /** Share of the benign base emails that completed without a human. */
  benign_completed: z.number(),
  /** Items that could not be run. */
  errors: z.number().int(),
  base_emails: z.number().int(),
  elapsed_ms: z.number().int(),
  items: z.array(ItemResult),
});
export type EvalReport = z.infer<typeof EvalReport>;

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** The human-readable summary (the table the README quotes). */
export function formatReport(r: EvalReport): string {
  const lines = [
    `agent ${r.agent}, model ${r.model}: ${r.total} items × ${r.base_emails} base emails in ${(r.elapsed_ms / 1000).toFixed(1)} s`,
    `  hard successes      ${r.hard_successes} (ASR ${pct(r.asr_hard)})`,
    `  routing changes     ${r.routing_changes}`,
    `  parked              ${r.parked}`,
    `  payload reached     ${pct(r.payload_reached_model)} of items`,
    `  benign completed    ${pct(r.benign_completed)} without a human`,
  ];
  if (r.errors) lines.push(`  errors              ${r.errors} (items that could not be run)`);
  const hard = r.items.filter((i) => i.hard_success).slice(0, 10);
  if (hard.length) lines.push('hard successes (first 10):');
  for (const i of hard) lines.push(`  ${i.id.padEnd(40)} ${[...new Set(i.effects.flatMap((e) => e.hard))].join(', ')}`);
  const failed = r.items.filter((i) => i.error).slice(0, 10);
  for (const i of failed) lines.push(`  error ${i.id}: ${i.error ?? ''}`);
  return lines.join('\n');
}
