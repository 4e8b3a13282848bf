import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { startDaemon } from '../../src/daemon/daemon.js';
import type * as ArchiveSweep from '../../src/history/archive-sweep.js';
import { createLogger } from '../../src/kernel/logger.js';
import { isProcessAlive } from '../../src/kernel/process-alive.js';

// The fault: the executor role's archive sweep fails to start, after the context (and its
// embedded redis-server) and the queue workers already run. Nothing else in the daemon is faked.
const failure = new Error('archive sweep failed to start');
const seen: { pid: number; alive: boolean }[] = [];
vi.mock('../../src/history/archive-sweep.js', async (importOriginal) => ({
  ...(await importOriginal<typeof ArchiveSweep>()),
  startArchiveSweep: () => {
    const dir = process.env.START_LEAKS_DIR ?? '';
    const pid = Number(readFileSync(path.join(dir, 'redis', 'mailroom-redis.pid'), 'utf8'));
    seen.push({ pid, alive: isProcessAlive(pid) });
    throw failure;
  },
}));

describe('a daemon whose start fails part-way', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-start-leaks-'));
  afterAll(() => {
    for (const { pid } of seen) if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('releases the workers and the context that already started (no redis-server left), and reports the start error', async () => {
    process.env.START_LEAKS_DIR = dir;
    const config = loadConfig({ env: { MAILROOM_DATA_DIR: dir, MAILROOM_PREFIX: '{leaks}' }, cwd: dir });
    await expect(startDaemon(config, createLogger({ level: 'silent' }), { roles: ['triage', 'planner', 'executor'] })).rejects.toBe(failure);
    expect(seen).toHaveLength(1);
    const [{ pid, alive: wasAlive }] = seen as [{ pid: number; alive: boolean }];
    expect(wasAlive).toBe(true);
    expect(isProcessAlive(pid)).toBe(false);
  });
});
