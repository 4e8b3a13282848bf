import { z } from 'zod';
import { defineTool } from './tool.js';

export const searchKb = defineTool({
  name: 'search_kb',
  description: 'Finds the best knowledge-base article for a topic (e.g. the category). Output is public and trusted.',
  risk: 'read',
  input: z.object({ topic: z.string().min(1).max(100) }).strict(),
  output: z.object({ articleId: z.string().nullable(), title: z.string().nullable() }).strict(),
  untrustedInputs: [],
  taintedOutputs: [],
  outputLabel: 'public',
  sideEffect: false,
  async run(input, ctx) {
    const best = ctx.kb.search(input.topic, 1)[0];
    return { articleId: best?.id ?? null, title: best?.title ?? null };
  },
});
