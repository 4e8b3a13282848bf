import type { z } from 'zod';
import { MailroomError } from '../kernel/errors.js';
import { refKindOf, type EmailRef } from '../kernel/ids.js';
import type { TrustedContext } from '../model/trusted-context.js';
import { argumentFlow, contextRefused, LITERAL_LABEL, refLabel } from '../planner/labels.js';
import { type Label } from '../model/label.js';
import { refKinds } from '../planner/plan-validator.js';
import { parsePlaceholder, type Step } from '../model/plan.js';
import type { LabelledOutput } from '../store/run-store.js';
import type { ToolDescriptor } from '../tools/tool.js';

/**
 * What a step's placeholders resolve from: the trusted context (`{{context.…}}`), the email's
 * content ref (`{{email.ref}}`) and the labelled outputs of earlier steps (`{{steps.…}}`).
 */
export interface RefSources {
  trusted: TrustedContext;
  emailRef: EmailRef;
  outputs: Record<string, LabelledOutput>;
}

export interface ResolvedArgs {
  args: Record<string, unknown>;
  labels: Record<string, Label>;
  /** Confidentiality concerns found at run time: the step parks instead of running. */
  parkReasons: string[];
}

function pick(value: unknown, path: readonly string[]): unknown {
  let cur = value;
  for (const p of path) {
    if (typeof cur !== 'object' || cur === null || !(p in cur)) return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

/**
 * Resolves a step's placeholders from the trusted context, the email ref and earlier outputs, and
 * enforces the data-flow policy again at run time (defence in depth: a plan that slipped past the
 * validator, or a tool whose output labels changed, still cannot route tainted data into control).
 */
export function resolveArgs(
  step: Step,
  tool: ToolDescriptor,
  sources: RefSources,
): ResolvedArgs {
  const args: Record<string, unknown> = {};
  const labels: Record<string, Label> = {};
  const parkReasons: string[] = [];
  for (const [name, raw] of Object.entries(step.args)) {
    let value: unknown = raw;
    let label: Label = LITERAL_LABEL;
    const ref = typeof raw === 'string' ? parsePlaceholder(raw) : null;
    if (ref?.kind === 'email') {
      value = sources.emailRef;
      label = refLabel(ref);
    } else if (ref?.kind === 'context') {
      // Checked again here: money never takes a number the sender's mail measured, even in a plan
      // that slipped past the validator.
      if (contextRefused(tool, name)) throw new MailroomError('TAINT_VIOLATION', `"${name}" of ${tool.name} takes a literal or a lookup's output, not {{context.${ref.path.join('.')}}}`);
      value = pick(sources.trusted, ref.path);
      label = refLabel(ref);
    } else if (ref?.kind === 'step') {
      const out = sources.outputs[ref.stepId];
      if (!out) throw new MailroomError('PLAN_INVALID', `step ${step.id} needs the output of ${ref.stepId}, which has none`);
      value = ref.path.length ? pick(out.value, ref.path) : out.value;
      label = refLabel(ref, { conf: out.label.conf, tainted: out.label.tainted, taintedFields: out.taintedFields });
    }
    // The ref's kind is checked again where it is used: a summary never runs as a draft, even in
    // a plan that slipped past the validator or an output that changed under it.
    const field = (tool.input.shape as Record<string, z.ZodType>)[name];
    const accepted = field ? refKinds(field) : new Set();
    const kind = refKindOf(value);
    if ((accepted.size > 0 && value != null && (kind === null || !accepted.has(kind))) || (kind !== null && accepted.size === 0)) {
      throw new MailroomError('TAINT_VIOLATION', `a ${kind ?? 'non-ref'} value reached "${name}" of ${tool.name}, which takes ${accepted.size ? `a ${[...accepted].join('/')} ref` : 'no ref'}`);
    }
    const flow = argumentFlow(tool, name, label);
    if (flow.taintViolation) {
      throw new MailroomError('TAINT_VIOLATION', `tainted data reached the control parameter "${name}" of ${tool.name}`);
    }
    if (flow.audienceConcern && tool.audience) {
      parkReasons.push(`${label.conf} data would reach ${tool.audience} through ${tool.name}.${name}`);
    }
    args[name] = value;
    labels[name] = label;
  }
  return { args, labels, parkReasons };
}
