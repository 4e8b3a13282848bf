import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { isProcessAlive, processIdentity } from '../../src/kernel/process-alive.js';
import { ADDRESS_FILE, findRedisServer, freePort, startEmbeddedRedis, type EmbeddedRedis } from '../../src/queues/embedded-redis.js';
import { waitFor } from '../harness/mail.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** A pid that was a process a moment ago and is none now. */
function deadPid(): number {
  const done = spawnSync('true');
  return done.pid;
}

describe('the embedded redis-server and the Mailroom that started it', () => {
  const dirs: string[] = [];
  const servers: EmbeddedRedis[] = [];
  const pids: number[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
    for (const pid of pids.splice(0)) if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const tempDir = () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-embedded-'));
    dirs.push(dir);
    return dir;
  };

  /**
   * A redis-server in `dir` as a killed Mailroom leaves it when its watch helper died too (an
   * older version, or `kill -9` of the whole process group): alive, with pid and address files
   * naming `owner`, holding `key`.
   */
  async function orphan(dir: string, owner: { pid: number; mark: string; started?: string } | undefined, key: string) {
    const port = await freePort();
    const bin = findRedisServer() ?? 'redis-server';
    const child = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always'], { stdio: 'ignore', detached: true });
    child.unref();
    const pid = child.pid ?? 0;
    pids.push(pid);
    const client = await waitFor('the orphan to listen', async () => {
      const c = new Redis({ port, lazyConnect: true, retryStrategy: () => null });
      c.on('error', () => undefined);
      return c.connect().then(() => c, () => undefined);
    }, 10_000, 50);
    await client.set(key, 'kept');
    client.disconnect();
    writeFileSync(path.join(dir, 'mailroom-redis.pid'), String(pid));
    writeFileSync(path.join(dir, ADDRESS_FILE), JSON.stringify({ pid, port, ...(owner ? { owner } : {}) }));
    return pid;
  }

  it('replaces a server whose owner is dead: shut down with its data saved, which the new server has', async () => {
    const dir = tempDir();
    const old = await orphan(dir, { pid: deadPid(), mark: 'gone' }, 'order:1');
    const redis = await startEmbeddedRedis({ dir });
    servers.push(redis);
    expect(redis.replacedOrphan).toEqual({ pid: old, owner: expect.any(Number) });
    expect(isProcessAlive(old)).toBe(false);
    const client = new Redis(redis.url);
    expect(await client.get('order:1')).toBe('kept');
    client.disconnect();
  });

  it('replaces one from a version that recorded no owner when nobody is connected to it', async () => {
    const dir = tempDir();
    const old = await orphan(dir, undefined, 'order:2');
    const redis = await startEmbeddedRedis({ dir });
    servers.push(redis);
    expect(redis.replacedOrphan?.pid).toBe(old);
    const client = new Redis(redis.url);
    expect(await client.get('order:2')).toBe('kept');
    client.disconnect();
  });

  it('refuses while the Mailroom that owns the server runs, and says which one', async () => {
    const dir = tempDir();
    const owner = spawn('sleep', ['60'], { stdio: 'ignore' });
    pids.push(owner.pid ?? 0);
    const old = await orphan(dir, { pid: owner.pid ?? 0, mark: 'alive', started: processIdentity(owner.pid ?? 0) ?? '' }, 'order:3');
    await expect(startEmbeddedRedis({ dir })).rejects.toThrow(`another Mailroom's embedded redis-server (pid ${old}) (started by Mailroom pid ${owner.pid}, still running) is using ${dir}`);
    expect(isProcessAlive(old)).toBe(true);
  });

  it('replaces one whose owner pid now names another program (the pid reused after a crash or a reboot)', async () => {
    const dir = tempDir();
    const other = spawn('sleep', ['60'], { stdio: 'ignore' });
    pids.push(other.pid ?? 0);
    const old = await orphan(dir, { pid: other.pid ?? 0, mark: 'gone', started: 'an-earlier-boot:12345' }, 'order:5');
    const redis = await startEmbeddedRedis({ dir });
    servers.push(redis);
    expect(redis.replacedOrphan).toEqual({ pid: old, owner: other.pid });
    expect(isProcessAlive(other.pid ?? 0)).toBe(true);
    const client = new Redis(redis.url);
    expect(await client.get('order:5')).toBe('kept');
    client.disconnect();
  });

  it('refuses a second start in the same folder from the same process', async () => {
    const dir = tempDir();
    servers.push(await startEmbeddedRedis({ dir, persistent: false }));
    await expect(startEmbeddedRedis({ dir, persistent: false })).rejects.toThrow('is using');
  });

  it('stops when its owner is killed with SIGKILL (no close(), no exit handler)', { timeout: 30_000 }, async () => {
    const dir = tempDir();
    const script = `import { startEmbeddedRedis } from ${JSON.stringify(path.join(ROOT, 'src/queues/embedded-redis.ts'))};
const r = await startEmbeddedRedis({ dir: ${JSON.stringify(dir)} });
process.stdout.write(String(r.pid) + '\\n');
setInterval(() => {}, 1000);`;
    const owner = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    pids.push(owner.pid ?? 0);
    let out = '';
    owner.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const pid = await waitFor('the owner to start its server', async () => (/^(\d+)\n/.exec(out) ? Number(/^(\d+)/.exec(out)?.[1]) : undefined), 20_000, 50);
    pids.push(pid);
    expect(isProcessAlive(pid)).toBe(true);
    owner.kill('SIGKILL');
    await waitFor('the server to stop after its owner', async () => (isProcessAlive(pid) ? undefined : true), 10_000, 50);
    // The next start in the folder needs no manual step.
    const next = await startEmbeddedRedis({ dir });
    servers.push(next);
    expect(next.replacedOrphan).toBeNull();
  });
});
