import { z } from 'zod';
import { defineTool } from './tool.js';

export const DeletionReason = z.enum(['spam', 'phishing', 'duplicate', 'customer_request']);

/**
 * Deletes the email being handled, and nothing else: there is no message parameter, so no plan
 * can aim it at other mail. The deletion is recorded in Redis; the mailbox source applies it on
 * the server (for IMAP: moved to Trash). Destructive, so a human always approves it first.
 */
export const deleteMessage = defineTool({
  name: 'delete_message',
  description: 'Deletes this email (only this one) with a reason code. Destructive: always waits for a human.',
  risk: 'write',
  input: z.object({ reason: DeletionReason }).strict(),
  output: z.object({ deleted: z.literal(true), reason: DeletionReason }).strict(),
  untrustedInputs: [],
  taintedOutputs: [],
  outputLabel: 'internal',
  requiresApproval: 'deletes mail',
  sideEffect: true,
  async run(input, ctx) {
    // Keyed by the email: deleting twice is the same effect, so a retry is harmless.
    await ctx.redis.hset(
      ctx.keys.deletions(),
      ctx.emailId,
      JSON.stringify({ reason: input.reason, planId: ctx.planId, stepId: ctx.stepId, at: ctx.clock().toISOString() }),
    );
    return { deleted: true as const, reason: input.reason };
  },
  async preview(input) {
    return { output: { deleted: true as const, reason: input.reason }, messages: [] };
  },
});
