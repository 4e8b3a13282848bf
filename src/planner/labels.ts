import type { ToolDescriptor } from '../tools/tool.js';
import type { Confidentiality } from '../model/label.js';
import type { PlaceholderRef } from '../model/plan.js';
import type { Label } from '../model/label.js';

/**
 * The one label rule (design invariant 3), used by the validator before a plan is adopted and by
 * the executor again when each step's arguments resolve. Pure: no I/O.
 */

/** A literal written in the plan: the planner saw no sender text, and anyone may read it. */
export const LITERAL_LABEL: Label = { tainted: false, conf: 'public' };

const CONF_ORDER: Record<Confidentiality, number> = { public: 0, sender: 1, internal: 2 };
export function joinConf(a: Confidentiality, b: Confidentiality): Confidentiality {
  return CONF_ORDER[a] >= CONF_ORDER[b] ? a : b;
}

/** Who may read data sent to an audience. */
export function audienceMayRead(audience: 'sender' | 'internal' | 'anyone', conf: Confidentiality): boolean {
  if (audience === 'internal') return true;
  if (audience === 'sender') return conf !== 'internal';
  return conf === 'public';
}

/** What is known of an earlier step's output when a later step refers to it. */
export interface OutputLabel {
  /** The whole output's confidentiality. */
  conf: Confidentiality;
  /** Whether any field is tainted (a reference to the whole output is then tainted). */
  tainted: boolean;
  /** The tainted fields, as the producing tool declares them. */
  taintedFields: readonly string[];
}

/**
 * The label of a plan reference: `{{email.ref}}` is the sender's untrusted text; a
 * `{{context.…}}` value is trusted but the sender's own data; a step output carries its own label,
 * tainted per field (a reference to the whole output is tainted if any field is).
 */
export function refLabel(ref: PlaceholderRef, output?: OutputLabel): Label {
  if (ref.kind === 'email') return { tainted: true, conf: 'sender' };
  if (ref.kind === 'context') return { tainted: false, conf: 'sender' };
  // An output the caller could not find is treated as the most restricted data.
  if (!output) return { tainted: true, conf: 'internal' };
  const field = ref.path[0];
  return { conf: output.conf, tainted: field === undefined ? output.tainted : output.taintedFields.includes(field) };
}

/**
 * What the data-flow policy says of a value with `label` reaching argument `arg` of `tool`:
 * tainted data in a control parameter is a violation (the plan never runs); data the tool's
 * audience may not read — through ANY argument, control or not: a recipient or a ticket title
 * goes out as surely as a body — makes a human look first.
 */
export function argumentFlow(tool: Pick<ToolDescriptor, 'untrustedInputs' | 'audience'>, arg: string, label: Label): { taintViolation: boolean; audienceConcern: boolean } {
  return {
    taintViolation: label.tainted && !tool.untrustedInputs.includes(arg),
    audienceConcern: tool.audience !== undefined && !audienceMayRead(tool.audience, label.conf),
  };
}

/**
 * Whether a `{{context.…}}` value may reach argument `arg` of `tool`: not where the tool wants a
 * literal or a lookup's output (money: the context's numbers measure mail the sender wrote).
 */
export function contextRefused(tool: Pick<ToolDescriptor, 'lookupInputs'>, arg: string): boolean {
  return tool.lookupInputs?.includes(arg) ?? false;
}

/** The label of a tool's output given the labels of its inputs: the validator's and the executor's rule alike. */
export function outputLabelFor(tool: Pick<ToolDescriptor, 'outputLabel' | 'taintedOutputs'>, inputLabels: readonly Label[]): Label {
  const conf = tool.outputLabel === 'inherit' ? inputLabels.reduce<Confidentiality>((c, l) => joinConf(c, l.conf), 'public') : tool.outputLabel;
  return { tainted: tool.taintedOutputs.length > 0, conf };
}
