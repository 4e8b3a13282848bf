import { existsSync, mkdirSync, mkdtempSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ProcessSummary } from '../../src/cli/summary.js';
import { EXAMPLE_CONFIG_FILE, EXAMPLES, EXPECTED } from '../fixtures/examples.js';
import { runMailroom } from '../harness/cli.js';
import { exampleEnv } from '../harness/example-config.js';
import { dkimWorld } from '../harness/mail.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';

/** Answers the child's DNS from MAILROOM_TEST_DNS, so its local DKIM check sees planted keys. */
const PLANTED_DNS = ['--import', 'tsx', '--import', path.resolve(import.meta.dirname, '../harness/planted-dns.ts')];

function mailroom(args: string[], env: NodeJS.ProcessEnv = {}, nodeArgs: string[] = []) {
  return runMailroom(args, env, { nodeArgs });
}

/** One line on stderr, the error code in brackets, no stack trace. */
function expectOneLineError(res: { code: number; stderr: string }, code: string) {
  expect(res.code).not.toBe(0);
  const lines = res.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^mailroom: /);
  expect(lines[0]).toContain(code);
  expect(res.stderr).not.toMatch(/\n\s+at /);
}

describe('mailroom CLI', () => {
  let redis: TestRedis;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'mailroom-cli-'));
  beforeAll(async () => {
    redis = await startTestRedis();
  });
  afterAll(async () => {
    await redis?.close();
  });

  it('prints help with every command', async () => {
    const res = await mailroom(['--help']);
    expect(res.code).toBe(0);
    for (const cmd of ['process', 'demo', 'status', 'audit', 'start', 'auth']) expect(res.stdout).toContain(cmd);
    expect(res.stdout).toContain('REDIS_URL');
  });

  it('process examples/ --json prints the summary object with lost 0', async () => {
    // The folder itself, as the README and the issue name it: .eml files are found below it.
    const res = await mailroom(['process', EXAMPLES, '--json', '--config', EXAMPLE_CONFIG_FILE], {
      REDIS_URL: redis.url,
      MAILROOM_PREFIX: redis.prefix(),
      MAILROOM_DATA_DIR: tmp,
    });
    expect(res.code).toBe(0);
    const summary = ProcessSummary.parse(JSON.parse(res.stdout));
    expect(summary).toMatchObject({ lost: 0, processed: Object.keys(EXPECTED).length });
    expect(summary.processed).toBeGreaterThanOrEqual(30);
    for (const key of ['processed', 'completed', 'awaiting_approval', 'escalated', 'quarantined', 'lost']) expect(res.stdout).toContain(`"${key}"`);
  });

  it('process --json prints pure JSON while mailauth checks a DKIM signature whose l= is longer than the body (4.13.3 printed to stdout)', async () => {
    const world = dkimWorld('customer.example');
    const body = 'Please resend my invoice.\r\n\r\nThanks, Alice\r\n';
    const raw = Buffer.from(
      ['From: Alice <alice@customer.example>', 'To: support@acme.example', 'Subject: Invoice', 'Message-ID: <cli-l@customer.example>', 'Date: Tue, 24 Nov 2026 10:00:00 +0000', '', body].join('\r\n'),
    );
    const signed = (await world.signRaw(raw, { bodyLength: 1_000_000 })).toString('latin1');
    const dir = path.join(tmp, 'dkim-l');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'truncated.eml'), signed.replace('Thanks, Alice\r\n', ''), 'latin1');
    const env = { ...exampleEnv({ redis, dataDir: tmp }), MAILROOM_TEST_DNS: JSON.stringify(world.txtRecords()) };
    const res = await mailroom(['process', dir, '--json', '--config', EXAMPLE_CONFIG_FILE], env, PLANTED_DNS);
    expect(res.code).toBe(0);
    expect(res.stdout.endsWith('\n')).toBe(true);
    expect(res.stdout.trimEnd().split('\n')).toHaveLength(1);
    const summary = ProcessSummary.parse(JSON.parse(res.stdout));
    expect(summary).toMatchObject({ processed: 1, lost: 0 });
    expect(res.stderr).not.toMatch(/TOTAL|EXPECTING/);
    // mailauth did run on it, against the planted key: the body no longer matches the signature.
    const audit = await mailroom(['audit', summary.emails[0]?.emailId ?? '', '--json'], env);
    expect(audit.stdout).toContain('"by":"local-check","reason":"local check: dmarc=fail"');
  });

  it('audit prints the trail of an email', async () => {
    const env = exampleEnv({ redis, dataDir: tmp });
    const file = path.join(EXAMPLES, 'mailbox', '01-invoice-copy-request.eml');
    const res = await mailroom(['process', file, '--json', '--config', EXAMPLE_CONFIG_FILE], env);
    const summary = ProcessSummary.parse(JSON.parse(res.stdout));
    const audit = await mailroom(['audit', summary.emails[0]?.emailId ?? ''], env);
    expect(audit.code).toBe(0);
    for (const t of ['ingested', 'classified', 'planned', 'validated', 'approved', 'step_started', 'step_finished', 'completed']) expect(audit.stdout).toContain(t);
    expect(audit.stdout).toContain('send_reply');
    // --json is one JSON document (JSON lines would not parse as one), the record and the events in order.
    const json = await mailroom(['audit', summary.emails[0]?.emailId ?? '', '--json'], env);
    expect(json.code).toBe(0);
    const doc = z
      .object({ emailId: z.string(), record: z.object({ state: z.string() }), events: z.array(z.object({ type: z.string() })) })
      .parse(JSON.parse(json.stdout));
    expect(doc.emailId).toBe(summary.emails[0]?.emailId);
    expect(doc.record.state).toBe('completed');
    expect(doc.events[0]?.type).toBe('ingested');
    expect(doc.events.map((e) => e.type)).toContain('step_finished');
  });

  it('process quarantines a file over maxMessageBytes unread, from a folder and by name (a 300 MB file used to be read whole first)', async () => {
    const dir = path.join(tmp, 'huge');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'huge.eml');
    // Sparse: 300 MB to stat, a few bytes on disk. Reading it whole would show in the child's time and memory.
    writeFileSync(file, 'From: Alice <alice@customer.example>\r\nTo: support@acme.example\r\nSubject: big\r\n\r\n');
    truncateSync(file, 300 * 1024 * 1024);
    const env = exampleEnv({ redis, dataDir: tmp });
    for (const target of [dir, file]) {
      const res = await mailroom(['process', target, '--json', '--config', EXAMPLE_CONFIG_FILE], env);
      expect(res.code, res.stderr).toBe(0);
      const summary = ProcessSummary.parse(JSON.parse(res.stdout));
      expect(summary).toMatchObject({ processed: 1, lost: 0 });
      expect(summary.emails[0]).toMatchObject({ state: 'quarantined' });
      expect(summary.emails[0]?.reason).toMatch(/EMAIL_TOO_LARGE: message is 314572800 bytes, over the limit of/);
    }
  });

  it('a megabyte From header is quarantined with its reason before any address is parsed', async () => {
    const dir = path.join(tmp, 'long-from');
    mkdirSync(dir, { recursive: true });
    const from = Array.from({ length: 40_000 }, (_, i) => `x${i}@a.example`).join(', ');
    writeFileSync(path.join(dir, 'from.eml'), `From: ${from}\r\nTo: support@acme.example\r\nSubject: hi\r\nMessage-ID: <lf@a.example>\r\n\r\nhello\r\n`);
    const res = await mailroom(['process', dir, '--json', '--config', EXAMPLE_CONFIG_FILE], exampleEnv({ redis, dataDir: tmp }));
    expect(res.code, res.stderr).toBe(0);
    const summary = ProcessSummary.parse(JSON.parse(res.stdout));
    expect(summary.emails[0]).toMatchObject({ state: 'quarantined' });
    expect(summary.emails[0]?.reason).toMatch(/EMAIL_MALFORMED: a header field of \d+ bytes, over the limit of 65536/);
  });

  it('a missing path is one clear error line', async () => {
    expectOneLineError(await mailroom(['process', path.join(tmp, 'nope')], { REDIS_URL: redis.url }), 'MAILROOM_INPUT_NOT_FOUND');
  });

  it('a file that is not an email is one clear error line', async () => {
    const png = path.join(tmp, 'picture.png');
    writeFileSync(png, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]));
    expectOneLineError(await mailroom(['process', png], { REDIS_URL: redis.url }), 'MAILROOM_INPUT_NOT_EMAIL');
  });

  it('an unreadable or invalid config is one clear error line', async () => {
    expectOneLineError(await mailroom(['process', EXAMPLES, '--config', path.join(tmp, 'missing.json')]), 'MAILROOM_CONFIG_INVALID');
    const bad = path.join(tmp, 'bad.json');
    writeFileSync(bad, '{ "mailbox": { "address": "not-an-address" }, "surprise": 1 }');
    const res = await mailroom(['process', EXAMPLES, '--config', bad]);
    expectOneLineError(res, 'MAILROOM_CONFIG_INVALID');
    expect(res.stderr).toContain('mailbox.address');
  });

  it('the daemon refuses a bad SMTP URL or a missing kbDir at start: exit 78, the key named, no secret shown', async () => {
    const dataDir = path.join(tmp, 'start-data');
    const http = await mailroom(['start'], { MAILROOM_DATA_DIR: dataDir, SMTP_URL: 'http://support:hunter2@relay.example/' });
    expectOneLineError(http, 'MAILROOM_CONFIG_INVALID');
    expect(http.code).toBe(78);
    expect(http.stderr).toContain('SMTP_URL: must be an smtp:// or smtps:// URL');
    expect(http.stderr).not.toContain('hunter2');
    const noKb = path.join(tmp, 'no-kb.json');
    writeFileSync(noKb, JSON.stringify({ kbDir: 'kb-that-is-not-there' }));
    const kb = await mailroom(['--config', noKb, 'start'], { MAILROOM_DATA_DIR: dataDir });
    expectOneLineError(kb, 'MAILROOM_CONFIG_INVALID');
    expect(kb.code).toBe(78);
    expect(kb.stderr).toContain(`kbDir: folder ${path.join(tmp, 'kb-that-is-not-there')} does not exist`);
  });

  it('a second shell on a data folder no Mailroom used is told to set MAILROOM_DATA_DIR, not shown an empty desk', async () => {
    for (const args of [['pending'], ['status'], ['approve', 'em_0123456789abcdef', '--by', 'carol']]) {
      const res = await mailroom(args, { MAILROOM_DATA_DIR: path.join(tmp, 'never-used') });
      expectOneLineError(res, 'MAILROOM_INPUT_NOT_FOUND');
      expect(res.stderr).toContain('if a daemon runs with another MAILROOM_DATA_DIR (or REDIS_URL), set the same here');
    }
  });

  it('a busy HTTP port is refused before Redis or IMAP starts: exit 78, nothing left running', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const { port } = busy.address() as AddressInfo; // a TCP listen() always yields an AddressInfo
    const dataDir = path.join(tmp, 'busy-port');
    try {
      const res = await mailroom(['start'], { MAILROOM_DATA_DIR: dataDir, MAILROOM_HTTP_PORT: String(port) });
      expectOneLineError(res, 'MAILROOM_CONFIG_INVALID');
      expect(res.code).toBe(78);
      expect(res.stderr).toContain(`HTTP 127.0.0.1:${port} is already in use (EADDRINUSE)`);
      // No embedded redis-server was started (its folder would exist), so none can be left behind.
      expect(existsSync(path.join(dataDir, 'redis'))).toBe(false);
    } finally {
      await new Promise((r) => busy.close(r));
    }
  });

  it('dead letters: listed with their reasons, shown one at a time, discarded with a name that the email\'s trail records', { timeout: 120_000 }, async () => {
    const env = { REDIS_URL: redis.url, MAILROOM_PREFIX: '{dl-cli}' };
    await mailroom(['process', path.join(EXAMPLES, 'mailbox', '41-malformed-no-from.eml')], env);
    const listed = z.array(z.object({ id: z.string(), emailId: z.string(), code: z.string(), reason: z.string(), stage: z.string() })).parse(JSON.parse((await mailroom(['dead-letters', '--json'], env)).stdout));
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ stage: 'ingest', code: 'MAILROOM_EMAIL_MALFORMED', reason: 'no From address' });
    const id = listed[0]?.id ?? '';
    expect((await mailroom(['dead-letters', 'show', id], env)).stdout).toContain('source: file ');
    expect((await mailroom(['dead-letters', 'discard', id, '--by', 'carol'], env)).stdout).toBe(`${id} discarded by carol\n`);
    expect((await mailroom(['dead-letters'], env)).stdout).toBe('no dead letters\n');
    expectOneLineError(await mailroom(['dead-letters', 'show', id], env), 'MAILROOM_INPUT_NOT_FOUND');
    expect((await mailroom(['audit', listed[0]?.emailId ?? ''], env)).stdout).toMatch(/dead_letter_discarded\s+carol/);
  });

  it('a number option that is not a number is refused before anything starts', async () => {
    for (const args of [['status', '--limit', 'abc'], ['pending', '--limit', '0'], ['process', '--timeout', 'soon', EXAMPLES]]) {
      const res = await mailroom(args, { REDIS_URL: 'redis://127.0.0.1:1' });
      expect(res.code, args.join(' ')).toBe(1);
      expect(res.stderr.split('\n')[0]).toMatch(/^error: option '--\w+ <\w+>' argument '\w+' is invalid\. a (whole )?number/);
      expect(res.stderr).not.toContain('REDIS_UNREACHABLE');
    }
  });

  it('an unreachable Redis is one clear error line', async () => {
    const res = await mailroom(['process', path.join(EXAMPLES, 'mailbox')], { REDIS_URL: 'redis://127.0.0.1:1' });
    expectOneLineError(res, 'MAILROOM_REDIS_UNREACHABLE');
  });
});
