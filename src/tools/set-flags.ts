import { z } from 'zod';
import { MessageFlag } from '../mail/mailbox-actions.js';
import { defineTool } from './tool.js';

export const setFlags = defineTool({
  name: 'set_flags',
  description: 'Sets (true) or clears (false) the seen, flagged and answered flags of the email in its mailbox; omitted flags stay as they are.',
  risk: 'write',
  // Scalar arguments: plans hold literals and placeholders, not arrays.
  input: z
    .object({ seen: z.boolean().optional(), flagged: z.boolean().optional(), answered: z.boolean().optional() })
    .strict()
    .refine((v) => Object.values(v).some((x) => x !== undefined), 'set or clear at least one flag'),
  output: z.object({ added: z.array(MessageFlag), removed: z.array(MessageFlag) }).strict(),
  untrustedInputs: [],
  taintedOutputs: [],
  outputLabel: 'internal',
  sideEffect: true,
  async run(input, ctx) {
    const { add, remove } = flagChange(input);
    // STORE +FLAGS / -FLAGS are idempotent: a retried step sets the same state.
    await ctx.mailbox.setFlags({ add, remove });
    return { added: add, removed: remove };
  },
  async preview(input) {
    const { add, remove } = flagChange(input);
    return { output: { added: add, removed: remove }, messages: [] };
  },
});

function flagChange(input: Partial<Record<MessageFlag, boolean>>): { add: MessageFlag[]; remove: MessageFlag[] } {
  const flags = MessageFlag.options;
  return { add: flags.filter((f) => input[f] === true), remove: flags.filter((f) => input[f] === false) };
}
