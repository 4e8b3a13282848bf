import { z } from 'zod';
import { MessageRef } from '../kernel/ids.js';

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
