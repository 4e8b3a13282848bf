import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

/** A published knowledge-base article: `public` data, trusted (our own team wrote it). */
export const KbArticle = z.object({
  id: z.string().regex(/^[a-z0-9-]{1,80}$/),
  title: z.string(),
  topics: z.array(z.string()),
  links: z.array(z.string().url()),
  body: z.string(),
});
export type KbArticle = z.infer<typeof KbArticle>;

export interface KnowledgeBase {
  readonly articles: readonly KbArticle[];
  get(id: string): KbArticle | undefined;
  /** Best matches first; scores topics above words in title and body. */
  search(query: string, limit?: number): KbArticle[];
}

const words = (s: string) => s.toLowerCase().split(/[^a-z0-9]+/).filter((w) => w.length > 2);

/**
 * The body as a plain-text email shows it: articles are written in markdown, replies go out as
 * text/plain, where `**Download PDF**` would read as asterisks. Emphasis and code marks go, a
 * `[label](url)` link becomes `label (url)`, a `## heading` its words; lists and line breaks stay.
 */
export function plainTextOf(markdown: string): string {
  return markdown
    .replace(/\[([^\]\n]+)\]\((https?:\/\/[^)\s]+)\)/g, '$1 ($2)')
    .replace(/(\*\*|__)(?=\S)([^\n]*?\S)\1/g, '$2')
    .replace(/`([^`\n]+)`/g, '$1')
    .replace(/^#{1,6}[ \t]+/gm, '');
}

/** Parses `# Title`, `Topics: a, b`, `Links: url, url`, a blank line, then the body (as plain text). */
export function parseArticle(id: string, text: string): KbArticle {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const title = (lines.find((l) => l.startsWith('# ')) ?? `# ${id}`).slice(2).trim();
  const field = (name: string) =>
    (lines.find((l) => l.toLowerCase().startsWith(`${name}:`)) ?? '')
      .slice(name.length + 1)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  const bodyStart = lines.findIndex((l, i) => i > 0 && l.trim() === '');
  const body = plainTextOf((bodyStart >= 0 ? lines.slice(bodyStart + 1) : []).join('\n').trim());
  return KbArticle.parse({ id, title, topics: field('topics').map((t) => t.toLowerCase()), links: field('links'), body });
}

export function loadKnowledgeBase(dir: string | undefined): KnowledgeBase {
  const articles: KbArticle[] = [];
  if (dir) {
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.md')).sort()) {
      articles.push(parseArticle(path.basename(file, '.md'), readFileSync(path.join(dir, file), 'utf8')));
    }
  }
  return createKnowledgeBase(articles);
}

export function createKnowledgeBase(articles: KbArticle[]): KnowledgeBase {
  const byId = new Map(articles.map((a) => [a.id, a]));
  return {
    articles,
    get: (id) => byId.get(id),
    search(query, limit = 3) {
      const q = words(query.replace(/_/g, ' '));
      const qFull = query.toLowerCase();
      const scored = articles.map((a) => {
        let score = a.topics.includes(qFull) ? 10 : 0;
        const title = new Set(words(a.title));
        const body = new Set(words(a.body));
        const topics = new Set(a.topics.flatMap(words));
        for (const w of q) score += (topics.has(w) ? 3 : 0) + (title.has(w) ? 2 : 0) + (body.has(w) ? 1 : 0);
        return { a, score };
      });
      return scored
        .filter((s) => s.score > 0)
        .sort((x, y) => y.score - x.score || x.a.id.localeCompare(y.a.id))
        .slice(0, limit)
        .map((s) => s.a);
    },
  };
}
