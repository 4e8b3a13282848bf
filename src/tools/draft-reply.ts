import { z } from 'zod';
import { DraftRef } from '../kernel/ids.js';
import { Order } from '../store/accounts.js';
import type { KbArticle } from '../store/knowledge-base.js';
import { Language, QuestionKind, Sentiment, Topic } from '../model/email-facts.js';
import { disallowedLinks } from './reply-links.js';
import { defineTool, type ToolContext } from './tool.js';

/**
 * What a stored draft holds; send_reply reads it through the draft ref. `origin` says who wrote
 * it: `composed` by draft_reply from trusted material only (may be sent on its own), or
 * `suggested` by a model that read the email (sent only with a human's approval).
 */
export const StoredDraft = z.object({
  text: z.string().max(8_000),
  articleId: z.string().nullable(),
  disallowed: z.array(z.string()),
  origin: z.enum(['composed', 'suggested']),
});
export type StoredDraft = z.infer<typeof StoredDraft>;

/**
 * What the plan did before this reply, when it moved money or changed an account: a literal in the
 * plan, never read from the email. The reply is sent only after that step succeeded (it comes
 * later in the same plan), so the sentence is true when the customer reads it.
 */
export const ReplyOutcome = z.enum(['refund_issued', 'account_cancelled']);
export type ReplyOutcome = z.infer<typeof ReplyOutcome>;

/**
 * Whom the text is for: the verified sender (a reply), or the billing contact on file, who did
 * not write and gets a notice of what was done to the account (a literal in the plan).
 */
export const Audience = z.enum(['sender', 'billing_contact']);
export type Audience = z.infer<typeof Audience>;

/** What the composer may say: trusted material and the closed-vocabulary facts of read_facts. */
export interface ComposeInput {
  /** @defaultValue 'sender' */
  audience?: Audience | null;
  /** Set when the plan refunded or cancelled before this reply: the reply says what was done. */
  outcome?: ReplyOutcome | null;
  /** The refunded amount (the same trusted value issue_refund took), in the order's currency. */
  amount?: number | null;
  /** The verified sender's account name, from the accounts directory. */
  accountName: string | null;
  article: KbArticle | null;
  /** An order lookup_order endorsed (from the accounts directory). */
  order: Order | null;
  topic: Topic | null;
  questionKind: QuestionKind | null;
  language: Language | null;
  sentiment: Sentiment | null;
  signature: string;
}

const GREETING: Record<Language, string> = { en: 'Hello', de: 'Hallo', fr: 'Bonjour', es: 'Hola', other: 'Hello' };
const CLOSING: Record<Language, string> = { en: 'Best regards,', de: 'Viele Grüße,', fr: 'Cordialement,', es: 'Saludos,', other: 'Best regards,' };
const TOPIC_WORDS: Record<Topic, string | null> = {
  billing: 'billing',
  payment: 'a payment',
  invoice: 'an invoice',
  refund: 'a refund',
  order: 'an order',
  account: 'your account',
  login: 'signing in',
  bug: 'a problem in the product',
  feature: 'a feature idea',
  cancellation: 'a cancellation',
  other: null,
};
const KIND_LINE: Record<QuestionKind, string | null> = {
  how_to: 'Here is how to do it.',
  problem: 'We are sorry that something is not working as it should.',
  request: 'We have noted your request.',
  complaint: 'We are sorry for the trouble this has caused.',
  other: null,
};

/**
 * The automatic reply, composed deterministically. Every sentence is ours or a trusted value's;
 * the email's own words cannot reach it because nothing here ever reads them.
 */
export function composeReply(input: ComposeInput): string {
  if (input.audience === 'billing_contact') return composeNotice(input);
  const language = input.language ?? 'en';
  const firstName = input.accountName ? (input.accountName.trim().split(/\s+/)[0] ?? '') : '';
  const topic = input.topic ? TOPIC_WORDS[input.topic] : null;
  const lines: string[] = [firstName ? `${GREETING[language]} ${firstName},` : `${GREETING[language]},`, ''];
  lines.push(`Thank you for your message${topic ? ` about ${topic}` : ''}.`);
  if (input.sentiment === 'negative' && input.questionKind !== 'complaint') lines.push('We are sorry for the trouble.');
  const kindLine = input.questionKind ? KIND_LINE[input.questionKind] : null;
  if (kindLine && (input.article || input.questionKind !== 'how_to')) lines.push(kindLine);
  const outcome = input.outcome ?? null;
  const refunded = outcome === 'refund_issued' && input.order !== null;
  if (refunded && input.order) {
    const o = input.order;
    const amount = (input.amount ?? o.amount).toFixed(2);
    lines.push('', `We have refunded ${amount} ${o.currency} for your order ${o.id}${o.date ? ` of ${o.date}` : ''}.`);
    lines.push('The money goes back to the payment method you used; most banks show it within 5 to 10 business days.');
  } else if (outcome === 'account_cancelled') {
    lines.push('', 'We have cancelled your subscription as you asked. There will be no further charges.');
  } else if (input.order) {
    const o = input.order;
    lines.push('', `We found your order ${o.id}${o.date ? ` of ${o.date}` : ''}: ${o.amount.toFixed(2)} ${o.currency}.`);
  }
  // Once it is done, the how-to article would only ask for what the customer already gave.
  const done = refunded || outcome === 'account_cancelled';
  if (input.article && !done) {
    lines.push('', `This article should help: ${input.article.title}`, '', input.article.body);
    if (input.article.links.length) lines.push('', ...input.article.links);
  } else if (!done) {
    lines.push('', 'A member of our team will get back to you.');
  }
  if (language !== 'en') lines.push('', 'We answer in English so that nothing is lost in translation.');
  lines.push('', CLOSING[language], input.signature);
  return lines.join('\n');
}

