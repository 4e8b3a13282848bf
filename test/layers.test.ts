import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { ESLint } from 'eslint';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');
const CRUISER = path.join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruiser.mjs');
const { LAYERS } = createRequire(import.meta.url)(path.join(ROOT, '.dependency-cruiser.cjs')) as {
  LAYERS: string[][];
};

/** dependency-cruiser's JSON answer for `src` of a tree: the rule and the two ends of each violation. */
function cruise(cwd: string): Array<{ rule: string; from: string; to: string }> {
  let out: string;
  try {
    out = execFileSync(
      process.execPath,
      [CRUISER, 'src', '--config', '.dependency-cruiser.cjs', '--output-type', 'json'],
      { cwd, encoding: 'utf8', maxBuffer: 64 << 20 },
    );
  } catch (err) {
    // It exits non-zero when it finds violations; the report is on stdout all the same.
    out = String((err as { stdout?: unknown }).stdout ?? '');
  }
  const report = JSON.parse(out) as {
    summary: { violations: Array<{ rule: { name: string }; from: string; to: string }> };
  };
  return report.summary.violations.map((v) => ({ rule: v.rule.name, from: v.from, to: v.to }));
}

describe('the house in layers (.dependency-cruiser.cjs)', () => {
  it('src has no upward import, no cycle and no module outside a layer, type imports counted', () => {
    expect(cruise(ROOT)).toEqual([]);
  });

  it('names every top folder of src in exactly one layer, and each has a README saying what it owns', () => {
    const tops = readdirSync(path.join(ROOT, 'src'), { withFileTypes: true });
    expect(tops.filter((e) => e.isFile()).map((e) => e.name)).toEqual([]);
    const folders = tops
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
    expect([...LAYERS.flat()].sort()).toEqual(folders);
    for (const folder of folders)
      expect(readFileSync(path.join(ROOT, 'src', folder, 'README.md'), 'utf8')).toMatch(/^# src\/\w+/);
  });

  it("the README's architecture table lists the layers top down, one row each, as the rule has them", () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Architecture'), readme.indexOf('\n## ', readme.indexOf('## Architecture') + 1));
    const rows = [...section.matchAll(/^\|[^|]*\| (`src\/[^|]+)\|/gm)].map((m) => [...(m[1] ?? '').matchAll(/`src\/(\w+)`/g)].map((f) => f[1]));
    expect(rows).toEqual([...LAYERS].reverse());
  });

  describe('planted violations fail', () => {
    let tree: string;
    beforeAll(() => {
      tree = mkdtempSync(path.join(os.tmpdir(), 'mailroom-layers-'));
      cpSync(path.join(ROOT, 'src'), path.join(tree, 'src'), { recursive: true });
      for (const f of ['.dependency-cruiser.cjs', 'tsconfig.json'])
        cpSync(path.join(ROOT, f), path.join(tree, f));
      // An upward import that is only a type: the store naming the services interface above it.
      writeFileSync(
        path.join(tree, 'src/store/planted-upward.ts'),
        "import type { AppContext } from '../services/services.js';\nexport type Planted = AppContext;\n",
      );
      // A cycle of two type imports inside one folder.
      writeFileSync(
        path.join(tree, 'src/kernel/planted-a.ts'),
        "import type { B } from './planted-b.js';\nexport interface A { b?: B }\n",
      );
      writeFileSync(
        path.join(tree, 'src/kernel/planted-b.ts'),
        "import type { A } from './planted-a.js';\nexport interface B { a?: A }\n",
      );
      // Peers do not import each other.
      writeFileSync(
        path.join(tree, 'src/planner/planted-peer.ts'),
        "import { triage } from '../ingest/triage.js';\nexport const planted = triage;\n",
      );
      // A module outside every layer, and a new folder no layer names.
      writeFileSync(path.join(tree, 'src/planted.ts'), 'export const planted = 1;\n');
      mkdirSync(path.join(tree, 'src/helpers'));
      writeFileSync(
        path.join(tree, 'src/helpers/planted.ts'),
        "import { MailroomError } from '../kernel/errors.js';\nexport const planted = MailroomError;\n",
      );
    });
    afterAll(() => rmSync(tree, { recursive: true, force: true }));

    it('are each reported by the rule that forbids them', () => {
      const found = cruise(tree);
      expect(found).toContainEqual({
        rule: 'layers: store',
        from: 'src/store/planted-upward.ts',
        to: 'src/services/services.ts',
      });
      expect(found).toContainEqual(
        expect.objectContaining({
          rule: 'no-circular',
          from: 'src/kernel/planted-a.ts',
          to: 'src/kernel/planted-b.ts',
        }),
      );
      expect(found).toContainEqual({
        rule: 'layers: planner',
        from: 'src/planner/planted-peer.ts',
        to: 'src/ingest/triage.ts',
      });
      expect(found).toContainEqual(expect.objectContaining({ rule: 'in-a-layer', from: 'src/planted.ts' }));
      expect(found).toContainEqual(
        expect.objectContaining({ rule: 'in-a-layer', from: 'src/helpers/planted.ts' }),
      );
      // Nothing else: the copy of src is as clean as src.
      expect(found.filter((v) => !/planted/.test(v.from))).toEqual([]);
    });
  });

  it('eslint keeps the planner blind: nothing of src/ingest, and only named parts of the trusted view', async () => {
    const eslint = new ESLint({ cwd: ROOT });
    const code = [
      "import type { UntrustedContent } from '../model/trusted-context.js';",
      "import type { ParsedEmail } from '../ingest/parse-email.js';",
      'export type Planted = UntrustedContent | ParsedEmail;',
      '',
    ].join('\n');
    const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, 'src/planner/planted.ts') });
    const restricted = (result?.messages ?? [])
      .filter((m) => m.ruleId === 'no-restricted-imports')
      .map((m) => m.line);
    expect(restricted).toEqual([1, 2]);
  });

  it('eslint refuses a re-export: each name is imported from the module that defines it', async () => {
    const eslint = new ESLint({ cwd: ROOT });
    const code = ["export { EmailId } from './ids.js';", "export * from './errors.js';", 'export const kept = 1;', ''].join('\n');
    const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, 'src/kernel/planted.ts') });
    const refused = (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-syntax').map((m) => m.line);
    expect(refused).toEqual([1, 2]);
  });
});
