import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE_CONFIG_FILE, EXAMPLES } from '../fixtures/examples.js';
import { exampleEnv } from '../harness/example-config.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';

const run = promisify(execFile);
const BIN = path.resolve(import.meta.dirname, '../../bin/mailroom.js');

describe('mailroom archive without --older-than (real Redis, the real CLI)', () => {
  let redis: TestRedis;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-archive-default-'));
  const mail = path.join(dir, 'mail');
  beforeAll(async () => {
    redis = await startTestRedis();
    mkdirSync(mail);
    // Three customer emails that rest at once (the first files of the examples).
    for (const f of readdirSync(path.join(EXAMPLES, 'mailbox')).sort().slice(0, 3)) copyFileSync(path.join(EXAMPLES, 'mailbox', f), path.join(mail, f));
  });
  afterAll(async () => {
    await redis?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The example config with `retention.archiveAfter` set (or not), its own prefix and data dir. */
  async function mailroomWith(archiveAfter: string | undefined) {
    const config = JSON.parse(readFileSync(EXAMPLE_CONFIG_FILE, 'utf8')) as Record<string, unknown> & { smtp?: unknown };
    const file = path.join(dir, `config-${archiveAfter ?? 'unset'}.json`);
    // The examples' config names its accounts and KB relative to itself: here, absolute.
    const accounts = { accountsFile: path.join(EXAMPLES, 'accounts.json'), kbDir: path.join(EXAMPLES, 'kb') };
    // No SMTP server: replies go to the outbox folder, so the emails rest at once.
    const { smtp: _smtp, ...rest } = config;
    writeFileSync(file, JSON.stringify({ ...rest, ...accounts, retention: archiveAfter ? { archiveAfter } : {} }));
    const env = exampleEnv({ redis });
    return async (args: string[]) =>
      (await run(process.execPath, [BIN, '--config', file, ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, timeout: 120_000 })).stdout;
  }

  it("takes the config's retention.archiveAfter, as the daemon's sweep does", async () => {
    const now = await mailroomWith('0s');
    await now(['process', mail, '--json']);
    expect(await now(['archive'])).toMatch(/^archived 3 emails; 0 left in Redis/);

    // Unset: 14d, so nothing that rested a moment ago moves.
    const later = await mailroomWith(undefined);
    await later(['process', mail, '--json']);
    expect(await later(['archive'])).toMatch(/^archived 0 emails;/);
    // They are at rest all the same: told to, the command takes them.
    expect(await later(['archive', '--older-than', '0s'])).toMatch(/^archived 3 emails; 0 left in Redis/);
  }, 120_000);
});
