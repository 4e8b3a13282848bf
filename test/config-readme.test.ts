import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigFile, Env } from '../src/config/config.js';

/**
 * The README's Configuration tables against the schemas in src/config/config.ts: the keys each names, and
 * the defaults it states where the schema gives a plain value. A default that depends on other
 * settings is the schema's `derivedDefaults`, and its README wording is not checked here.
 */

const ROOT = path.resolve(import.meta.dirname, '..');
const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');

/** README phrasings that stand for a schema default in words, by key (anything else must state the value). */
const IN_WORDS: Record<string, string> = {
  // No rule: each tool's own approval policy, which `autonomy.default` (unset) also means.
  'autonomy.rules': "today's policy",
  // The CLI's commands set their own level when the variable is unset; the schema's is `start`'s.
  MAILROOM_LOG_LEVEL: '`info` (`start`), `error` (`process`, `demo`), `warn` (other commands)',
};

/** Environment variables the code reads that are not Mailroom's to document. */
const SYSTEM_VARIABLES = new Set(['PATH']);

interface Row {
  keys: string[];
  defaultCell: string;
}

/** The rows of the first table after `intro` in the README's Configuration section. */
function table(intro: string): Row[] {
  const section = README.slice(README.indexOf('\n## Configuration\n'), README.indexOf('\n### Sender verification\n'));
  const start = section.indexOf(intro);
  expect(start, intro).toBeGreaterThan(0);
  const lines = section.slice(start).split('\n').slice(1);
  const first = lines.findIndex((l) => l.startsWith('|'));
  const rows: Row[] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break;
    const cells = line.slice(1, -1).split(/\s\|\s/).map((c) => c.trim());
    expect(cells, line).toHaveLength(3);
    const [keyCell = '', , defaultCell = ''] = cells;
    // `.host` after `smtp.provider` is `smtp.host`.
    const keys: string[] = [];
    for (const [, token = ''] of keyCell.matchAll(/`([^`]+)`/g)) {
      const parent = keys.at(-1)?.split('.').slice(0, -1).join('.');
      keys.push(token.startsWith('.') && parent ? `${parent}${token}` : token);
    }
    rows.push({ keys, defaultCell });
  }
  expect(rows.length, intro).toBeGreaterThan(5);
  return rows;
}

/** The schema without its default, optional and nullable wrappers. */
function bare(schema: z.ZodType): z.ZodType {
  let s = schema;
  while (s instanceof z.ZodDefault || s instanceof z.ZodPrefault || s instanceof z.ZodOptional || s instanceof z.ZodNullable) s = s.unwrap() as z.ZodType;
  return s;
}

function schemaAt(key: string): z.ZodType | undefined {
  let s: z.ZodType = ConfigFile;
  for (const segment of key.split('.')) {
    const object = bare(s);
    if (!(object instanceof z.ZodObject)) return undefined;
    const shape: Record<string, z.ZodType> = object.shape;
    const next = shape[segment];
    if (next === undefined) return undefined;
    s = next;
  }
  return s;
}

function valueAt(value: unknown, key: string): unknown {
  let v = value;
  for (const segment of key.split('.')) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[segment] : undefined;
  return v;
}

/** A default as the README writes it, or undefined when it is not a plain value (an object, a derived default). */
function asWritten(value: unknown): string | undefined {
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'string') return String(value);
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value.length === 0 ? '[]' : value.join(', ');
  return undefined;
}

/** The README's default without its code marks, sizes in bytes (`25 MiB` → 26214400). */
function normalised(cell: string): string {
  const text = cell.replaceAll('`', '').trim();
  const size = /^(\d+) (KiB|MiB)$/.exec(text);
  return size ? String(Number(size[1]) * (size[2] === 'KiB' ? 1024 : 1024 * 1024)) : text;
}

/** The default cell's part for each key of a row: `a`, `b` for two keys, else the whole cell for each. */
function defaultsOf(row: Row): Array<[string, string]> {
  const parts = row.defaultCell.split(/,\s+/);
  return row.keys.map((k, i) => [k, row.keys.length > 1 && parts.length === row.keys.length ? (parts[i] ?? '') : row.defaultCell]);
}

/** Every key whose README default is not the schema's, as `key: README … schema …`; and how many were compared. */
function mismatches(rows: Row[], defaults: unknown): { wrong: string[]; checked: number } {
  const wrong: string[] = [];
  let checked = 0;
  for (const row of rows) {
    for (const [key, cell] of defaultsOf(row)) {
      const written = asWritten(valueAt(defaults, key));
      if (written === undefined) continue;
      checked++;
      const [readme, schema] = key in IN_WORDS ? [row.defaultCell, IN_WORDS[key]] : [normalised(cell), written];
      if (readme !== schema) wrong.push(`${key}: README ${readme}, schema ${schema}`);
    }
  }
  return { wrong, checked };
}

describe("the README's configuration tables match the schemas", () => {
  const fileRows = table('Config file keys');
  const envRows = table('Environment (read once');

  it('names every top-level key of the config file, and only keys the schema has', () => {
    const named = fileRows.flatMap((r) => r.keys);
    const topLevel = new Set(named.map((k) => k.split('.')[0]));
    expect(Object.keys(ConfigFile.shape).filter((k) => !topLevel.has(k))).toEqual([]);
    expect(named.filter((k) => schemaAt(k) === undefined)).toEqual([]);
  });

  it('states the schema default of each config-file key that has a plain one', () => {
    const { wrong, checked } = mismatches(fileRows, ConfigFile.parse({}));
    expect(wrong).toEqual([]);
    expect(checked).toBeGreaterThan(30);
  });

  it('names every environment variable the code reads, and only those', () => {
    const named = envRows.flatMap((r) => r.keys);
    const read = new Set<string>(Object.keys(Env.shape));
    // Besides the schema: what src reads from process.env directly (the CLI, before the config is loaded).
    const sources = readdirSync(path.join(ROOT, 'src'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
    for (const f of sources) {
      for (const [, name = ''] of readFileSync(path.join(ROOT, 'src', f), 'utf8').matchAll(/process\.env\.([A-Z_][A-Z0-9_]*)/g)) {
        if (!SYSTEM_VARIABLES.has(name)) read.add(name);
      }
    }
    expect([...read].filter((k) => !named.includes(k)).sort()).toEqual([]);
    expect(named.filter((k) => !read.has(k))).toEqual([]);
  });

  it('states the default of each environment variable the schema gives one', () => {
    const { wrong, checked } = mismatches(envRows, Env.parse({}));
    expect(wrong).toEqual([]);
    expect(checked).toBe(5);
  });
});
