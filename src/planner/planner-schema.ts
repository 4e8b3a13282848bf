import { z } from 'zod';
import type { ToolRegistry } from '../tools/registry.js';
import type { ToolDescriptor } from '../tools/tool.js';
import { jsonTypes, refKinds } from './plan-validator.js';
import { Plan, StepId, type ArgValue } from '../model/plan.js';

const PlaceholderString = z
  .string()
  .regex(/^\{\{[a-zA-Z0-9_.]+\}\}$/)
  .describe('a whole-value placeholder: {{email.ref}}, {{context.<field>}} or {{steps.<id>.output.<field>}}');

function isOptional(field: z.ZodType): boolean {
  return field.safeParse(undefined).success;
}

/**
 * The model-facing schema of one argument: its JSON type, or a placeholder. Optional arguments
 * become nullable because strict structured outputs require every property.
 */
function llmArg(field: z.ZodType, registry: ToolRegistry): z.ZodType {
  const kinds = refKinds(field);
  if (kinds.size > 0) {
    // A ref's kind is part of its type: say which kind, and where a ref of that kind comes from.
    const base = isOptional(field) || jsonTypes(field).types.has('null') ? PlaceholderString.nullable() : PlaceholderString;
    return base.describe(`a ${[...kinds].join(' or ')} ref: ${refSources(kinds, registry).join(', ')}`);
  }
  const { types, enumValues } = jsonTypes(field);
  const strings = (enumValues ?? []).filter((v): v is string => typeof v === 'string');
  let base: z.ZodType;
  if (strings.length > 0) base = z.union([z.enum(strings as [string, ...string[]]), PlaceholderString]);
  else if (types.has('string')) base = z.string();
  else if (types.has('number') || types.has('integer')) base = z.union([z.number(), PlaceholderString]);
  else if (types.has('boolean')) base = z.union([z.boolean(), PlaceholderString]);
  else base = PlaceholderString;
  if (types.has('null') || isOptional(field)) base = base.nullable();
  const description = field.description;
  return description ? base.describe(description) : base;
}

/** The placeholders that yield a ref of these kinds: {{email.ref}} for content, else tool outputs. */
function refSources(kinds: ReadonlySet<string>, registry: ToolRegistry): string[] {
  const sources = kinds.has('content') ? ['{{email.ref}}'] : [];
  for (const tool of registry.tools) {
    for (const [name, field] of Object.entries(tool.output.shape as Record<string, z.ZodType>)) {
      const produced = refKinds(field);
      if (produced.size > 0 && [...produced].every((k) => kinds.has(k)) && produced.size < 4) sources.push(`{{steps.<id>.output.${name}}} of ${tool.name}`);
    }
  }
  return sources;
}

function llmStep(tool: ToolDescriptor, registry: ToolRegistry) {
  const shape = tool.input.shape as Record<string, z.ZodType>;
  const args = Object.fromEntries(Object.entries(shape).map(([name, field]) => [name, llmArg(field, registry)]));
  return z
    .object({
      id: StepId.describe('unique step id: lowercase letters, digits, _'),
      tool: z.literal(tool.name),
      args: z.object(args).strict(),
      checkpoint: z.boolean().describe('ask again, with trusted facts only, before the steps after this one'),
    })
    .strict();
}

/**
 * The plan schema the LLM planner must fill, generated from the registry: each step is a union
 * member discriminated by `tool` with exactly that tool's arguments, so a hallucinated tool or
 * parameter cannot even be decoded.
 */
export function llmPlanSchema(registry: ToolRegistry) {
  const members = registry.tools.map((t) => llmStep(t, registry));
  const [first, ...rest] = members;
  if (!first) throw new Error('the registry has no tools');
  const step = rest.length ? z.discriminatedUnion('tool', [first, ...rest]) : first;
  return z.object({ steps: z.array(step).min(1).max(20) }).strict();
}

/** Converts the model's plan to a `Plan`: nulls for optional arguments are dropped. */
export function fromLlmPlan(llmPlan: { steps: Array<{ id: string; tool: string; args: Record<string, unknown>; checkpoint: boolean }> }, registry: ToolRegistry): Plan {
  return Plan.parse({
    steps: llmPlan.steps.map((s) => {
      const tool = registry.get(s.tool);
      const shape = (tool?.input.shape ?? {}) as Record<string, z.ZodType>;
      const args: Record<string, ArgValue> = {};
      for (const [k, v] of Object.entries(s.args)) {
        const field = shape[k];
        if (v === null && field && isOptional(field) && !field.safeParse(null).success) continue;
        if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') args[k] = v;
      }
      return { id: s.id, tool: s.tool, args, ...(s.checkpoint ? { checkpoint: true } : {}) };
    }),
  });
}
