import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

const ROOT = path.resolve(import.meta.dirname, '../..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');
const NodeFlags = z.object({ flags: z.array(z.string().regex(/^--[a-z-]+=\d+$/)).min(1) });
const { flags } = NodeFlags.parse(JSON.parse(read('bin/node-flags.json')));

describe("the V8 flags of Mailroom's processes (bin/node-flags.json)", () => {
  it('are what every way the product starts a process passes to node', () => {
    expect(read('bin/mailroom.js').split('\n')[0]).toBe(`#!/usr/bin/env -S node ${flags.join(' ')}`);
    const entrypoint = z.array(z.string()).parse(JSON.parse(/^ENTRYPOINT (.+)$/m.exec(read('Dockerfile'))?.[1] ?? 'null'));
    expect(entrypoint).toEqual(['node', ...flags, 'bin/mailroom.js']);
    for (const unit of ['deploy/mailroom.service', 'deploy/mailroom@.service']) {
      const exec = /^ExecStart=(\S+) (.+)$/m.exec(read(unit));
      expect(exec?.[1], unit).toMatch(/\/node$/);
      expect(exec?.[2], unit).toMatch(new RegExp(`^${flags.join(' ')} /opt/mailroom/bin/mailroom\\.js start `));
    }
  });

  it('hold a busy process to a young generation of 2 x 8 MB and an old generation of 1 GB (V8 sizes both from the host: 2 x 64 MB and 4 GB on a 24 GB host)', () => {
    // Short-lived garbage at a high rate is what grows the young generation to its ceiling.
    const script = `let keep = []; for (let i = 0; i < 5e6; i++) { keep.push({ i }); if (keep.length > 1e5) keep = []; }
      const v8 = require('node:v8');
      process.stdout.write(JSON.stringify({ newSpace: v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size, limit: v8.getHeapStatistics().heap_size_limit }));`;
    const { newSpace, limit } = z
      .object({ newSpace: z.number(), limit: z.number() })
      .parse(JSON.parse(execFileSync(process.execPath, [...flags, '-e', script], { encoding: 'utf8' })));
    const MB = 1024 * 1024;
    expect(newSpace).toBeGreaterThan(0);
    expect(newSpace).toBeLessThanOrEqual(16 * MB);
    // The heap limit is the old generation's plus the young generation's.
    expect(limit).toBeGreaterThanOrEqual(1024 * MB);
    expect(limit).toBeLessThanOrEqual(1024 * MB + 64 * MB);
  });
});
