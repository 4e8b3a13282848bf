import { z } from 'zod';
import { sha256Hex } from '../ids.js';
import { applyLabel } from './apply-label.js';
import { classifyEmail } from './classify-email.js';
import { draftReply } from './draft-reply.js';
import { escalate } from './escalate.js';
import { searchKb } from './search-kb.js';
import { sendReply } from './send-reply.js';
import type { ToolDescriptor } from './tool.js';

/** Every tool Mailroom can run. Adding a tool is one file and one line here. */
export const ALL_TOOLS: readonly ToolDescriptor[] = [classifyEmail, searchKb, draftReply, sendReply, applyLabel, escalate];

export interface ToolRegistry {
  readonly tools: readonly ToolDescriptor[];
  /** Changes whenever a tool's name, risk, schemas or taint declarations change: cached plans then expire. */
  readonly version: string;
  get(name: string): ToolDescriptor | undefined;
}

export function createRegistry(tools: readonly ToolDescriptor[] = ALL_TOOLS): ToolRegistry {
  const byName = new Map(tools.map((t) => [t.name, t]));
  if (byName.size !== tools.length) throw new Error('duplicate tool names in the registry');
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
  }));
  return { tools, version: sha256Hex(JSON.stringify(fingerprint)).slice(0, 12), get: (name) => byName.get(name) };
}
