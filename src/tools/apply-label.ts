import { z } from 'zod';
import { defineTool } from './tool.js';

/** A label is a control value: it never comes from untrusted content. */
export const LabelName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9/_ .-]{0,63}$/, 'a label of letters, digits, / _ . -');

export const applyLabel = defineTool({
  name: 'apply_label',
  description: 'Labels the email: on IMAP mailboxes on the server (a keyword, or a Gmail label), and in Mailroom.',
  risk: 'write',
  input: z.object({ label: LabelName }).strict(),
  output: z.object({ label: z.string() }).strict(),
  untrustedInputs: [],
  taintedOutputs: [],
  outputLabel: 'internal',
  sideEffect: true,
  async run(input, ctx) {
    // Applying the same label twice is the same effect, so a retry is harmless.
    await ctx.mailbox.addLabel(input.label);
    return { label: input.label };
  },
  async preview(input) {
    return { output: { label: input.label }, messages: [] };
  },
});
