import { z } from 'zod';
import { defineTool } from './tool.js';

/** A folder is a control value: it comes from the plan's literals, never from email text. */
export const TargetFolder = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9/_ .-]{0,99}$/, 'a folder of letters, digits, / _ . - and spaces')
  // The last level of the name, whichever hierarchy separator the server uses (`/`, or `.` as in
  // Dovecot's default Maildir++ layout, where the trash is `INBOX.Trash`).
  .refine((f) => !/^(trash|deleted( items| messages)?|bin)$/i.test(f.split(/[/.]/).filter(Boolean).pop() ?? f), 'moving to the trash is deletion: a human decides');

export const moveMessage = defineTool({
  name: 'move_message',
  description: 'Moves the email to a folder of its mailbox (created if missing). Not the trash: deleting is for humans.',
  risk: 'write',
  input: z.object({ folder: TargetFolder }).strict(),
  output: z.object({ folder: z.string() }).strict(),
  untrustedInputs: [],
  taintedOutputs: [],
  outputLabel: 'internal',
  sideEffect: true,
  async run(input, ctx) {
    // Idempotent: a retry finds the email already in the folder and does nothing.
    return ctx.mailbox.moveTo(input.folder);
  },
  async preview(input) {
    return { output: { folder: input.folder }, messages: [] };
  },
});
