import { z } from 'zod';
import { MessageFlag } from '../ingest/mailbox-actions.js';
import { defineTool } from './tool.js';

export const setFlags = defineTool({
  name: 'set_flags',
  description: 'Sets or clears flags (seen, flagged, answered) on the email in its mailbox.',
  risk: 'write',
  input: z
    .object({ add: z.array(MessageFlag).max(3), remove: z.array(MessageFlag).max(3) })
    .strict()
    .refine((v) => v.add.length + v.remove.length > 0, 'add or remove at least one flag')
    .refine((v) => !v.add.some((f) => v.remove.includes(f)), 'a flag cannot be added and removed at once'),
  output: z.object({ added: z.array(MessageFlag), removed: z.array(MessageFlag) }).strict(),
  untrustedInputs: [],
  taintedOutputs: [],
  outputLabel: 'internal',
  sideEffect: true,
  async run(input, ctx) {
    // STORE +FLAGS / -FLAGS are idempotent: a retried step sets the same state.
    await ctx.mailbox.setFlags({ add: input.add, remove: input.remove });
    return { added: input.add, removed: input.remove };
  },
});
