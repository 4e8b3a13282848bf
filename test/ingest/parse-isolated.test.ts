import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MailroomError } from '../../src/kernel/errors.js';
import { DEFAULT_PARSE_LIMITS, parseEmail } from '../../src/ingest/parse-email.js';
import { closeParseThreads, DEFAULT_ISOLATION, parseEmailIsolated, parseThreadsStarted, warmParseThreads } from '../../src/ingest/parse-isolated.js';

const HEAD = 'From: Pat <pat@customer.example>\r\nTo: support@acme.example\r\nSubject: hi\r\nMessage-ID: <p@customer.example>\r\n';

afterAll(closeParseThreads);

async function failure(p: Promise<unknown>): Promise<MailroomError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof MailroomError)) throw new Error(`expected a MailroomError, got ${String(err)}`);
  return err;
}

describe('parseEmailIsolated (a worker thread with a time and memory budget)', () => {
  it('gives the same result as parsing in this thread, and reuses its thread', async () => {
    const raw = Buffer.from(`${HEAD}Content-Type: text/plain\r\n\r\nhello there\r\n`);
    const expected = await parseEmail(raw);
    expect(await parseEmailIsolated(raw, DEFAULT_PARSE_LIMITS)).toEqual(expected);
    expect(await parseEmailIsolated(raw, DEFAULT_PARSE_LIMITS)).toEqual(expected);
  });

  it('carries a limit failure back with its code and reason', async () => {
    const flood = Buffer.from(`${HEAD}${'X-A: b\r\n'.repeat(600)}\r\nx\r\n`);
    const err = await failure(parseEmailIsolated(flood, DEFAULT_PARSE_LIMITS));
    expect(err).toMatchObject({ code: 'EMAIL_MALFORMED', message: '604 header lines, over the limit of 500' });
  });

  it('keeps a thread that refused a message warm: a stream of malformed mail must not start a thread per message', async () => {
    await closeParseThreads();
    const flood = Buffer.from(`${HEAD}${'X-A: b\r\n'.repeat(600)}\r\nx\r\n`);
    await failure(parseEmailIsolated(flood, DEFAULT_PARSE_LIMITS));
    expect(warmParseThreads()).toBe(1);
  });

  it('keeps a thread that refused a message: a refusal is an answer, not a broken thread (no new start per malformed email)', async () => {
    const ok = Buffer.from(`${HEAD}\r\nok\r\n`);
    await parseEmailIsolated(ok, DEFAULT_PARSE_LIMITS);
    const started = parseThreadsStarted();
    const flood = Buffer.from(`${HEAD}${'X-A: b\r\n'.repeat(600)}\r\nx\r\n`);
    for (let i = 0; i < 3; i++) await failure(parseEmailIsolated(flood, DEFAULT_PARSE_LIMITS));
    await parseEmailIsolated(ok, DEFAULT_PARSE_LIMITS);
    expect(parseThreadsStarted()).toBe(started);
  });

  it('quarantines a parse that overruns its time budget, naming the limit, and the next parse still works', async () => {
    const big = Buffer.from(`${HEAD}Content-Type: text/plain\r\n\r\n${'lorem ipsum dolor sit amet\r\n'.repeat(400_000)}`);
    const err = await failure(parseEmailIsolated(big, DEFAULT_PARSE_LIMITS, { timeoutMs: 1, maxHeapMb: 256 }));
    expect(err).toMatchObject({ code: 'EMAIL_MALFORMED', message: 'parsing took longer than the limit of 1 ms', retryable: false });
    const small = Buffer.from(`${HEAD}\r\nok\r\n`);
    await expect(parseEmailIsolated(small, DEFAULT_PARSE_LIMITS)).resolves.toMatchObject({ content: { text: 'ok\n' } });
  });

  it('refuses a message over the size limit before any thread sees it', async () => {
    const err = await failure(parseEmailIsolated(Buffer.alloc(2000, 97), { ...DEFAULT_PARSE_LIMITS, maxMessageBytes: 1000 }));
    expect(err).toMatchObject({ code: 'EMAIL_TOO_LARGE', message: 'message is 2000 bytes, over the limit of 1000' });
  });

  it('keeps at most a bounded prefix of a huge text body', async () => {
    const raw = Buffer.from(`${HEAD}Content-Type: text/plain\r\n\r\n${'x'.repeat(3_000_000)}\r\n`);
    const parsed = await parseEmailIsolated(raw, DEFAULT_PARSE_LIMITS);
    expect(parsed.content.text.length).toBe(1_000_000);
  });

  it('parses a burst of ordinary mail on one thread (each thread is an isolate of ~40 MB; this started one per core before)', async () => {
    await closeParseThreads();
    const started = parseThreadsStarted();
    const raws = Array.from({ length: 24 }, (_, i) => Buffer.from(`${HEAD}Content-Type: text/plain\r\n\r\nmessage ${i}\r\n`));
    const parsed = await Promise.all(raws.map((raw) => parseEmailIsolated(raw, DEFAULT_PARSE_LIMITS)));
    expect(parsed.map((p) => p.content.text)).toEqual(raws.map((_, i) => `message ${i}\n`));
    expect(parseThreadsStarted() - started).toBe(1);
    expect(warmParseThreads()).toBe(1);
  });

  it.runIf(os.availableParallelism() >= 2)('lets mail waiting behind a slow parse through on a second thread, which stops once idle', async () => {
    await closeParseThreads();
    const started = parseThreadsStarted();
    const big = Buffer.from(`${HEAD}Content-Type: text/plain\r\n\r\n${'lorem ipsum dolor sit amet\r\n'.repeat(100_000)}`);
    const small = Buffer.from(`${HEAD}\r\nok\r\n`);
    // slowParseMs 0: the big parse counts as slow as soon as it runs, so the small one need not wait for it.
    const slowOne = parseEmailIsolated(big, DEFAULT_PARSE_LIMITS, { ...DEFAULT_ISOLATION, slowParseMs: 0 });
    const waiting = parseEmailIsolated(small, DEFAULT_PARSE_LIMITS);
    await expect(Promise.all([slowOne, waiting])).resolves.toHaveLength(2);
    expect(parseThreadsStarted() - started).toBe(2);
    expect(warmParseThreads()).toBe(1);
  });

  it('quarantines a parse that needs more heap than its ceiling, naming the limit, and the next parse still works', async () => {
    const big = Buffer.from(`${HEAD}Content-Type: text/plain\r\n\r\n${'lorem ipsum dolor sit amet\r\n'.repeat(700_000)}`);
    const err = await failure(parseEmailIsolated(big, DEFAULT_PARSE_LIMITS, { timeoutMs: 60_000, maxHeapMb: 48 }));
    expect(err).toMatchObject({ code: 'EMAIL_TOO_LARGE', message: 'parsing needed more memory than the limit of 48 MB', retryable: false });
    const small = Buffer.from(`${HEAD}\r\nok\r\n`);
    await expect(parseEmailIsolated(small, DEFAULT_PARSE_LIMITS)).resolves.toMatchObject({ content: { text: 'ok\n' } });
  });

  it("leaves mailparser (~11 MB of RSS; parsing runs in a parse thread) and mailauth (~25 MB; only DKIM-signed mail without trusted results needs it) unloaded in a worker process's main thread", () => {
    // Every module resolved, by import or require, is recorded (a resolve hook ahead of tsx's).
    const script = `import { registerHooks } from 'node:module';
      const seen = [];
      registerHooks({ resolve(spec, ctx, next) { const r = next(spec, ctx); seen.push(r.url); return r; } });
      const { register } = await import('tsx/esm/api');
      register();
      await import('./src/app/context.ts'); await import('./src/app/workers.ts'); await import('./src/run/ingest.ts');
      process.stdout.write(JSON.stringify(seen.filter((u) => /[/]node_modules[/](mailparser|mailauth)[/]/.test(u))));`;
    const root = path.resolve(import.meta.dirname, '../..');
    const loaded = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    expect(JSON.parse(loaded)).toEqual([]);
  });
});
