import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createKnowledgeBase, loadKnowledgeBase, parseArticle, plainTextOf } from '../../src/store/knowledge-base.js';
import type { KbArticle } from '../../src/store/knowledge-base.js';

const KB_DIR = fileURLToPath(new URL('../../examples/kb/', import.meta.url));
const kb = loadKnowledgeBase(KB_DIR);

const article = (over: Partial<KbArticle> & Pick<KbArticle, 'id'>): KbArticle => ({
  title: over.id,
  topics: [],
  links: [],
  body: '',
  ...over,
});

describe('plainTextOf: an article reads as plain text in a text/plain reply', () => {
  it('drops emphasis and code marks, spells a link out, keeps lists and line breaks', () => {
    expect(plainTextOf('**Find an invoice**\n1. Open **Billing** and click __Download PDF__.\n2. Send the `x-request-id`.')).toBe(
      'Find an invoice\n1. Open Billing and click Download PDF.\n2. Send the x-request-id.',
    );
    expect(plainTextOf('## Steps\nSee [the status page](https://status.acme.example/) first.')).toBe('Steps\nSee the status page (https://status.acme.example/) first.');
    // A lone star or a product name with underscores is text, not markup.
    expect(plainTextOf('Plans start at 5 * 3 seats; set DARK_MODE_ON.')).toBe('Plans start at 5 * 3 seats; set DARK_MODE_ON.');
  });

  it('no shipped article keeps markdown marks once loaded', () => {
    expect(kb.articles.length).toBeGreaterThan(5);
    for (const a of kb.articles) expect(a.body, a.id).not.toMatch(/\*\*|`|^#/m);
  });
});

describe('parseArticle', () => {
  it('reads title, lowercased topics, links and the body after the first blank line', () => {
    const a = parseArticle(
      'reset-password',
      '# Reset your password\r\nTopics: Account_Access, password , reset\r\nLinks: https://acme.example/reset-password, https://acme.example/login\r\n\r\nStep one.\r\n\r\nStep two.\r\n',
    );
    expect(a).toEqual({
      id: 'reset-password',
      title: 'Reset your password',
      topics: ['account_access', 'password', 'reset'],
      links: ['https://acme.example/reset-password', 'https://acme.example/login'],
      body: 'Step one.\n\nStep two.',
    });
  });

  it('falls back to the id as title and to empty topics and links', () => {
    expect(parseArticle('plain', 'first line\n\nbody text')).toEqual({
      id: 'plain',
      title: 'plain',
      topics: [],
      links: [],
      body: 'body text',
    });
  });

  it('refuses a link that is not a URL and an id outside [a-z0-9-]', () => {
    expect(() => parseArticle('bad-link', '# T\nLinks: not a url\n\nbody')).toThrow();
    expect(() => parseArticle('Bad_Id', '# T\n\nbody')).toThrow();
  });
});

describe('loadKnowledgeBase', () => {
  it('loads every .md article of examples/kb, sorted by id', () => {
    const files = readdirSync(KB_DIR).filter((f) => f.endsWith('.md'));
    expect(kb.articles.map((a) => a.id)).toEqual(files.map((f) => f.slice(0, -3)).sort());
    expect(kb.articles.length).toBeGreaterThanOrEqual(10);
    for (const a of kb.articles) {
      expect(a.title.length).toBeGreaterThan(0);
      expect(a.topics.length).toBeGreaterThan(0);
      expect(a.body.length).toBeGreaterThan(100);
      // The header lines are not part of the body.
      expect(a.body).not.toMatch(/^(Topics|Links):/m);
    }
  });

  it('looks articles up by id', () => {
    expect(kb.get('reset-password')?.title).toBe('Reset your password');
    expect(kb.get('reset-password')?.links).toEqual(['https://acme.example/reset-password']);
    expect(kb.get('nope')).toBeUndefined();
  });

  it('without a folder is an empty knowledge base', () => {
    const empty = loadKnowledgeBase(undefined);
    expect(empty.articles).toEqual([]);
    expect(empty.search('billing')).toEqual([]);
  });

  it('ignores files that are not .md', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mailroom-kb-'));
    try {
      writeFileSync(path.join(dir, 'one.md'), '# One\nTopics: billing\n\nBody.');
      writeFileSync(path.join(dir, 'notes.txt'), '# Not an article');
      expect(loadKnowledgeBase(dir).articles.map((a) => a.id)).toEqual(['one']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('search', () => {
  it("topic 'billing' ranks a billing article first, and only billing-topic articles in the top three", () => {
    const hits = kb.search('billing');
    expect(hits).toHaveLength(3);
    expect(hits[0]?.topics).toContain('billing');
    expect(hits.every((a) => a.topics.includes('billing'))).toBe(true);
  });

  it("topic 'account_access' finds the password and 2FA articles", () => {
    const ids = kb.search('account_access', 5).map((a) => a.id);
    expect(ids).toContain('reset-password');
    expect(ids).toContain('two-factor-recovery');
    expect(kb.search('account_access', 3).every((a) => a.topics.includes('account_access'))).toBe(true);
  });

  it('finds the matching article for each default category first', () => {
    expect(kb.search('refund', 1)[0]?.id).toBe('refund-policy');
    expect(kb.search('bug', 1)[0]?.topics).toContain('bug');
    expect(kb.search('feature_request', 1)[0]?.id).toBe('feature-requests');
  });

  it('word queries find the article that names them', () => {
    expect(kb.search('password', 1)[0]?.id).toBe('reset-password');
    expect(kb.search('2fa', 1)[0]?.id).toBe('two-factor-recovery');
    expect(kb.search('vat', 1)[0]?.id).toBe('vat-and-tax');
  });

  it('answers nothing for a query that matches nothing, and honours the limit', () => {
    expect(kb.search('unknown')).toEqual([]);
    expect(kb.search('zzzz qqqq')).toEqual([]);
    expect(kb.search('billing', 1)).toHaveLength(1);
  });

  it('scores an exact topic above title words, title above body, and breaks ties by id', () => {
    const small = createKnowledgeBase([
      article({ id: 'c-body', body: 'about widgets here' }),
      article({ id: 'b-title', title: 'Widgets explained' }),
      article({ id: 'a-topic', topics: ['widgets'] }),
      article({ id: 'd-body', body: 'widgets again' }),
    ]);
    expect(small.search('widgets', 10).map((a) => a.id)).toEqual(['a-topic', 'b-title', 'c-body', 'd-body']);
  });
});
