import { z } from 'zod';

/**
 * Closed-vocabulary facts about an email, read by a sandboxed reader. Every field is an enum, so
 * whatever the email makes the reader answer, the composer can only pick among sentences we wrote.
 */
export const Topic = z.enum([
  'billing',
  'payment',
  'invoice',
  'refund',
  'order',
  'account',
  'login',
  'bug',
  'feature',
  'cancellation',
  'other',
]);
export type Topic = z.infer<typeof Topic>;

export const QuestionKind = z.enum(['how_to', 'problem', 'request', 'complaint', 'other']);
export type QuestionKind = z.infer<typeof QuestionKind>;

export const Language = z.enum(['en', 'de', 'fr', 'es', 'other']);
export type Language = z.infer<typeof Language>;

export const Sentiment = z.enum(['positive', 'neutral', 'negative']);
export type Sentiment = z.infer<typeof Sentiment>;

export const EmailFacts = z
  .object({ topic: Topic, questionKind: QuestionKind, language: Language, sentiment: Sentiment })
  .strict();
export type EmailFacts = z.infer<typeof EmailFacts>;
