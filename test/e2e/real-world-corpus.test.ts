import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { runProcess } from '../../src/cli/process-command.js';
import { createLogger } from '../../src/kernel/logger.js';
import { closeParseThreads } from '../../src/ingest/parse-isolated.js';
import { exampleConfig } from '../harness/example-config.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';
import { startSmtpCapture, type SmtpCapture } from '../harness/smtp-capture.js';

const CORPUS = path.resolve(import.meta.dirname, '../corpora/real-world');

/** One entry of the corpus manifest: where the file came from, its licence, and what must happen to it. */
export const CorpusEntry = z.object({
  file: z.string(),
  origin: z.object({ repository: z.string(), path: z.string(), commit: z.string().regex(/^[0-9a-f]{40}$/) }),
  licence: z.enum(['Apache-2.0', 'MIT', 'PSF-2.0']),
  prependFrom: z.boolean(),
  /** Absent: the file must be processed. Present: it must be quarantined with a reason containing this. */
  quarantined: z.string().optional(),
  note: z.string().optional(),
});
export type CorpusEntry = z.infer<typeof CorpusEntry>;
const Manifest = z.object({ files: z.array(CorpusEntry).min(40) });

describe('the real-world corpus from other mail libraries’ test suites', () => {
  let redis: TestRedis;
  let smtp: SmtpCapture;
  beforeAll(async () => {
    redis = await startTestRedis();
    smtp = await startSmtpCapture();
  });
  afterAll(async () => {
    await closeParseThreads();
    await smtp?.close();
    await redis?.close();
  });

  it('every file is processed, except the few the manifest documents as truly unreadable', async () => {
    const manifest = Manifest.parse(JSON.parse(readFileSync(path.join(CORPUS, 'manifest.json'), 'utf8')));
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-corpus-'));
    const byName = new Map<string, CorpusEntry>();
    for (const [i, entry] of manifest.files.entries()) {
      const raw = readFileSync(path.join(CORPUS, entry.file));
      const name = `${String(i).padStart(3, '0')}-${path.basename(entry.file)}`;
      writeFileSync(path.join(dir, name), entry.prependFrom ? Buffer.concat([Buffer.from('From: corpus@example.com\r\n'), raw]) : raw);
      byName.set(name, entry);
    }
    const summary = await runProcess(exampleConfig({ redis, smtp }), createLogger({ level: 'silent' }), { paths: [dir], timeoutMs: 60_000 });
    expect(summary.lost).toBe(0);
    const outcomes = summary.emails.map((e) => ({ file: byName.get(path.basename(e.file))?.file, state: e.state, reason: e.reason }));
    const wrong = outcomes.filter((o) => {
      const entry = manifest.files.find((f) => f.file === o.file);
      if (!entry) return true;
      return entry.quarantined === undefined
        ? !['completed', 'escalated', 'awaiting_approval'].includes(o.state)
        : o.state !== 'quarantined' || !o.reason.includes(entry.quarantined);
    });
    expect(wrong).toEqual([]);
    // Every file was taken in; mime4j ships two byte-identical pairs (*-noheader, *-nocrlfcrlf),
    // and a second copy of a message is a duplicate of the first, with the first one's state.
    expect(summary.processed).toBe(manifest.files.length);
    expect(summary.duplicates).toBe(2);
    expect(summary.quarantined).toBe(manifest.files.filter((f) => f.quarantined).length);
  }, 90_000);
});