/**
 * A notice to the account's billing contact, who never wrote to us: no thanks for a message, no
 * article, only what was done to the account and that its owner asked for it.
 */
function composeNotice(input: ComposeInput): string {
  const whose = input.accountName ? `the account of ${input.accountName}` : 'your account';
  const done =
    input.outcome === 'account_cancelled'
      ? [`The subscription of ${whose} has been cancelled, as the account owner asked. There will be no further charges.`]
      : [`There has been a change to ${whose}, made at the account owner's request.`];
  return ['Hello,', '', 'You receive this notice as the billing contact on file.', '', ...done, '', CLOSING.en, input.signature].join('\n');
}

/** The trusted material of a reply and what it names, for the output check. */
export function composedAllowed(ctx: Pick<ToolContext, 'config' | 'trusted'>, article: KbArticle | null, trustedTexts: string[]) {
  return {
    urls: article?.links ?? [],
    urlPrefixes: ctx.config.allowedLinks,
    addresses: [ctx.config.mailbox.address, ctx.trusted.sender.verified ? ctx.trusted.sender.address : ''],
    trustedTexts: [...(article ? [article.title, article.body, article.links.join('\n')] : []), ...trustedTexts],
  };
}

export const draftReply = defineTool({
  name: 'draft_reply',
  description:
    'Composes the automatic reply from trusted material only: the knowledge-base article, the account, an order lookup_order ' +
    'endorsed, and the enum facts of read_facts. It never reads the email, so its draft may be sent by send_reply on its own.',
  risk: 'read',
  input: z
    .object({
      article: z.string().nullable(),
      order: Order.shape.id.nullable().optional(),
      topic: Topic.nullable().optional(),
      questionKind: QuestionKind.nullable().optional(),
      language: Language.nullable().optional(),
      sentiment: Sentiment.nullable().optional(),
      outcome: ReplyOutcome.nullable().optional(),
      amount: z.number().positive().max(1_000_000).nullable().optional(),
      audience: Audience.nullable().optional(),
    })
    .strict(),
  output: z.object({ ref: DraftRef, needsReview: z.boolean() }).strict(),
  // Enums only: a reader's answer can choose among our sentences, never add one.
  untrustedInputs: ['topic', 'questionKind', 'language', 'sentiment'],
  taintedOutputs: ['ref', 'needsReview'],
  outputLabel: 'inherit',
  sideEffect: false,
  async run(input, ctx) {
    const article = input.article === null ? null : (ctx.kb.get(input.article) ?? null);
    const account = ctx.trusted.account ? ctx.accounts.byId(ctx.trusted.account.id) : undefined;
    const order = input.order && account ? (account.orders.find((o) => o.id === input.order) ?? null) : null;
    const text = composeReply({
      audience: input.audience ?? null,
      accountName: account?.name ?? null,
      article,
      order,
      topic: input.topic ?? null,
      questionKind: input.questionKind ?? null,
      language: input.language ?? null,
      sentiment: input.sentiment ?? null,
      outcome: input.outcome ?? null,
      amount: input.amount ?? null,
      signature: ctx.config.mailbox.name,
    });
    const orderText = order ? `${order.id} ${order.date ?? ''} ${order.amount.toFixed(2)} ${(input.amount ?? order.amount).toFixed(2)} ${order.currency}` : '';
    const disallowed = disallowedLinks(text, composedAllowed(ctx, article, [account?.name ?? '', ctx.config.mailbox.name, orderText]));
    const draft: StoredDraft = { text, articleId: article?.id ?? null, disallowed, origin: 'composed' };
    const ref = await ctx.content.putText('draft', JSON.stringify(draft));
    return { ref, needsReview: disallowed.length > 0 };
  },
});
