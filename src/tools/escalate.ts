import { z } from 'zod';
import { defineTool } from './tool.js';

export const EscalationReason = z.enum([
  'unverified_sender',
  'refund_request',
  'needs_human',
  'unknown_category',
  'plan_invalid',
  'step_failed',
  'policy',
]);

export const escalate = defineTool({
  name: 'escalate',
  description: 'Hands the email to a human with a reason code; the email ends as escalated.',
  risk: 'write',
  input: z.object({ reason: EscalationReason }).strict(),
  output: z.object({ escalated: z.literal(true), reason: EscalationReason }).strict(),
  untrustedInputs: [],
  taintedOutputs: [],
  outputLabel: 'internal',
  sideEffect: true,
  async run(input, ctx) {
    // Idempotent by construction: the key is plan + step, so a retry overwrites the same entry.
    await ctx.redis.hset(
      ctx.keys.escalations(),
      ctx.idempotencyKey,
      JSON.stringify({ emailId: ctx.emailId, planId: ctx.planId, reason: input.reason, at: new Date().toISOString() }),
    );
    return { escalated: true as const, reason: input.reason };
  },
});
