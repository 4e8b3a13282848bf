import type { AppContext } from '../services/services.js';
import { MailroomError } from '../kernel/errors.js';
import type { ToolContext, ToolDescriptor } from '../tools/tool.js';
import type { WouldSend} from '../model/would-do.js';
import { type WouldDo } from '../model/would-do.js';

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
