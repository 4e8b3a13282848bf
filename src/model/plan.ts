import { z } from 'zod';

/** A step id: short, lowercase, usable in a BullMQ job id. */
export const StepId = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,31}$/, 'step ids are lowercase letters, digits and _');
export type StepId = z.infer<typeof StepId>;

/**
 * A placeholder is a whole argument value, never spliced into a longer string, so that the
 * validator can tell exactly where each value comes from:
 * `{{email.ref}}`, `{{context.a.b}}`, `{{steps.<id>.output.<field>}}`.
 */
const PLACEHOLDER = /^\{\{\s*([a-zA-Z0-9_.]+)\s*\}\}$/;
const PATH_PART = /^[A-Za-z_][A-Za-z0-9_]*$/;

export type PlaceholderRef =
  { kind: 'email' } | { kind: 'context'; path: string[] } | { kind: 'step'; stepId: string; path: string[] };

export const ArgValue = z.union([z.string().max(4000), z.number(), z.boolean(), z.null()]);
export type ArgValue = z.infer<typeof ArgValue>;

export const Step = z
  .object({
    id: StepId,
    tool: z.string().min(1).max(64),
    args: z.record(z.string().max(64), ArgValue),
    /** Ask the planner, with trusted facts only, whether the rest of the plan still holds. */
    checkpoint: z.boolean().optional(),
  })
  .strict();
export type Step = z.infer<typeof Step>;

export const Plan = z.object({ steps: z.array(Step).min(1).max(50) }).strict();
export type Plan = z.infer<typeof Plan>;

/** Whether a string looks like a placeholder at all (valid or not). */
export function looksLikePlaceholder(value: unknown): value is string {
  return typeof value === 'string' && value.includes('{{');
}

/**
 * Parses a placeholder string. Returns `null` for a plain literal and throws a description for
 * something that looks like a placeholder but is not a valid one.
 */
export function parsePlaceholder(value: string): PlaceholderRef | null {
  if (!value.includes('{{') && !value.includes('}}')) return null;
  const m = PLACEHOLDER.exec(value);
  if (!m?.[1]) throw new Error(`"${value.slice(0, 80)}" is not a whole-value placeholder`);
  const parts = m[1].split('.');
  if (parts.some((p) => !PATH_PART.test(p)))
    throw new Error(`"${value.slice(0, 80)}" has an empty or invalid path part`);
  const [root, ...rest] = parts;
  if (root === 'email') {
    if (rest.length === 1 && rest[0] === 'ref') return { kind: 'email' };
    throw new Error('only {{email.ref}} may be referenced from the email');
  }
  if (root === 'context') {
    if (rest.length === 0) throw new Error('{{context}} needs a field, e.g. {{context.category.name}}');
    return { kind: 'context', path: rest };
  }
  if (root === 'steps') {
    const [stepId, output, ...path] = rest;
    if (!stepId || output !== 'output')
      throw new Error('step references look like {{steps.<id>.output.<field>}}');
    return { kind: 'step', stepId, path };
  }
  throw new Error(`unknown placeholder root "${root ?? ''}"`);
}

/** The step ids an argument set refers to, in order of appearance. */
export function referencedSteps(args: Record<string, ArgValue>): string[] {
  const out: string[] = [];
  for (const v of Object.values(args)) {
    if (typeof v !== 'string') continue;
    try {
      const ref = parsePlaceholder(v);
      if (ref?.kind === 'step') out.push(ref.stepId);
    } catch {
      // invalid placeholders are reported by the validator
    }
  }
  return out;
}
