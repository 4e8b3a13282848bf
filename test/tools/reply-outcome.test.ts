import { describe, expect, it } from 'vitest';
import { composeReply, type ComposeInput } from '../../src/tools/draft-reply.js';

const base: ComposeInput = {
  accountName: 'Sarah Okafor',
  article: { id: 'refund-policy', title: 'Refund policy', body: 'Reply with the order number (ORD-12345).', topics: ['refund'], links: [] },
  order: { id: 'ORD-10234', amount: 49, currency: 'USD', date: '2026-10-02' },
  topic: 'refund',
  questionKind: 'request',
  language: 'en',
  sentiment: 'neutral',
  signature: 'Acme Cloud Support',
};

describe('a reply after money moved or an account changed says what was done', () => {
  it('after a refund: the amount and the order, and not the policy that asks for the order number', () => {
    const text = composeReply({ ...base, outcome: 'refund_issued', amount: 49 });
    expect(text).toContain('We have refunded 49.00 USD for your order ORD-10234 of 2026-10-02.');
    expect(text).not.toContain('order number');
  });

  it('a partial refund states the refunded amount, not the order total', () => {
    expect(composeReply({ ...base, outcome: 'refund_issued', amount: 20 })).toContain('We have refunded 20.00 USD for your order ORD-10234');
  });

  it('claims no refund without an endorsed order', () => {
    const text = composeReply({ ...base, order: null, outcome: 'refund_issued', amount: 49 });
    expect(text).not.toContain('refunded');
  });

  it('after a cancellation, and without an outcome the article as before', () => {
    expect(composeReply({ ...base, outcome: 'account_cancelled' })).toContain('We have cancelled your subscription as you asked.');
    const plain = composeReply(base);
    expect(plain).toContain('We found your order ORD-10234');
    expect(plain).toContain('This article should help: Refund policy');
  });
});
