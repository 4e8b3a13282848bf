/**
 * The offline readers look at a bounded prefix only: text past it cannot change their answer, and
 * their work does not grow with the message. Each case puts the deciding words just past the
 * prefix, where the readers used to find them because they processed the whole text first.
 */
import { describe, expect, it } from 'vitest';
import { classifyOffline } from '../../src/tools/classify-email.js';
import { extractOffline } from '../../src/tools/extract-fields.js';
import { buildReaderPrompt, MAX_SUBJECT_CHARS, OFFLINE_INPUT_CHARS } from '../../src/tools/sandbox.js';
import { summarizeOffline } from '../../src/tools/summarize-email.js';

const filler = (chars: number) => 'Thanks for the quick help last week with our setup.\n'.repeat(Math.ceil(chars / 52)).slice(0, chars);

describe('offline readers read a bounded prefix', () => {
  it('the summary ignores urgency words past the prefix', () => {
    const text = `${filler(OFFLINE_INPUT_CHARS)}\nURGENT: production is down, act immediately`;
    expect(summarizeOffline('Setup', text).urgency).toBe('normal');
    expect(summarizeOffline('Setup', text.slice(OFFLINE_INPUT_CHARS)).urgency).toBe('high');
  });

  it('the classifier ignores subject words past the subject cap', () => {
    const subject = `${'x'.repeat(MAX_SUBJECT_CHARS)} refund refund refund`;
    expect(classifyOffline(['refund', 'bug'], subject, '')).toEqual({ category: 'unknown', confidence: 0 });
    expect(classifyOffline(['refund', 'bug'], 'refund', '').category).toBe('refund');
  });

  it('the extractor ignores an order id past the prefix, also when the subject is huge', () => {
    expect(extractOffline('', `${filler(OFFLINE_INPUT_CHARS)} ORD-10234`).orderId).toBeNull();
    expect(extractOffline(`${'y'.repeat(50_000)}`, 'about ORD-10234').orderId).toBe('ORD-10234');
  });

  it('a 50 MB body gets the same answers as its prefix', () => {
    const huge = filler(50 * 1024 * 1024);
    expect(summarizeOffline('Setup', huge)).toEqual(summarizeOffline('Setup', huge.slice(0, OFFLINE_INPUT_CHARS)));
    expect(classifyOffline(['billing'], 'Setup', huge)).toEqual(classifyOffline(['billing'], 'Setup', huge.slice(0, OFFLINE_INPUT_CHARS)));
  });

  it('the sandboxed prompt holds at most maxInputChars of each untrusted piece', () => {
    const { user } = buildReaderPrompt({ instruction: 'x', untrusted: { body: filler(1_000_000) }, maxInputChars: 6_000 });
    expect(user.length).toBeLessThan(6_200);
  });
});
