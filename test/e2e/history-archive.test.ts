import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { z } from 'zod';
import { EXAMPLE_CONFIG_FILE, EXAMPLES } from '../fixtures/examples.js';
import { exampleEnv } from '../harness/example-config.js';
import { describeEachBackend } from '../harness/history-backends.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';
import { createRedis } from '../../src/queues/connection.js';

const run = promisify(execFile);
const BIN = path.resolve(import.meta.dirname, '../../bin/mailroom.js');

describeEachBackend('mailroom process examples/ && mailroom archive --older-than 0s (real Redis, the real CLI)', (backend) => {
  let redis: TestRedis;
  let env: Record<string, string>;
  const mailroom = async (args: string[]) => {
    const { stdout, stderr } = await run(process.execPath, [BIN, '--config', EXAMPLE_CONFIG_FILE, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      timeout: 120_000,
    });
    return { stdout, stderr };
  };
  beforeAll(async () => {
    redis = await startTestRedis();
    env = exampleEnv({ redis });
    env = { ...env, ...(await backend.place(env.MAILROOM_DATA_DIR)).env };
  });
  afterAll(async () => {
    await redis?.close();
  });

  it('leaves no per-email history key in Redis, and audit, report and status say what they said before', async () => {
    await mailroom(['process', EXAMPLES, '--json']);
    const status = async () => z.object({ states: z.record(z.string(), z.number()) }).passthrough().parse(JSON.parse((await mailroom(['status', '--json'])).stdout)).states;
    // The figures, without the window's ends (which move with the clock).
    const report = async () => z.object({ since: z.string(), until: z.string() }).passthrough().transform(({ since: _s, until: _u, ...figures }) => figures).parse(JSON.parse((await mailroom(['report', '--since', '1d', '--json'])).stdout));
    const ids = z.array(z.string()).parse(await keysOf('emails').then((c) => c.zrange(`${env.MAILROOM_PREFIX}:emails`, 0, -1).finally(() => c.disconnect())));
    // A sample of trails (a CLI run each): the first, the last and every seventh.
    const sample = ids.filter((_, i) => i % 7 === 0 || i === ids.length - 1);
    const before = { report: await report(), status: await status(), audits: await Promise.all(sample.map((id) => mailroom(['audit', id, '--json']).then((r) => r.stdout))) };

    const archived = await mailroom(['archive', '--older-than', '0s']);
    expect(archived.stdout).toMatch(/^archived \d+ emails; \d+ left in Redis/);

    const c = await keysOf('after');
    try {
      const left = await c.keys(`${env.MAILROOM_PREFIX}:*`);
      const waiting = ids.length - Number(/^archived (\d+)/.exec(archived.stdout)?.[1]);
      // Only emails awaiting a human keep their history in Redis.
      expect(left.filter((k) => /:(email|audit|labels):em_/.test(k)).length).toBeLessThanOrEqual(waiting * 3);
      for (const k of left.filter((k) => /:(email|audit|labels):em_/.test(k))) {
        const id = /em_[0-9a-f]{16}/.exec(k)?.[0] ?? '';
        expect(await c.hget(`${env.MAILROOM_PREFIX}:email:${id}`, 'state')).toBe('awaiting_approval');
      }
    } finally {
      c.disconnect();
    }
    expect(await report()).toEqual(before.report);
    expect(await status()).toEqual(before.status);
    expect(await Promise.all(sample.map((id) => mailroom(['audit', id, '--json']).then((r) => r.stdout)))).toEqual(before.audits);
    // The same mail again: every archived email is a duplicate (its id stays known, with a TTL), none is taken in twice.
    const again = z.object({ processed: z.number(), duplicates: z.number(), lost: z.number() }).passthrough().parse(JSON.parse((await mailroom(['process', EXAMPLES, '--json'])).stdout));
    expect(again).toMatchObject({ duplicates: again.processed, lost: 0 });
    const markers = await keysOf('markers');
    try {
      const archivedIds = await markers.keys(`${env.MAILROOM_PREFIX}:archived:*`);
      expect(archivedIds.length).toBe(Number(/^archived (\d+)/.exec(archived.stdout)?.[1]));
      for (const k of archivedIds.slice(0, 5)) expect(await markers.ttl(k)).toBeGreaterThan(80 * 86_400);
      // Nothing of theirs came back into Redis: no record, no trail reopened for a 'duplicate' line.
      for (const k of archivedIds) {
        const id = k.slice(k.lastIndexOf(':') + 1);
        expect(await markers.exists(`${env.MAILROOM_PREFIX}:email:${id}`, `${env.MAILROOM_PREFIX}:audit:${id}`)).toBe(0);
      }
    } finally {
      markers.disconnect();
    }
    expect(await report()).toEqual(before.report);
  }, 240_000);

  async function keysOf(name: string) {
    return createRedis(redis.url, name);
  }
});
