import { execFile } from 'node:child_process';
import { Writable } from 'node:stream';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from 'pg';
import { z } from 'zod';
import { loadConfig } from '../../src/config/config.js';
import { MailroomError } from '../../src/kernel/errors.js';
import { openPostgresHistoryStore } from '../../src/history/postgres-history-store.js';
import { createLogger } from '../../src/kernel/logger.js';
import { freePort } from '../../src/queues/embedded-redis.js';
import { POSTGRES_SKIP, startTestPostgres, type TestPostgres } from '../harness/postgres.js';

const run = promisify(execFile);
const BIN = path.resolve(import.meta.dirname, '../../bin/mailroom.js');
const SECRET = 'hunter2-sekrit';
const Failed = z.object({ code: z.number(), stdout: z.string(), stderr: z.string() });

/** `mailroom status` with this DATABASE_URL; it must fail, and this is how. */
async function statusFails(databaseUrl: string) {
  // Redis is unreachable too: the store is opened first, so its error is the one a user sees.
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: databaseUrl, REDIS_URL: 'redis://127.0.0.1:1', MAILROOM_LOG_LEVEL: 'info' };
  return run(process.execPath, [BIN, 'status'], { env, timeout: 30_000 }).then(
    () => {
      throw new Error('mailroom status succeeded');
    },
    (err: unknown) => Failed.parse(err),
  );
}

function expectOneLine(r: z.infer<typeof Failed>, code: string, exit: number) {
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^mailroom: /);
  expect(lines[0]).toContain(`[${code}]`);
  expect(r.code).toBe(exit);
  expect(r.stderr + r.stdout).not.toContain(SECRET);
}

describe('DATABASE_URL: which history store, and one clear line when it is wrong', () => {
  it('refuses a URL that is not PostgreSQL before anything starts, without repeating it', async () => {
    for (const url of [`mysql://mailroom:${SECRET}@db.example/mailroom`, `not a url ${SECRET}`, `postgres://mailroom:${SECRET}@/mailroom`]) {
      const r = await statusFails(url);
      expectOneLine(r, 'MAILROOM_CONFIG_INVALID', 78);
      expect(r.stderr).toContain('DATABASE_URL');
    }
    expect(() => loadConfig({ env: { DATABASE_URL: 'postgresql://u@h/db' } })).not.toThrow();
    expect(loadConfig({ env: { DATABASE_URL: 'postgres:///db?host=/run/postgresql' } }).databaseUrl).toBe('postgres:///db?host=/run/postgresql');
    expect(loadConfig({ env: {} }).databaseUrl).toBeUndefined();
  });

  it('says what to do when nothing listens there, with the password redacted', async () => {
    const port = await freePort();
    const r = await statusFails(`postgres://mailroom:${SECRET}@127.0.0.1:${port}/mailroom`);
    expectOneLine(r, 'MAILROOM_DATABASE_UNREACHABLE', 69);
    expect(r.stderr).toContain(`PostgreSQL at postgres://mailroom:***@127.0.0.1:${port}/mailroom is unreachable`);
    expect(r.stderr).toMatch(/ECONNREFUSED/);
    expect(r.stderr).toMatch(/start it .*fix DATABASE_URL, or unset it/);
  });

  it('never logs the URL, whoever passes it to the logger', () => {
    let out = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        out += chunk.toString();
        done();
      },
    });
    const logger = createLogger({ level: 'info', destination: sink });
    logger.info({ databaseUrl: `postgres://u:${SECRET}@h/db`, config: { databaseUrl: `postgres://u:${SECRET}@h/db` } }, 'starting');
    expect(out).toContain('starting');
    expect(out).not.toContain(SECRET);
  });
});

// Skipped only outside CI, on a machine without PostgreSQL's binaries (POSTGRES_SKIP names why); in CI it always runs.
describe.skipIf(POSTGRES_SKIP !== null)('DATABASE_URL against a real PostgreSQL that refuses us', () => {
  let pg: TestPostgres;
  beforeAll(async () => {
    pg = await startTestPostgres();
  });
  afterAll(async () => {
    await pg?.close();
  });

  it('a wrong password or a database that does not exist is one line, without either password', async () => {
    const wrong = await statusFails(`postgres://mailroom:${SECRET}@127.0.0.1:${pg.port}/mailroom`);
    expectOneLine(wrong, 'MAILROOM_DATABASE_UNREACHABLE', 69);
    expect(wrong.stderr).toMatch(/password authentication failed/);
    const missing = await statusFails(pg.url.replace(/\/mailroom$/, '/nosuchdb'));
    expectOneLine(missing, 'MAILROOM_DATABASE_UNREACHABLE', 69);
    expect(missing.stderr).toMatch(/database "nosuchdb" does not exist/);
    expect(missing.stderr).not.toContain(pg.password);
  });

  it('migrates once when hosts start together, and refuses a schema a newer Mailroom migrated', async () => {
    const url = await pg.createDatabase();
    const stores = await Promise.all([1, 2, 3].map(() => openPostgresHistoryStore(url)));
    await Promise.all(stores.map((s) => s.close()));
    const c = new Client({ connectionString: url });
    await c.connect();
    try {
      expect((await c.query('SELECT version FROM schema_version')).rows).toEqual([{ version: 3 }]);
      await c.query('UPDATE schema_version SET version = 99');
    } finally {
      await c.end();
    }
    await expect(openPostgresHistoryStore(url)).rejects.toSatisfy((e: unknown) => e instanceof MailroomError && e.code === 'CONFIG_INVALID' && /version 99, newer than this Mailroom knows/.test(e.message));
  });
});
