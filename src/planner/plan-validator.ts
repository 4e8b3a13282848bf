import { z } from 'zod';
import { refKindsOfPattern, type RefKind } from '../kernel/ids.js';
import { TrustedContext } from '../model/trusted-context.js';
import type { ToolRegistry } from '../tools/registry.js';
import { argumentFlow, contextRefused, outputLabelFor, refLabel } from './labels.js';
import { type Label } from '../model/label.js';
import { parsePlaceholder, type Plan, type PlaceholderRef } from '../model/plan.js';

/** One rule, one code: the feedback the LLM planner gets and the audit records. */
export type ValidationRule =
  | 'unknown_tool'
  | 'duplicate_step_id'
  | 'unknown_argument'
  | 'missing_argument'
  | 'invalid_placeholder'
  | 'missing_step'
  | 'forward_reference'
  | 'cycle'
  | 'unknown_output_field'
  | 'unknown_context_field'
  | 'argument_type'
  | 'too_many_steps'
  | 'fan_out'
  | 'tainted_control_argument'
  /** A ref of one kind (e.g. a summary) wired into a parameter that takes another (e.g. a draft). */
  | 'ref_kind'
  /** A `{{context.…}}` value in a parameter that takes only a literal or a lookup's output (money). */
  | 'context_in_lookup_argument'
  /** The model's output could not be decoded as a plan at all. */
  | 'output_schema';

export interface ValidationError {
  rule: ValidationRule;
  stepId: string | null;
  arg: string | null;
  message: string;
}

export interface PlanLimits {
  maxSteps: number;
  /** How many later steps may consume one step's output. */
  maxFanOut: number;
}

export const DEFAULT_LIMITS: PlanLimits = { maxSteps: 12, maxFanOut: 4 };

export interface ValidationResult {
  ok: boolean;
  errors: ValidationError[];
  /** Confidentiality concerns: the plan is valid but must wait for a human. */
  parkReasons: string[];
  /** Labels of each step's output. */
  outputLabels: Record<string, Label>;
}

type JsonType = 'string' | 'number' | 'integer' | 'boolean' | 'null' | 'object' | 'array';

/** What {@link jsonTypes} found in one schema; shared between callers, so read-only. */
export interface JsonTypes {
  readonly types: ReadonlySet<JsonType>;
  readonly enumValues: readonly unknown[] | null;
  readonly patterns: ReadonlySet<string>;
}

/**
 * Per schema object: tool schemas are built once and never change, and converting one to JSON
 * Schema on every plan validation and every step was the largest CPU cost of the pipeline.
 */
const jsonTypesCache = new WeakMap<z.ZodType, JsonTypes>();

export function jsonTypes(schema: z.ZodType): JsonTypes {
  const known = jsonTypesCache.get(schema);
  if (known) return known;
  const found = computeJsonTypes(schema);
  jsonTypesCache.set(schema, found);
  return found;
}

function computeJsonTypes(schema: z.ZodType): JsonTypes {
  const js = z.toJSONSchema(schema, { unrepresentable: 'any', io: 'output' }) as Record<string, unknown>;
  const types = new Set<JsonType>();
  let enumValues: unknown[] | null = null;
  const patterns = new Set<string>();
  const visit = (node: unknown) => {
    if (typeof node !== 'object' || node === null) return;
    const n = node as Record<string, unknown>;
    if (Array.isArray(n.enum)) enumValues = [...(enumValues ?? []), ...n.enum];
    if ('const' in n) enumValues = [...(enumValues ?? []), n.const];
    if (typeof n.pattern === 'string') patterns.add(n.pattern);
    if (typeof n.type === 'string') types.add(n.type as JsonType);
    if (Array.isArray(n.type)) for (const t of n.type) types.add(t as JsonType);
    for (const k of ['anyOf', 'oneOf', 'allOf'] as const) if (Array.isArray(n[k])) (n[k] as unknown[]).forEach(visit);
  };
  visit(js);
  if (types.has('integer')) types.add('number');
  return { types, enumValues, patterns };
}

/** Whether every value the source can hold is acceptable to the target, judged by JSON types. */
export function typeCompatible(source: z.ZodType, target: z.ZodType): boolean {
  const s = jsonTypes(source);
  const t = jsonTypes(target);
  if (t.enumValues) {
    if (!s.enumValues) return false;
    return s.enumValues.every((v) => t.enumValues?.includes(v) || (v === null && t.types.has('null')));
  }
  if (t.types.size === 0) return true;
  // A constrained string (an untrusted ref, a label) accepts only values under the same constraint.
  if (t.patterns.size > 0 && ![...t.patterns].every((p) => s.patterns.has(p))) return false;
  return [...s.types].every((x) => t.types.has(x) || (x === 'integer' && t.types.has('number')));
}

