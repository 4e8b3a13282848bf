import type { AppContext } from '../services/services.js';
import type { EmailId, PlanId } from '../kernel/ids.js';
import type { StoredPlan } from '../model/stored-plan.js';
import type { ShownEffect } from '../queues/approval-job.js';
import type { WouldDo, WouldSend } from '../model/would-do.js';

/**
 * Autonomy `suggest`: when a plan parks, each of its effects whose level is `suggest` is recorded
 * as a would-do effect, as shadow mode records them (same `would_do` event, messages stored by
 * reference), so the report and the audit show what Mailroom suggested; the email waits for a
 * person, who approves or rejects it like any parked plan. Effects that cannot be shown yet (they
 * depend on a later step) are recorded when the plan parks again at them.
 */
export async function recordSuggestions(
  app: Pick<AppContext, 'audit' | 'content' | 'registry'>,
  emailId: EmailId,
  planId: PlanId,
  stored: Pick<StoredPlan, 'autonomy'>,
  effects: readonly ShownEffect[],
): Promise<void> {
  for (const effect of effects) {
    const level = stored.autonomy?.find((d) => d.stepId === effect.step)?.level;
    const risk = app.registry.get(effect.tool)?.risk;
    if (level !== 'suggest' || effect.pending !== null || risk === undefined || risk === 'read') continue;
    const messages: WouldSend[] = effect.message
      ? [{ to: effect.message.to, subject: effect.message.subject ?? '', textRef: await app.content.putText('message', effect.message.text) }]
      : [];
    const event: WouldDo = { planId, stepId: effect.step, tool: effect.tool, risk, args: effect.args, messages };
    await app.audit.append(emailId, 'would_do', 'autonomy', event);
  }
}
