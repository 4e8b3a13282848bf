import { z } from 'zod';
import { EmailId, PlanId } from '../kernel/ids.js';
import { StepAutonomy } from './autonomy.js';
import { Plan } from './plan.js';

/** A validated plan as kept in Redis for the executor and the review view. */
export const StoredPlan = z.object({
  planId: PlanId,
  emailId: EmailId,
  plan: Plan,
  planner: z.enum(['playbook', 'robot', 'llm', 'fallback']),
  registryVersion: z.string(),
  createdAt: z.string(),
  /** 0 for the first plan of an email; each replan adds one. */
  generation: z.number().int().min(0).default(0),
  /** A parked plan runs up to this step, then waits for a human; null when auto-approved. */
  gate: z
    .object({ step: z.number().int().min(0), reasons: z.array(z.string()) })
    .nullable()
    .default(null),
  /** The ledger reason when the plan completes (e.g. the robot kind: `bounce`); empty otherwise. */
  completionReason: z.string().max(80).optional(),
  /** Shadow mode (src/executor/shadow.ts): the plan's write and external steps are previewed, never run. */
  shadow: z.boolean().optional(),
  /** The autonomy level of each write and external step (src/planner/autonomy.ts); absent on plans stored before autonomy. */
  autonomy: z.array(StepAutonomy).optional(),
  /** Set when a step's level is `never`: nothing of the plan runs and the email escalates with these reasons. */
  refused: z.array(z.string()).optional(),
});
export type StoredPlan = z.infer<typeof StoredPlan>;
