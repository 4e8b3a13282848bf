import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { z } from 'zod';
import { startDaemon } from '../../src/daemon/daemon.js';
import { TERMINAL_STATES } from '../../src/audit/email-ledger.js';
import { submitEmail } from '../../src/ingest/submit.js';
import { createLogger } from '../../src/kernel/logger.js';
import { EXAMPLE_CONFIG_FILE, EXAMPLES } from '../fixtures/examples.js';
import { exampleConfig, exampleEnv } from '../harness/example-config.js';
import { describeEachBackend } from '../harness/history-backends.js';
import { waitFor } from '../harness/mail.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';

const run = promisify(execFile);
const BIN = path.resolve(import.meta.dirname, '../../bin/mailroom.js');

describeEachBackend("the daemon's archive sweep (real Redis, the real CLI)", (backend) => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startTestRedis();
  });
  afterAll(async () => {
    await redis?.close();
  });

  it('moves an email that came to rest out of Redis on its own, and `mailroom audit` still prints its trail', async () => {
    const base = exampleEnv({ redis });
    const env = { ...base, ...(await backend.place(base.MAILROOM_DATA_DIR)).env };
    const config = exampleConfig({ redis, env, overrides: { retention: { historySeconds: 400 * 86_400, archiveAfterSeconds: 0 } } });
    const daemon = await startDaemon(config, createLogger({ level: 'silent' }), { roles: ['triage', 'planner', 'executor'], archiveEveryMs: 100 });
    let emailId: string | undefined;
    try {
      const file = path.join(EXAMPLES, 'mailbox', '01-invoice-copy-request.eml');
      const { emailId: id } = await submitEmail(daemon.app, readFileSync(file), { kind: 'file', path: file });
      emailId = id;
      const { keys, redis: r, history } = daemon.app;
      // It rests, then the sweep takes its record, trail and labels out of Redis.
      await waitFor('archived', async () => ((await history.get(id)) !== null && (await r.exists(keys.email(id))) === 0 ? true : undefined), 30_000);
      expect(await r.exists(keys.audit(id), keys.labels(id))).toBe(0);
      expect(await r.zscore(keys.emailsByTime(), id)).toBeNull();
    } finally {
      await daemon.close();
    }
    // What a user sees, from another process: the same trail, now read from the store.
    const { stdout } = await run(process.execPath, [BIN, '--config', EXAMPLE_CONFIG_FILE, 'audit', String(emailId), '--json'], { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env } });
    const audit = z.object({ record: z.object({ state: z.string() }), events: z.array(z.object({ type: z.string() })) }).parse(JSON.parse(stdout));
    expect(TERMINAL_STATES).toContain(audit.record.state);
    expect(audit.events[0]?.type).toBe('ingested');
    expect(audit.events.map((e) => e.type)).toContain(audit.record.state);
  }, 60_000);
});