function fieldAt(schema: z.ZodType, path: readonly string[]): z.ZodType | undefined {
  let cur: z.ZodType | undefined = schema;
  for (const part of path) {
    while (cur instanceof z.ZodNullable || cur instanceof z.ZodOptional) cur = cur.unwrap() as z.ZodType;
    if (cur instanceof z.ZodDiscriminatedUnion || cur instanceof z.ZodUnion) {
      const options = cur.options as z.ZodType[];
      cur = options.map((o) => fieldAt(o, [part])).find((f) => f !== undefined);
      continue;
    }
    if (!(cur instanceof z.ZodObject)) return undefined;
    cur = (cur.shape as Record<string, z.ZodType>)[part];
    if (!cur) return undefined;
  }
  return cur;
}

/** The ref kinds a schema admits (read from its patterns); empty when it holds no ref. */
export function refKinds(field: z.ZodType): Set<RefKind> {
  const kinds = new Set<RefKind>();
  for (const p of jsonTypes(field).patterns) for (const k of refKindsOfPattern(p)) kinds.add(k);
  return kinds;
}

/** Whether a parameter holds a ref to untrusted content: only placeholders may fill it, never a literal. */
function isRefParam(field: z.ZodType): boolean {
  return refKinds(field).size > 0;
}

/** A ref-kind mismatch between what a source produces and what a parameter accepts, described; null when it fits. */
function refKindMismatch(produced: ReadonlySet<RefKind>, target: z.ZodType): string | null {
  const accepted = refKinds(target);
  if (accepted.size === 0 && produced.size === 0) return null;
  if (accepted.size === 0) return `it is a ${[...produced].join('/')} ref, and this parameter takes no ref`;
  if (produced.size === 0) return `it is not a ref; this parameter takes a ${[...accepted].join('/')} ref`;
  const wrong = [...produced].filter((k) => !accepted.has(k));
  return wrong.length ? `it is a ${wrong.join('/')} ref; this parameter takes a ${[...accepted].join('/')} ref` : null;
}

/** Results of {@link validatePlan} per registry, by the plan's JSON and the limits; oldest dropped first. */
const validations = new WeakMap<ToolRegistry, Map<string, ValidationResult>>();
const VALIDATIONS_KEPT = 500;

/**
 * Validates a plan against the registry: every rule of the design's invariant 3. Pure: no I/O,
 * no clock, no model. The same function checks fresh, cached and replanned plans.
 *
 * Being pure, its result for a plan it already checked (the same JSON, registry and limits) is
 * remembered: a playbook or a cached LLM plan recurs for every email of its kind, and checking it
 * cost ~0.1 ms an email. Each caller gets its own copy of the result.
 */
export function validatePlan(plan: Plan, registry: ToolRegistry, limits: PlanLimits = DEFAULT_LIMITS): ValidationResult {
  let known = validations.get(registry);
  if (!known) validations.set(registry, (known = new Map()));
  const key = `${limits.maxSteps}/${limits.maxFanOut}/${JSON.stringify(plan)}`;
  let result = known.get(key);
  if (!result) {
    result = checkPlan(plan, registry, limits);
    known.set(key, result);
    if (known.size > VALIDATIONS_KEPT) {
      const oldest = known.keys().next();
      if (!oldest.done) known.delete(oldest.value);
    }
  }
  return { ok: result.ok, errors: result.errors.map((e) => ({ ...e })), parkReasons: [...result.parkReasons], outputLabels: copyLabels(result.outputLabels) };
}

function copyLabels(labels: Record<string, Label>): Record<string, Label> {
  return Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, { ...v }]));
}

