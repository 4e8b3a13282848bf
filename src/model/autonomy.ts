import { z } from 'zod';

/** How much a step may do alone, strictest first (see src/planner/autonomy.ts). */
export const AutonomyLevel = z.enum(['never', 'suggest', 'review', 'auto']);
export type AutonomyLevel = z.infer<typeof AutonomyLevel>;

/** `run_time`: a check when the step was about to run (a reply rate limit, a label, a draft's links) held an `auto` step for a person. */
export const LimitKind = z.enum([
  'recipient',
  'human_only',
  'unverified_sender',
  'robot_mail',
  'suggestion',
  'amount',
  'classifier_category',
  'run_time',
]);
export type LimitKind = z.infer<typeof LimitKind>;

/** The level of one step of a plan and why: recorded with the plan, in the audit and the review. */
export const StepAutonomy = z
  .object({
    stepId: z.string(),
    tool: z.string(),
    level: AutonomyLevel,
    /** What the rules (or the default) chose, before the limits. */
    configured: AutonomyLevel,
    /** The rule that chose it (`rules[index]`); null when the default did. */
    rule: z.object({ index: z.number().int().min(0), name: z.string() }).nullable(),
    /** The limit that made the step stricter than configured. */
    limit: z.object({ kind: LimitKind, why: z.string() }).nullable(),
    /** A money step left `auto`: the amount above which it parks when it is about to run. */
    ceiling: z.number().optional(),
  })
  .strict();
export type StepAutonomy = z.infer<typeof StepAutonomy>;
