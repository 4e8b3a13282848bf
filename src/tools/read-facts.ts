import { z } from 'zod';
import { memoize } from '../kernel/memo.js';
import { EmailRef } from '../kernel/ids.js';
import { clipUntrusted, runReader } from './sandbox.js';
import { defineTool } from './tool.js';
import { EmailFacts, type Language, type QuestionKind, type Sentiment, type Topic } from '../model/email-facts.js';

/** The facts the reader is asked for; triage's classifier asks for them too, in its own call (classify-email.ts). */
export const FACTS_ASKED = 'its topic, what kind of question it is, the language it is written in and its sentiment';

/** A word's pattern, compiled once: the word lists are fixed, and the offline reader runs on every email. */
const wordPattern = memoize((w: string) => new RegExp(`(^|[^\\p{L}])${w}($|[^\\p{L}])`, 'iu'));

// No `g` flag: `test` keeps no state between calls, so one compiled pattern serves every email.
const has = (text: string, words: readonly string[]) => words.some((w) => wordPattern(w).test(text));

/** The offline reader: keyword rules over the first part of subject and body. */
export function readFactsOffline(subject: string, text: string): EmailFacts {
  // Clipped before joining, like the other offline readers: the body may be a megabyte.
  const all = `${clipUntrusted(subject, 8_000)}\n${clipUntrusted(text, 8_000)}`.slice(0, 8_000).toLowerCase();
  const language: Language = has(all, ['bitte', 'rechnung', 'danke', 'ich', 'und', 'nicht'])
    ? 'de'
    : has(all, ['bonjour', 'merci', 'commande', 'je', 'vous', 'remboursement'])
      ? 'fr'
      : has(all, ['hola', 'gracias', 'factura', 'pedido'])
        ? 'es'
        : 'en';
  const sentiment: Sentiment = has(all, ['angry', 'unacceptable', 'frustrated', 'terrible', 'annoyed', 'disappointed', 'still', 'again'])
    ? 'negative'
    : has(all, ['love', 'great', 'awesome', 'thanks so much'])
      ? 'positive'
      : 'neutral';
  const topics: ReadonlyArray<readonly [Topic, readonly string[]]> = [
    ['refund', ['refund', 'money back', 'remboursement']],
    ['invoice', ['invoice', 'receipt', 'rechnung', 'vat']],
    ['payment', ['card', 'declined', 'payment', 'charged']],
    ['cancellation', ['cancel', 'cancellation']],
    ['login', ['password', 'login', 'log in', '2fa', 'sso', 'locked']],
    ['bug', ['bug', 'crash', 'error', 'broken', '500']],
    ['feature', ['feature', 'would be great', 'integration', 'please add']],
    ['billing', ['billing', 'plan', 'price', 'seats']],
  ];
  const topic = topics.find(([, words]) => has(all, words))?.[0] ?? 'other';
  const questionKind: QuestionKind = has(all, ['how do i', 'how can i', 'where can i', 'how to'])
    ? 'how_to'
    : sentiment === 'negative'
      ? 'complaint'
      : has(all, ['crash', 'error', 'broken', 'not working', 'fails', 'missing', 'declined', 'locked'])
        ? 'problem'
        : has(all, ['please', 'could you', 'would like', 'can you'])
          ? 'request'
          : 'other';
  return { topic, questionKind, language, sentiment };
}

export const readFacts = defineTool({
  name: 'read_facts',
  description:
    'Sandboxed reader: reads closed-vocabulary facts about the email (topic, question kind, language, sentiment), all enums. ' +
    'They are tainted but cannot carry text; draft_reply may use them to pick among its own sentences.',
  risk: 'read',
  input: z.object({ email: EmailRef }).strict(),
  output: EmailFacts,
  untrustedInputs: ['email'],
  taintedOutputs: ['topic', 'questionKind', 'language', 'sentiment'],
  outputLabel: 'inherit',
  sideEffect: false,
  async run(input, ctx) {
    // Triage's classifier read these facts from this very content in its own sandboxed call; the
    // answer is kept beside the content under the same ref, so asking again would only cost a call.
    const read = await ctx.content.getReadings(input.email);
    if (read) return read.facts;
    const content = await ctx.content.getContent(input.email);
    return runReader(ctx.llm, {
      tool: 'read_facts',
      schema: EmailFacts,
      instruction: `Classify the support email: ${FACTS_ASKED}. Answer only with the listed values.`,
      untrusted: { subject: content.subject, body: content.text },
      maxInputChars: 4_000,
      maxOutputTokens: 60,
      offline: () => readFactsOffline(content.subject, content.text),
    });
  },
});
