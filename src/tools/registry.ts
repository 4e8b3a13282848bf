import { z } from 'zod';
import { sha256Hex } from '../kernel/ids.js';
import { addToTicket } from './add-to-ticket.js';
import { applyLabel } from './apply-label.js';
import { classifyEmail } from './classify-email.js';
import { createTicket } from './create-ticket.js';
import { deleteMessage } from './delete-message.js';
import { draftReply } from './draft-reply.js';
import { escalate } from './escalate.js';
import { extractFields } from './extract-fields.js';
import { forwardToTeam } from './forward-to-team.js';
import { issueRefund } from './issue-refund.js';
import { lookupAccount } from './lookup-account.js';
import { lookupOrder } from './lookup-order.js';
import { moveMessage } from './move-message.js';
import { readFacts } from './read-facts.js';
import { searchKb } from './search-kb.js';
import { sendEmail } from './send-email.js';
import { sendReply } from './send-reply.js';
import { summarizeEmail } from './summarize-email.js';
import { updateAccount } from './update-account.js';
import { setFlags } from './set-flags.js';
import { suggestReply } from './suggest-reply.js';
import type { ToolDescriptor } from './tool.js';

/** Every tool Mailroom can run. Adding a tool is one file and one line here. */
export const ALL_TOOLS: readonly ToolDescriptor[] = [
  // sandboxed readers: the only code that sees email text; every output tainted
  classifyEmail,
  summarizeEmail,
  extractFields,
  readFacts,
  // a reply a model that read the email suggests: sent only after a human approves it
  suggestReply,
  // the automatic reply, composed from trusted material and read_facts' enums only
  draftReply,
  // trusted lookups; lookup_order endorses an order id the customer typed
  lookupAccount,
  lookupOrder,
  searchKb,
  // effects on Mailroom and the team
  applyLabel,
  moveMessage,
  setFlags,
  createTicket,
  addToTicket,
  escalate,
  forwardToTeam,
  // a reply to the verified sender
  sendReply,
  // what an attacker wants most: every one waits for a human
  issueRefund,
  sendEmail,
  deleteMessage,
  updateAccount,
];

/** Declarations that would let taint slip through are programming errors, caught at start. */
function checkDeclarations(t: ToolDescriptor): void {
  const inputs = Object.keys(t.input.shape);
  const outputs = Object.keys(t.output.shape);
  for (const name of t.untrustedInputs) if (!inputs.includes(name)) throw new Error(`${t.name}: untrusted input ${name} is not an input`);
  for (const name of t.taintedOutputs) if (!outputs.includes(name)) throw new Error(`${t.name}: tainted output ${name} is not an output`);
  const readsUntrusted = t.untrustedInputs.length > 0;
  const emitsTrusted = outputs.some((o) => !t.taintedOutputs.includes(o));
  const sink = t.risk === 'external' || t.sideEffect;
  if (readsUntrusted && emitsTrusted && !sink && !t.endorses) {
    throw new Error(`${t.name}: takes untrusted input but emits untainted output; declare taintedOutputs or endorses`);
  }
  if (t.endorses && !t.untrustedInputs.includes(t.endorses.input)) throw new Error(`${t.name}: endorses an input that is not untrusted`);
  // Shadow mode never runs such a tool; without a preview it could not say what it would do.
  if (t.risk !== 'read' && !t.preview) throw new Error(`${t.name}: a ${t.risk} tool needs a preview for shadow mode`);
}

export interface ToolRegistry {
  readonly tools: readonly ToolDescriptor[];
  /** Changes whenever a tool's name, risk, schemas or taint declarations change: cached plans then expire. */
  readonly version: string;
  get(name: string): ToolDescriptor | undefined;
}

export function createRegistry(tools: readonly ToolDescriptor[] = ALL_TOOLS): ToolRegistry {
  const byName = new Map(tools.map((t) => [t.name, t]));
  if (byName.size !== tools.length) throw new Error('duplicate tool names in the registry');
  for (const t of tools) checkDeclarations(t);
  const fingerprint = tools.map((t) => ({
    name: t.name,
    risk: t.risk,
    input: z.toJSONSchema(t.input, { unrepresentable: 'any' }),
    output: z.toJSONSchema(t.output, { unrepresentable: 'any' }),
    untrusted: t.untrustedInputs,
    tainted: t.taintedOutputs,
    label: t.outputLabel,
    audience: t.audience ?? null,
    approval: t.requiresApproval ?? null,
    endorses: t.endorses ?? null,
    suggestion: t.suggestion ?? null,
  }));
  return { tools, version: sha256Hex(JSON.stringify(fingerprint)).slice(0, 12), get: (name) => byName.get(name) };
}
