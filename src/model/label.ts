import { z } from 'zod';

/**
 * Information-flow labels (design invariant 3): every value a step sees carries one. The rule that
 * combines them is src/planner/labels.ts.
 */

/** Who may read a value, as a schema (the run store parses stored step outputs with it). */
export const ConfidentialityLevel = z.enum(['public', 'sender', 'internal']);
export type Confidentiality = z.infer<typeof ConfidentialityLevel>;

/** Where a value came from: whether untrusted text shaped it, and who may read it. */
export const Label = z.object({ tainted: z.boolean(), conf: ConfidentialityLevel }).strict();
export type Label = z.infer<typeof Label>;
