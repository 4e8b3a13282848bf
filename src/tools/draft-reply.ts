import { z } from 'zod';
import { UntrustedRef } from '../ids.js';
import { disallowedLinks } from './reply-links.js';
import { runReader } from './sandbox.js';
import { defineTool } from './tool.js';

/** What a stored draft holds; send_reply reads it through the draft ref. */
export const StoredDraft = z.object({
  text: z.string().max(8_000),
  articleId: z.string().nullable(),
  disallowed: z.array(z.string()),
});
export type StoredDraft = z.infer<typeof StoredDraft>;

const ReaderOutput = z.object({ reply: z.string().min(1).max(4_000) }).strict();

export const draftReply = defineTool({
  name: 'draft_reply',
  description:
    'Sandboxed reader: drafts a reply to the email from a knowledge-base article. The draft is tainted and may only be sent by send_reply.',
  risk: 'read',
  input: z.object({ email: UntrustedRef, article: z.string().nullable() }).strict(),
  output: z.object({ ref: UntrustedRef, needsReview: z.boolean() }).strict(),
  untrustedInputs: ['email'],
  taintedOutputs: ['ref', 'needsReview'],
  outputLabel: 'inherit',
  sideEffect: false,
  async run(input, ctx) {
    const article = input.article === null ? undefined : ctx.kb.get(input.article);
    const account = ctx.trusted.account ? ctx.accounts.byId(ctx.trusted.account.id) : undefined;
    const greeting = account ? `Hello ${account.name.split(' ')[0] ?? account.name},` : 'Hello,';
    const signature = `Best regards,\n${ctx.config.mailbox.name}`;
    const content = await ctx.content.getContent(input.email);
    const { reply } = await runReader(ctx.llm, {
      tool: 'draft_reply',
      schema: ReaderOutput,
      instruction:
        'Write a short, friendly reply to the customer email using only the trusted knowledge-base article. ' +
        `Start with "${greeting}" and end with "${signature.replace('\n', ' ')}". Do not include links or addresses that the article does not contain.`,
      untrusted: { email: `${content.subject}\n\n${content.text}` },
      trusted: article ? { article: `${article.title}\n${article.body}\nLinks: ${article.links.join(', ')}` } : {},
      maxInputChars: 6_000,
      maxOutputTokens: 800,
      offline: () => ({
        reply: article
          ? `${greeting}\n\nThank you for contacting us. This article should help: ${article.title}\n\n${article.body}\n\n${signature}`
          : `${greeting}\n\nThank you for contacting us. We have received your message and a member of our team will get back to you.\n\n${signature}`,
      }),
    });
    const disallowed = disallowedLinks(reply, {
      urls: article?.links ?? [],
      urlPrefixes: ctx.config.allowedLinks,
      addresses: [ctx.config.mailbox.address, ctx.trusted.sender.verified ? ctx.trusted.sender.address : ''],
    });
    const draft: StoredDraft = { text: reply, articleId: article?.id ?? null, disallowed };
    const ref = await ctx.content.putText('draft', JSON.stringify(draft));
    return { ref, needsReview: disallowed.length > 0 };
  },
});
