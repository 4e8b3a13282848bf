import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { z } from 'zod';
import { EXAMPLE_CONFIG_FILE, EXAMPLES } from '../fixtures/examples.js';
import { exampleEnv } from '../harness/example-config.js';
import { describeEachBackend, type HistoryBackend, type StorePlace } from '../harness/history-backends.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';
import { createRedis, type Redis } from '../../src/queues/connection.js';

const run = promisify(execFile);
const BIN = path.resolve(import.meta.dirname, '../../bin/mailroom.js');
/** Two emails, answered automatically. */
const LAURA = 'laura.chen@greenpixel.example';
/** One email whose refund plan waits for a human (its review shows the address). */
const KENJI = 'kenji@orbitlogistics.example';

/** Every key and every value under the prefix, whatever its type, as one lowercased text. */
async function everythingIn(redis: Redis, prefix: string): Promise<string> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      const type = await redis.type(key);
      const value =
        type === 'string' ? await redis.get(key)
        : type === 'hash' ? JSON.stringify(await redis.hgetall(key))
        : type === 'list' ? JSON.stringify(await redis.lrange(key, 0, -1))
        : type === 'set' ? JSON.stringify(await redis.smembers(key))
        : type === 'zset' ? JSON.stringify(await redis.zrange(key, 0, -1))
        : type === 'stream' ? JSON.stringify(await redis.xrange(key, '-', '+'))
        : `(${type})`;
      out.push(`${key}\t${value ?? ''}`);
    }
  } while (cursor !== '0');
  return out.join('\n').toLowerCase();
}

/**
 * What the store holds, lowercased. SQLite: the bytes of its files (database, write-ahead log) as
 * latin1 text, what a disk image shows. PostgreSQL: every row of every table, as text (it has no
 * secure_delete: freed space is reused, not zeroed; README "Data and retention").
 */
async function storeText(backend: HistoryBackend, dataDir: string, env: Record<string, string>): Promise<string> {
  if (backend.name === 'sqlite') {
    return ['history.sqlite', 'history.sqlite-wal', 'history.sqlite-shm']
      .map((f) => path.join(dataDir, f))
      .filter((f) => existsSync(f))
      .map((f) => readFileSync(f).toString('latin1'))
      .join('\n')
      .toLowerCase();
  }
  const c = new Client({ connectionString: env.DATABASE_URL });
  await c.connect();
  try {
    const out: string[] = [];
    for (const table of ['emails', 'events', 'facts', 'fact_counts', 'erasures']) {
      for (const row of (await c.query(`SELECT t::text AS row FROM ${table} t`)).rows) out.push(String(z.object({ row: z.string() }).parse(row).row));
    }
    return out.join('\n').toLowerCase();
  } finally {
    await c.end();
  }
}

const Exported = z.object({ emailId: z.string(), state: z.string(), events: z.array(z.unknown()), labels: z.array(z.string()) });

