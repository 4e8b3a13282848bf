import { z } from 'zod';
import { ContentRef } from '../ids.js';
import { clipUntrusted, MAX_SUBJECT_CHARS, OFFLINE_INPUT_CHARS, runReader } from './sandbox.js';
import { defineTool } from './tool.js';
import type { LlmGateway } from '../llm/gateway.js';
import type { UntrustedContent } from '../ingest/trusted-context.js';

/** Words that point to a category in the offline classifier, per default category. */
const KEYWORDS: Record<string, readonly string[]> = {
  billing: ['invoice', 'billing', 'billed', 'charge', 'charged', 'payment', 'card', 'declined', 'receipt', 'vat', 'tax', 'subscription', 'plan', 'price', 'pricing'],
  refund: ['refund', 'money back', 'reimburse', 'chargeback', 'remboursement', 'rückerstattung'],
  bug: ['bug', 'error', 'crash', 'crashes', 'broken', 'exception', 'fails', 'failing', 'not working', '500', 'stack trace', 'timeout'],
  account_access: ['password', 'login', 'log in', 'sign in', 'locked', '2fa', 'two-factor', 'two factor', 'authenticator', 'reset', 'access'],
  feature_request: ['feature', 'would be great', 'suggestion', 'wish', 'could you add', 'please add', 'roadmap', 'request'],
  spam: ['crypto', 'seo', 'backlinks', 'investment opportunity', 'casino', 'viagra', 'lottery', 'bitcoin', 'guaranteed ranking', 'unsubscribe from our'],
};

/** A refund request usually mentions a charge too; asking for money back is the stronger signal. */
const WEIGHT: Record<string, number> = { refund: 3, spam: 2 };

/** Scores keyword hits in a bounded prefix of subject and body; the subject counts double. Ties and zero scores answer `unknown`. */
export function classifyOffline(categories: readonly string[], subject: string, text: string): { category: string; confidence: number } {
  const subj = clipUntrusted(subject, MAX_SUBJECT_CHARS).toLowerCase();
  const body = clipUntrusted(text, OFFLINE_INPUT_CHARS).toLowerCase();
  let best = 'unknown';
  let bestScore = 0;
  let tie = false;
  for (const cat of categories) {
    const words = KEYWORDS[cat] ?? [cat.replace(/_/g, ' ')];
    let score = 0;
    for (const w of words) {
      const re = new RegExp(`(^|[^a-z0-9])${w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'g');
      score += 2 * (subj.match(re)?.length ?? 0) + Math.min(3, body.match(re)?.length ?? 0);
    }
    score *= WEIGHT[cat] ?? 1;
    if (score > bestScore) {
      best = cat;
      bestScore = score;
      tie = false;
    } else if (score === bestScore && score > 0) tie = true;
  }
  if (tie || bestScore === 0) return { category: 'unknown', confidence: 0 };
  return { category: best, confidence: Math.min(1, bestScore / 10) };
}

const classifierSchemas = new Map<string, ReturnType<typeof buildClassifierSchema>>();

function buildClassifierSchema(categories: readonly string[]) {
  const values: [string, ...string[]] = ['unknown', ...categories];
  return z.object({ category: z.enum(values), confidence: z.number().min(0).max(1) }).strict();
}

/** The classifier's output schema for these categories, built once per category list (building one costs ~0.3 ms, an email's triage calls it). */
export function classifierSchema(categories: readonly string[]) {
  const key = JSON.stringify(categories);
  let schema = classifierSchemas.get(key);
  if (!schema) classifierSchemas.set(key, (schema = buildClassifierSchema(categories)));
  return schema;
}

/** The sandboxed classifier: subject and body in, a closed enum out. */
export async function classifyContent(
  llm: LlmGateway,
  categories: readonly string[],
  content: Pick<UntrustedContent, 'subject' | 'text'>,
): Promise<{ category: string; confidence: number }> {
  return runReader(llm, {
    tool: 'classify_email',
    schema: classifierSchema(categories),
    instruction: `Classify the support email into exactly one of: ${[...categories, 'unknown'].join(', ')}.`,
    untrusted: { subject: content.subject, body: content.text },
    maxInputChars: 8_000,
    maxOutputTokens: 100,
    offline: () => classifyOffline(categories, content.subject, content.text),
  });
}

export const classifyEmail = defineTool({
  name: 'classify_email',
  description: 'Sandboxed reader: classifies the email into one of the configured categories or unknown.',
  risk: 'read',
  input: z.object({ email: ContentRef }).strict(),
  output: z.object({ category: z.string(), confidence: z.number() }).strict(),
  untrustedInputs: ['email'],
  taintedOutputs: ['category', 'confidence'],
  outputLabel: 'sender',
  sideEffect: false,
  async run(input, ctx) {
    const content = await ctx.content.getContent(input.email);
    return classifyContent(ctx.llm, ctx.config.categories, content);
  },
});
