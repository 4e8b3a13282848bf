import { z } from 'zod';
import type { AppContext } from '../app/context.js';
import { MailroomError } from '../kernel/errors.js';
import { MessageRef } from '../kernel/ids.js';
import type { ToolContext, ToolDescriptor } from '../tools/tool.js';

/**
 * Shadow mode: everything up to an effect runs for real (ingest, triage, plan, validation,
 * policy, the sandboxed readers and lookups), but no step of risk `write` or `external` acts.
 * Each such step is previewed instead — the tool computes what it would do without doing it — and
 * recorded as a would-do effect; the email ends `shadowed` with what a live run would have done.
 *
 * Whether an email is in shadow is fixed when it is taken in (`EmailRecord.mode`) and copied into
 * each of its plans (`StoredPlan.shadow`), so switching a mailbox or the daemon to live later never
 * acts on mail handled in shadow: its plans end `shadowed` (src/run/lifecycle.ts), and nothing of it
 * waits for approval.
 */

/** Whether steps of this tool act on the world (and so are previewed, never run, in shadow). */
export function actsOnTheWorld(tool: Pick<ToolDescriptor, 'risk'>): boolean {
  return tool.risk !== 'read';
}

/** A message shadow mode would have sent; its text is stored by reference, like email content. */
export const WouldSend = z.object({ to: z.string(), subject: z.string(), textRef: MessageRef }).strict();
export type WouldSend = z.infer<typeof WouldSend>;

/** The `data` of a `would_do` audit event. */
export const WouldDo = z
  .object({
    planId: z.string(),
    stepId: z.string(),
    tool: z.string(),
    risk: z.enum(['write', 'external']),
    /** Resolved control arguments; untrusted inputs appear as `[untrusted ref]`, as in `step_started`. */
    args: z.record(z.string(), z.unknown()),
    messages: z.array(WouldSend),
  })
  .strict();
export type WouldDo = z.infer<typeof WouldDo>;

/** What a live run would have done with the email: the data of its `shadowed` audit event. */
export const ShadowOutcome = z.enum(['complete', 'park', 'escalate']);
export type ShadowOutcome = z.infer<typeof ShadowOutcome>;

type Deps = Pick<AppContext, 'audit' | 'content'>;

/**
 * Runs a write or external step in shadow: the tool's preview (same checks as `run`, so a draft
 * `run` would refuse still parks), its messages stored by reference, one `would_do` audit event.
 * Returns the output the tool would have returned, so later steps resolve as in a live run.
 */
export async function previewStep(
  app: Deps,
  tool: ToolDescriptor,
  input: unknown,
  ctx: ToolContext,
  auditArgs: Record<string, unknown>,
): Promise<unknown> {
  if (!tool.preview || tool.risk === 'read')
    throw new MailroomError('INTERNAL', `${tool.name} has no preview for shadow mode`);
  const parsed = tool.input.parse(input);
  const preview = await tool.preview(parsed, ctx);
  const messages: WouldSend[] = [];
  for (const m of preview.messages)
    messages.push({ to: m.to, subject: m.subject, textRef: await app.content.putText('message', m.text) });
  const event: WouldDo = {
    planId: ctx.planId,
    stepId: ctx.stepId,
    tool: tool.name,
    risk: tool.risk,
    args: auditArgs,
    messages,
  };
  await app.audit.append(ctx.emailId, 'would_do', 'shadow', event);
  return preview.output;
}
