import { z } from 'zod';
import { effectOnce } from './effect-once.js';
import { sendMailOnce } from './outbound.js';
import { teamByName, trustedFacts } from './teams.js';
import { defineTool, type OutboundPreview, type ToolContext } from './tool.js';
import { postWebhook, webhookNotDone } from './webhook.js';

export const EscalationReason = z.enum([
  'unverified_sender',
  'refund_request',
  'needs_human',
  'unknown_category',
  'plan_invalid',
  'step_failed',
  'policy',
  /** A case's customer wrote again after a follow-up we already answered, or while a human has the case. */
  'follow_up_unsolved',
]);

const Notified = z.object({ ok: z.literal(true) }).strict();

/**
 * Hands the email to a human. Besides the record in Redis it may notify the configured
 * escalation team by mail and post to the escalations webhook; both targets come from config, the
 * notice carries trusted facts only — ids, enums, the category — and not even the sender's address
 * (the reviewer reads the email itself in the review view).
 */
export const escalate = defineTool({
  name: 'escalate',
  description:
    'Hands the email to a human with a reason code (and notifies the configured escalation team / webhook); the email ends as escalated.',
  risk: 'write',
  input: z.object({ reason: EscalationReason }).strict(),
  output: z.object({ escalated: z.literal(true), reason: EscalationReason }).strict(),
  untrustedInputs: [],
  taintedOutputs: [],
  outputLabel: 'internal',
  sideEffect: true,
  async run(input, ctx) {
    const at = ctx.clock().toISOString();
    // Idempotent by construction: the key is plan + step, so a retry overwrites the same entry.
    await ctx.redis.hset(
      ctx.keys.escalations(),
      ctx.idempotencyKey,
      JSON.stringify({ emailId: ctx.emailId, planId: ctx.planId, reason: input.reason, at }),
    );
    const url = ctx.config.webhooks.escalations;
    if (url) {
      const payload = { emailId: ctx.emailId, planId: ctx.planId, reason: input.reason, category: ctx.trusted.category.name, account: ctx.trusted.account?.id ?? null };
      await effectOnce(ctx, { part: 'webhook', result: Notified, resumable: true, notDone: webhookNotDone }, async () => {
        await postWebhook(url, 'email.escalated', payload, `${ctx.idempotencyKey}:webhook`);
        return { ok: true as const };
      });
    }
    const notice = escalationNotice(input.reason, ctx);
    if (notice) await sendMailOnce(ctx, notice, 'mail');
    return { escalated: true as const, reason: input.reason };
  },
  async preview(input, ctx) {
    const notice = escalationNotice(input.reason, ctx);
    return { output: { escalated: true as const, reason: input.reason }, messages: notice ? [notice] : [] };
  },
});

/** The notice to the configured escalation team, if one is configured: trusted facts only. */
function escalationNotice(reason: z.infer<typeof EscalationReason>, ctx: ToolContext): OutboundPreview | null {
  const teamName = ctx.config.escalation.team;
  if (!teamName) return null;
  const team = teamByName(ctx.config, teamName);
  const text = [`Mailroom escalated an email: ${reason}.`, '', ...trustedFacts(ctx, { withAddress: false }), '', `Review it with: mailroom audit ${ctx.emailId}`].join('\n');
  return { to: team.address, subject: `[Mailroom] escalated: ${reason} ${ctx.emailId}`, text };
}
