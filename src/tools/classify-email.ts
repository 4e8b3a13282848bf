import { z } from 'zod';
import { memoize } from '../kernel/memo.js';
import { EmailRef } from '../kernel/ids.js';
import { FACTS_ASKED, readFactsOffline } from './read-facts.js';
import { EmailFacts } from '../model/email-facts.js';
import { clipUntrusted, MAX_SUBJECT_CHARS, OFFLINE_INPUT_CHARS, runReader } from './sandbox.js';
import { defineTool } from './tool.js';
import type { LlmGateway } from '../llm/gateway.js';
import type { UntrustedContent } from '../model/trusted-context.js';

/** Words that point to a category in the offline classifier, per default category. */
const KEYWORDS: Record<string, readonly string[]> = {
  billing: ['invoice', 'billing', 'billed', 'charge', 'charged', 'payment', 'card', 'declined', 'receipt', 'vat', 'tax', 'subscription', 'plan', 'price', 'pricing'],
  refund: ['refund', 'money back', 'reimburse', 'chargeback', 'remboursement', 'rückerstattung'],
  bug: ['bug', 'error', 'crash', 'crashes', 'broken', 'exception', 'fails', 'failing', 'not working', '500', 'stack trace', 'timeout'],
  account_access: ['password', 'login', 'log in', 'sign in', 'locked', '2fa', 'two-factor', 'two factor', 'authenticator', 'reset', 'access'],
  feature_request: ['feature', 'would be great', 'suggestion', 'wish', 'could you add', 'please add', 'roadmap', 'request'],
  // A customer's "it works now" on an earlier answer of ours; plain "thanks" ends most mail and says nothing.
  thanks: ['works now', 'working now', 'that fixed it', 'that did it', 'all sorted', 'sorted now', 'problem solved', 'issue is resolved', 'you can close', 'no further help'],
  spam: ['crypto', 'seo', 'backlinks', 'investment opportunity', 'casino', 'viagra', 'lottery', 'bitcoin', 'guaranteed ranking', 'unsubscribe from our'],
};

/** A refund request usually mentions a charge too; asking for money back is the stronger signal. */
const WEIGHT: Record<string, number> = { refund: 3, spam: 2 };

/**
 * A keyword's pattern, compiled once per keyword (the lists come from code and the config's
 * category names). `String.prototype.match` with a `g` pattern starts from 0 and leaves
 * `lastIndex` at 0, so sharing one between emails is safe.
 */
const keywordPattern = memoize((w: string) => new RegExp(`(^|[^a-z0-9])${w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'g'));

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
      const re = keywordPattern(w);
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

/** The classifier's output schema for these categories, built once per category list (building one costs ~0.3 ms, an email's triage calls it). */
export const classifierSchema = memoize((categories: readonly string[]) => {
  const values: [string, ...string[]] = ['unknown', ...categories];
  return z.object({ category: z.enum(values), confidence: z.number().min(0).max(1) }).strict();
}, (categories) => JSON.stringify(categories));

const classifyInstruction = (categories: readonly string[]) => `Classify the support email into exactly one of: ${[...categories, 'unknown'].join(', ')}.`;

/** The sandboxed classifier: subject and body in, a closed enum out. */
export async function classifyContent(
  llm: LlmGateway,
  categories: readonly string[],
  content: Pick<UntrustedContent, 'subject' | 'text'>,
): Promise<{ category: string; confidence: number }> {
  return runReader(llm, {
    tool: 'classify_email',
    schema: classifierSchema(categories),
    instruction: classifyInstruction(categories),
    untrusted: { subject: content.subject, body: content.text },
    maxInputChars: 8_000,
    maxOutputTokens: 100,
    offline: () => classifyOffline(categories, content.subject, content.text),
  });
}

/**
 * The triage reader's output: the classifier's, plus read_facts' closed-vocabulary facts. Facts
 * the model leaves null or that do not fit their enums read as null (read_facts then asks its own
 * reader, as before): the extra fields never cost an email its category. Built once per category
 * list, as {@link classifierSchema} is.
 */
export const triageReaderSchema = memoize(
  (categories: readonly string[]) => classifierSchema(categories).extend({ facts: EmailFacts.nullable().catch(null) }).strict(),
  (categories) => JSON.stringify(categories),
);

/**
 * Triage's one sandboxed read of an email: the category, and in the same call the facts
 * read_facts would ask a second call for (kept beside the content, src/store/content-store.ts,
 * so a read_facts step reuses them). Same sandbox, spotlighting, strict schema and input bound
 * as the classifier alone. The facts are closed enums like the category and a model that obeys
 * the email chooses both either way; only the category goes on to routing and the planner.
 * `facts` is null when the model's facts did not fit their enums.
 * Offline there is no call to save: the category comes from the keyword classifier and `facts`
 * is null (read_facts runs its own rules at its step).
 */
export async function classifyForTriage(
  llm: LlmGateway,
  categories: readonly string[],
  content: Pick<UntrustedContent, 'subject' | 'text'>,
): Promise<{ category: string; facts: EmailFacts | null }> {
  if (llm.mode === 'offline') return { category: classifyOffline(categories, content.subject, content.text).category, facts: null };
  const out = await runReader(llm, {
    tool: 'classify_email',
    schema: triageReaderSchema(categories),
    instruction: `${classifyInstruction(categories)} In facts, give ${FACTS_ASKED}. Answer only with the listed values.`,
    untrusted: { subject: content.subject, body: content.text },
    maxInputChars: 8_000,
    maxOutputTokens: 160,
    // Not reached (the offline branch above answers first): a reader spec always names its fallback.
    offline: () => ({ ...classifyOffline(categories, content.subject, content.text), facts: readFactsOffline(content.subject, content.text) }),
  });
  return { category: out.category, facts: out.facts };
}

export const classifyEmail = defineTool({
  name: 'classify_email',
  description: 'Sandboxed reader: classifies the email into one of the configured categories or unknown.',
  risk: 'read',
  input: z.object({ email: EmailRef }).strict(),
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
