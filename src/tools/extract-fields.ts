import { z } from 'zod';
import { EmailRef } from '../kernel/ids.js';
import { clipUntrusted, MAX_SUBJECT_CHARS, OFFLINE_INPUT_CHARS, runReader } from './sandbox.js';
import { defineTool } from './tool.js';

/**
 * Strict shapes for what a customer types: a value that does not fit is not extracted. Even a
 * value that fits stays tainted; only an endorser (lookup_order) can vouch for it.
 */
export const OrderRef = z.string().regex(/^[A-Z][A-Z0-9]{1,9}-[0-9]{3,12}$/, 'an order id such as ORD-10234');
export const InvoiceNumber = z.string().regex(/^INV-[A-Z0-9-]{3,20}$/, 'an invoice number such as INV-2026-0042');
export const Currency = z.enum(['USD', 'EUR', 'GBP', 'CHF', 'JPY', 'CAD', 'AUD']);

export const ExtractedFields = z
  .object({
    orderId: OrderRef.nullable(),
    invoiceNumber: InvoiceNumber.nullable(),
    amount: z.number().min(0).max(10_000_000).nullable(),
    currency: Currency.nullable(),
  })
  .strict();
export type ExtractedFields = z.infer<typeof ExtractedFields>;

const SYMBOLS: Record<string, z.infer<typeof Currency>> = { $: 'USD', '€': 'EUR', '£': 'GBP' };

/** The offline extractor: the first value of each shape in subject and body. */
export function extractOffline(subject: string, text: string): ExtractedFields {
  const all = `${clipUntrusted(subject, MAX_SUBJECT_CHARS)}\n${clipUntrusted(text, OFFLINE_INPUT_CHARS)}`;
  const invoice = /\bINV-[A-Z0-9-]{3,20}\b/i.exec(all)?.[0].toUpperCase() ?? null;
  const order = [...all.matchAll(/\b([A-Z][A-Z0-9]{1,9}-[0-9]{3,12})\b/gi)].map((m) => (m[1] ?? '').toUpperCase()).find((id) => !id.startsWith('INV-')) ?? null;
  let amount: number | null = null;
  let currency: ExtractedFields['currency'] = null;
  const before = /([$€£])\s?(\d{1,7}(?:[.,]\d{2})?)(?!\d)/.exec(all);
  const after = /(\d{1,7}(?:[.,]\d{2})?)\s?(€|EUR|USD|GBP|CHF)(?![A-Za-z])/.exec(all);
  if (before?.[1] && before[2]) {
    amount = Number(before[2].replace(',', '.'));
    currency = SYMBOLS[before[1]] ?? null;
  } else if (after?.[1] && after[2]) {
    amount = Number(after[1].replace(',', '.'));
    const parsed = Currency.safeParse(after[2] === '€' ? 'EUR' : after[2]);
    currency = parsed.success ? parsed.data : null;
  }
  return ExtractedFields.parse({
    orderId: order && OrderRef.safeParse(order).success ? order : null,
    invoiceNumber: invoice && InvoiceNumber.safeParse(invoice).success ? invoice : null,
    amount,
    currency,
  });
}

export const extractFields = defineTool({
  name: 'extract_fields',
  description:
    'Sandboxed reader: extracts typed fields the customer typed (order id, invoice number, amount, currency). Every output is tainted; ' +
    'an order id reaches a control parameter only through lookup_order.',
  risk: 'read',
  input: z.object({ email: EmailRef }).strict(),
  output: ExtractedFields,
  untrustedInputs: ['email'],
  taintedOutputs: ['orderId', 'invoiceNumber', 'amount', 'currency'],
  outputLabel: 'inherit',
  sideEffect: false,
  async run(input, ctx) {
    const content = await ctx.content.getContent(input.email);
    return runReader(ctx.llm, {
      tool: 'extract_fields',
      schema: ExtractedFields,
      instruction:
        'Extract the order id, invoice number, amount and currency the customer mentions about their own request. ' +
        'Use null for anything absent or not in the required format. Never invent values.',
      untrusted: { subject: content.subject, body: content.text },
      maxInputChars: 6_000,
      maxOutputTokens: 150,
      offline: () => extractOffline(content.subject, content.text),
    });
  },
});