function checkPlan(plan: Plan, registry: ToolRegistry, limits: PlanLimits): ValidationResult {
  const errors: ValidationError[] = [];
  const parkReasons: string[] = [];
  const outputLabels: Record<string, Label> = {};
  const err = (rule: ValidationRule, stepId: string | null, arg: string | null, message: string) =>
    errors.push({ rule, stepId, arg, message });

  if (plan.steps.length > limits.maxSteps) {
    err('too_many_steps', null, null, `the plan has ${plan.steps.length} steps; at most ${limits.maxSteps} are allowed`);
  }
  const index = new Map<string, number>();
  plan.steps.forEach((s, i) => {
    if (index.has(s.id)) err('duplicate_step_id', s.id, null, `step id "${s.id}" is used more than once`);
    else index.set(s.id, i);
  });
  const consumers = new Map<string, Set<string>>();
  const edges = new Map<string, Set<string>>();

  plan.steps.forEach((step, i) => {
    const tool = registry.get(step.tool);
    if (!tool) {
      err('unknown_tool', step.id, null, `tool "${step.tool}" does not exist`);
      return;
    }
    const shape = tool.input.shape as Record<string, z.ZodType>;
    const refusesContext = (arg: string) => contextRefused(tool, arg);
    for (const name of Object.keys(step.args)) {
      if (!Object.hasOwn(shape, name)) err('unknown_argument', step.id, name, `${tool.name} has no argument "${name}"`);
    }
    const inputLabels: Label[] = [];
    for (const [name, field] of Object.entries(shape)) {
      const value = step.args[name];
      if (value === undefined) {
        if (!field.safeParse(undefined).success) err('missing_argument', step.id, name, `${tool.name} needs "${name}"`);
        continue;
      }
      let ref: PlaceholderRef | null = null;
      if (typeof value === 'string') {
        try {
          ref = parsePlaceholder(value);
        } catch (e) {
          err('invalid_placeholder', step.id, name, (e as Error).message);
          continue;
        }
      }
      if (ref === null) {
        if (isRefParam(field)) err('argument_type', step.id, name, `"${name}" takes a reference such as {{email.ref}}, not a literal`);
        else if (!field.safeParse(value).success) err('argument_type', step.id, name, `"${name}" does not accept this literal value`);
        continue;
      }
      const label = labelOf(ref, step.id, name, i);
      if (!label) continue;
      inputLabels.push(label);
      const flow = argumentFlow(tool, name, label);
      if (flow.taintViolation) {
        err('tainted_control_argument', step.id, name, `"${name}" of ${tool.name} is a control parameter; it cannot take a value derived from untrusted content`);
      }
      if (flow.audienceConcern && tool.audience) {
        const reason = `step ${step.id}: ${label.conf} data would reach ${tool.audience === 'anyone' ? 'an outside recipient' : 'the sender'} through ${tool.name}`;
        // One reason per step and label, however many of its arguments carry such data.
        if (!parkReasons.includes(reason)) parkReasons.push(reason);
      }
    }
    outputLabels[step.id] = outputLabelFor(tool, inputLabels);

    function labelOf(ref: PlaceholderRef, stepId: string, arg: string, position: number): Label | null {
      const target = shape[arg];
      if (!target) return null;
      if (ref.kind === 'email') {
        const mismatch = refKindMismatch(new Set(['content']), target);
        if (mismatch) err('ref_kind', stepId, arg, `"${arg}" cannot take {{email.ref}}: ${mismatch}`);
        return refLabel(ref);
      }
      if (ref.kind === 'context') {
        const f = fieldAt(TrustedContext, ref.path);
        if (!f) {
          err('unknown_context_field', stepId, arg, `context has no field ${ref.path.join('.')}`);
          return null;
        }
        if (!typeCompatible(f, target)) err('argument_type', stepId, arg, `context.${ref.path.join('.')} does not fit "${arg}"`);
        if (refusesContext(arg)) {
          err('context_in_lookup_argument', stepId, arg, `"${arg}" takes a literal or a lookup's output, not context.${ref.path.join('.')}`);
        }
        return refLabel(ref);
      }
      const at = index.get(ref.stepId);
      if (at === undefined) {
        err('missing_step', stepId, arg, `step "${ref.stepId}" does not exist`);
        return null;
      }
      edges.set(stepId, (edges.get(stepId) ?? new Set()).add(ref.stepId));
      if (at >= position) {
        err(at === position ? 'cycle' : 'forward_reference', stepId, arg, `step "${stepId}" refers to ${at === position ? 'itself' : `the later step "${ref.stepId}"`}`);
        return null;
      }
      consumers.set(ref.stepId, (consumers.get(ref.stepId) ?? new Set()).add(stepId));
      const source = plan.steps[at];
      const sourceTool = source ? registry.get(source.tool) : undefined;
      if (!sourceTool) return null;
      const f = ref.path.length === 0 ? sourceTool.output : fieldAt(sourceTool.output, ref.path);
      if (!f) {
        err('unknown_output_field', stepId, arg, `${sourceTool.name} has no output ${ref.path.join('.')}`);
        return null;
      }
      const produced = refKinds(f);
      if (produced.size > 0 || isRefParam(target)) {
        // For refs the kind is the type: a summary is never a draft, whatever their JSON types say.
        const mismatch = refKindMismatch(produced, target);
        if (mismatch) err('ref_kind', stepId, arg, `output ${ref.stepId}.${ref.path.join('.')} does not fit "${arg}": ${mismatch}`);
      } else if (!typeCompatible(f, target)) err('argument_type', stepId, arg, `output ${ref.stepId}.${ref.path.join('.')} does not fit "${arg}"`);
      return refLabel(ref, {
        conf: outputLabels[ref.stepId]?.conf ?? 'internal',
        tainted: sourceTool.taintedOutputs.length > 0,
        taintedFields: sourceTool.taintedOutputs,
      });
    }
  });

  for (const [stepId, users] of consumers) {
    if (users.size > limits.maxFanOut) {
      err('fan_out', stepId, null, `the output of "${stepId}" feeds ${users.size} steps; at most ${limits.maxFanOut}`);
    }
  }
  if (hasCycle(edges)) err('cycle', null, null, 'the step references form a cycle');
  return { ok: errors.length === 0, errors, parkReasons, outputLabels };
}

function hasCycle(edges: Map<string, Set<string>>): boolean {
  const state = new Map<string, 1 | 2>();
  const visit = (n: string): boolean => {
    if (state.get(n) === 1) return true;
    if (state.get(n) === 2) return false;
    state.set(n, 1);
    for (const m of edges.get(n) ?? []) if (visit(m)) return true;
    state.set(n, 2);
    return false;
  };
  return [...edges.keys()].some(visit);
}