describeEachBackend('mailroom export and mailroom forget (real Redis, the real CLI)', (backend) => {
  let redis: TestRedis;
  let env: Record<string, string>;
  let place: StorePlace;
  const mailroom = async (args: string[]) =>
    run(process.execPath, [BIN, '--config', EXAMPLE_CONFIG_FILE, ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, timeout: 120_000 });
  const failing = async (args: string[]) => mailroom(args).then(
    () => {
      throw new Error(`mailroom ${args.join(' ')} succeeded`);
    },
    (err: unknown) => z.object({ code: z.number(), stdout: z.string(), stderr: z.string() }).parse(err),
  );
  const exported = async () => (await mailroom(['export', '--since', '2020-01-01'])).stdout.trim().split('\n').filter(Boolean).map((l) => Exported.parse(JSON.parse(l)));

  beforeAll(async () => {
    redis = await startTestRedis();
    env = exampleEnv({ redis });
    place = await backend.place(env.MAILROOM_DATA_DIR);
    env = { ...env, ...place.env };
    await mailroom(['process', EXAMPLES, '--json']);
    // History in the store; content, run records and parked plans still in Redis.
    await mailroom(['archive', '--older-than', '0s']);
  }, 240_000);
  afterAll(async () => {
    await redis?.close();
  });

  it('exports every email once, from Redis and the store, as JSON lines or CSV; bad input is one clear line', async () => {
    const lines = await exported();
    expect(lines.length).toBe(45);
    expect(new Set(lines.map((l) => l.emailId)).size).toBe(45);
    expect(lines.filter((l) => l.state === 'awaiting_approval').length).toBeGreaterThan(0);
    expect(lines.every((l) => l.events.length > 0)).toBe(true);

    const csv = (await mailroom(['export', '--since', '2020-01-01', '--format', 'csv'])).stdout.split('\r\n').filter(Boolean);
    expect(csv[0]).toBe('email_id,created_at,updated_at,state,reason,category,mailbox,mode,source,sender,robot,tools,plan_id,labels,events');
    expect(csv.length).toBe(46);
    // Nothing since tomorrow's midnight would be in the future: a date to come is refused.
    expect((await mailroom(['export', '--since', new Date().toISOString().slice(0, 10)])).stdout.split('\n').filter(Boolean).length).toBeLessThanOrEqual(45);

    for (const [args, said] of [
      [['export', '--since', 'last tuesday'], /^mailroom: --since: "last tuesday" is not a date such as 2026-01-31 or 2026-01-31T08:00:00Z \[MAILROOM_CONFIG_INVALID\]\n$/],
      [['export', '--since', '2026-02-30'], /^mailroom: --since: "2026-02-30" is not a date/],
      [['export', '--since', '2999-01-01'], /^mailroom: --since: 2999-01-01 is in the future/],
      [['export', '--since', '2026-01-01', '--format', 'xml'], /^mailroom: --format: "xml" is not one of jsonl, csv/],
      [['forget', 'not-an-address', '--by', 'dpo'], /^mailroom: "not-an-address" is not an email address/],
    ] as const) {
      const r = await failing([...args]);
      expect(r.stderr).toMatch(said);
      expect(r.stderr.split('\n').filter(Boolean).length).toBe(1);
      expect(r.stdout).toBe('');
    }
    expect((await failing(['forget', LAURA])).stderr).toMatch(/--by/);
  });

  it('forgets a customer: nothing in Redis, the store file or the outbox names them after, the rest is untouched, and the erasure is logged without the address', async () => {
    const before = await exported();
    const c = createRedis(redis.url, 'forget-test');
    try {
      const prefix = env.MAILROOM_PREFIX ?? '';
      for (const a of [LAURA, KENJI]) expect(await everythingIn(c, prefix)).toContain(a);
      expect(await storeText(backend, env.MAILROOM_DATA_DIR ?? '', env)).toContain(LAURA);

      const laura = await mailroom(['forget', 'Laura.Chen@GreenPixel.example', '--by', 'dpo@acme']);
      expect(laura.stdout).toMatch(/^forgot 2 emails \(\d+ Redis keys, \d+ outbox files\) at \S+, by dpo@acme\n$/);
      const kenji = await mailroom(['forget', KENJI, '--by', 'dpo@acme']);
      expect(kenji.stdout).toMatch(/^forgot [1-9]\d* emails/);
      // Nobody is left to forget the second time.
      expect((await mailroom(['forget', LAURA, '--by', 'dpo@acme'])).stdout).toMatch(/^forgot 0 emails/);

      const everything = await everythingIn(c, prefix);
      const disk = await storeText(backend, env.MAILROOM_DATA_DIR ?? '', env);
      const outbox = path.join(env.MAILROOM_DATA_DIR ?? '', 'outbox');
      const outboxText = readdirSync(outbox).map((f) => readFileSync(path.join(outbox, f), 'latin1')).join('\n').toLowerCase();
      for (const a of [LAURA, KENJI]) {
        expect(everything).not.toContain(a);
        expect(disk).not.toContain(a);
        expect(outboxText).not.toContain(a);
      }
      // Their rate-limit windows went too, and the other customers' stayed.
      expect(everything).not.toContain('rate:domain:greenpixel.example');
      expect(everything).toContain('grace.liu@northpeak.example');

      const after = await exported();
      const gone = before.filter((e) => !after.some((a) => a.emailId === e.emailId));
      expect(gone.length).toBe(before.length - after.length);
      expect(gone.length).toBeGreaterThanOrEqual(3);
      for (const e of gone) expect((await failing(['audit', e.emailId])).stderr).toMatch(/no audit trail/);
      expect(JSON.parse((await mailroom(['audit', after[0]?.emailId ?? '', '--json'])).stdout)).toHaveProperty('events');
      const states = z.object({ total: z.number(), states: z.record(z.string(), z.number()) }).parse(JSON.parse((await mailroom(['status', '--json'])).stdout));
      expect(Object.values(states.states).reduce((a, b) => a + b, 0)).toBe(after.length);

      const store = await place.open();
      try {
        expect((await store.erasures()).map((e) => [e.by, e.emails])).toEqual([
          ['dpo@acme', 2],
          ['dpo@acme', gone.length - 2],
          ['dpo@acme', 0],
        ]);
      } finally {
        await store.close();
      }
    } finally {
      c.disconnect();
    }
  }, 120_000);
});
