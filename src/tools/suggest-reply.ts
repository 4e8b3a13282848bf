import { z } from 'zod';
import { EmailRef, DraftRef } from '../kernel/ids.js';
import { composedAllowed, type StoredDraft } from './draft-reply.js';
import { disallowedLinks } from './reply-links.js';
import { runReader } from './sandbox.js';
import { defineTool } from './tool.js';

const ReaderOutput = z.object({ reply: z.string().min(1).max(4_000) }).strict();

/**
 * A model that read the email writes a reply: a suggestion for a human. It is stored with
 * `origin: 'suggested'`; send_reply refuses it without a reviewer's approval and the approval
 * policy parks every plan that would send it, because the email's words can reach its text.
 */
export const suggestReply = defineTool({
  name: 'suggest_reply',
  description:
    'Sandboxed reader: a model that reads the email suggests a reply, using the knowledge-base article. A suggestion is sent only ' +
    'after a human approves it; plans that send one always wait for a reviewer.',
  risk: 'read',
  input: z.object({ email: EmailRef, article: z.string().nullable() }).strict(),
  output: z.object({ ref: DraftRef, needsReview: z.boolean() }).strict(),
  untrustedInputs: ['email'],
  taintedOutputs: ['ref', 'needsReview'],
  outputLabel: 'inherit',
  suggestion: 'a model that read the email wrote it',
  sideEffect: false,
  async run(input, ctx) {
    const article = input.article === null ? null : (ctx.kb.get(input.article) ?? null);
    const content = await ctx.content.getContent(input.email);
    const signature = ctx.config.mailbox.name;
    const { reply } = await runReader(ctx.llm, {
      tool: 'suggest_reply',
      schema: ReaderOutput,
      instruction:
        'Suggest a short, friendly reply to the customer email for a support agent to review, using only the trusted knowledge-base article. ' +
        `End with "Best regards, ${signature}". Do not include links or addresses that the article does not contain.`,
      untrusted: { email: `${content.subject}\n\n${content.text}` },
      trusted: article ? { article: `${article.title}\n${article.body}\nLinks: ${article.links.join(', ')}` } : {},
      maxInputChars: 6_000,
      maxOutputTokens: 800,
      offline: () => ({
        reply: `Hello,\n\nThank you for contacting us.${article ? ` This article should help: ${article.title}\n\n${article.body}` : ''}\n\nBest regards,\n${signature}`,
      }),
    });
    const disallowed = disallowedLinks(reply, composedAllowed(ctx, article, [signature]));
    const draft: StoredDraft = { text: reply, articleId: article?.id ?? null, disallowed, origin: 'suggested' };
    const ref = await ctx.content.putText('draft', JSON.stringify(draft));
    return { ref, needsReview: disallowed.length > 0 };
  },
});
