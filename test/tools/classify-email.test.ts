import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseEmail } from '../../src/ingest/parse-email.js';
import { classifierSchema, classifyOffline } from '../../src/tools/classify-email.js';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

interface Expected {
  category: string;
  robot: string;
  malformed: boolean;
}

const config = JSON.parse(readFileSync(`${EXAMPLES}mailroom.config.json`, 'utf8')) as {
  categories: string[];
};
const CATEGORIES = config.categories;
const expected = JSON.parse(readFileSync(`${EXAMPLES}expected.json`, 'utf8')) as Record<string, Expected>;
const HUMAN_MAIL = Object.entries(expected).filter(([, e]) => e.robot === 'none' && !e.malformed);
/** The follow-up threads (examples/threads): templates the demo fills with our reply's Message-ID; their text is as sent. */
const THREADS = Object.entries(JSON.parse(readFileSync(`${EXAMPLES}threads/expected.json`, 'utf8')) as Record<string, { category: string }>);

describe('classifyOffline on examples/mailbox', () => {
  it('covers the non-robot, well-formed examples', () => {
    expect(HUMAN_MAIL).toHaveLength(34);
    expect(CATEGORIES).toEqual(['billing', 'refund', 'bug', 'account_access', 'feature_request', 'spam', 'cancellation', 'thanks']);
  });

  it('classifies every one of them as examples/expected.json says', async () => {
    const results: Array<{ file: string; want: string; got: string }> = [];
    for (const [file, e] of HUMAN_MAIL) {
      const { content } = await parseEmail(readFileSync(`${EXAMPLES}mailbox/${file}`));
      results.push({
        file,
        want: e.category,
        got: classifyOffline(CATEGORIES, content.subject, content.text).category,
      });
    }
    for (const [file, e] of THREADS) {
      const { content } = await parseEmail(readFileSync(`${EXAMPLES}threads/${file}.tmpl`));
      results.push({ file, want: e.category, got: classifyOffline(CATEGORIES, content.subject, content.text).category });
    }
    expect(results.filter((r) => r.want !== r.got)).toEqual([]);
    // Every configured category is exercised by at least one example.
    expect(new Set(results.map((r) => r.got))).toEqual(new Set(CATEGORIES));
  });

  it.each(HUMAN_MAIL.slice(0, 5).map(([file]) => file))(
    '%s: the answer fits the closed classifier schema',
    async (file) => {
      const { content } = await parseEmail(readFileSync(`${EXAMPLES}mailbox/${file}`));
      const result = classifyOffline(CATEGORIES, content.subject, content.text);
      expect(classifierSchema(CATEGORIES).safeParse(result).success).toBe(true);
    },
  );
});

describe('classifyOffline rules', () => {
  it('answers unknown with confidence 0 when nothing matches', () => {
    expect(classifyOffline(CATEGORIES, 'Hello', 'Just saying hi.')).toEqual({
      category: 'unknown',
      confidence: 0,
    });
    expect(classifyOffline(CATEGORIES, '', '')).toEqual({ category: 'unknown', confidence: 0 });
  });

  it('answers unknown on a tie between the best categories', () => {
    // One subject hit each: billing ("invoice") and bug ("error") score 2 apiece.
    expect(classifyOffline(['billing', 'bug'], 'invoice error', '')).toEqual({
      category: 'unknown',
      confidence: 0,
    });
    // Same words, but a further body hit for bug breaks the tie.
    expect(classifyOffline(['billing', 'bug'], 'invoice error', 'the export shows an error').category).toBe(
      'bug',
    );
  });

  it('a lower score after a tie does not clear it, a higher one does', () => {
    expect(classifyOffline(['billing', 'bug', 'spam'], 'invoice error', '').category).toBe('unknown');
    expect(
      classifyOffline(['billing', 'bug', 'feature_request'], 'invoice error feature request', '').category,
    ).toBe('feature_request');
  });

  it('counts the subject double', () => {
    expect(classifyOffline(['billing', 'bug'], 'invoice', 'error').category).toBe('billing');
    expect(classifyOffline(['billing', 'bug'], 'error', 'invoice').category).toBe('bug');
  });

  it('weights a refund request above the billing words that come with it', () => {
    // billing: "charge" in the subject = 2; refund: one body hit = 1, weighted x3 = 3.
    expect(classifyOffline(CATEGORIES, 'Duplicate charge', 'please refund it').category).toBe('refund');
    expect(classifyOffline(CATEGORIES, 'Duplicate charge', 'please look at it').category).toBe('billing');
  });

  it('only answers configured categories', () => {
    expect(classifyOffline(['billing'], 'CSV export crashes', 'stack trace attached').category).toBe(
      'unknown',
    );
    expect(classifyOffline(['bug'], 'CSV export crashes', 'stack trace attached').category).toBe('bug');
  });

  it('matches words at a word start, not inside other words', () => {
    expect(classifyOffline(['bug'], 'debugging tips', '').category).toBe('unknown');
    expect(classifyOffline(['bug'], 'a bug', '').category).toBe('bug');
  });

  it('a custom category is matched by the words of its name', () => {
    expect(classifyOffline(['shipping', 'billing'], 'Where is my shipping?', 'still waiting').category).toBe(
      'shipping',
    );
    expect(classifyOffline(['shipping_delay', 'billing'], 'Shipping delay on my order', '').category).toBe(
      'shipping_delay',
    );
    expect(classifyOffline(['shipping_delay'], 'Hello', 'nothing relevant').category).toBe('unknown');
  });

  it('treats regex metacharacters in a custom category name literally', () => {
    expect(() => classifyOffline(['a_b'], 'a+b (a|b)', '')).not.toThrow();
    expect(classifyOffline(['a_b'], 'x', 'aab').category).toBe('unknown');
  });

  it('stays bounded: body hits per word are capped and confidence is at most 1', () => {
    const flood = 'invoice '.repeat(10_000);
    const r = classifyOffline(['billing', 'bug'], '', flood);
    expect(r.category).toBe('billing');
    expect(r.confidence).toBeLessThanOrEqual(1);
    // Three capped body hits of "invoice" lose to two subject hits of "error" (3 < 4).
    expect(classifyOffline(['billing', 'bug'], 'error error', flood).category).toBe('bug');
  });
});
