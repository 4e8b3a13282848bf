import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { createContext } from '../src/app/context.js';
import { type AppContext } from '../src/services/services.js';
import { createLogger } from '../src/kernel/logger.js';
import { isProcessAlive } from '../src/kernel/process-alive.js';

/** Whether anything accepts a TCP connection on the loopback port. */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('createContext releases everything it opened, on close() even when one part fails and on a start that fails', () => {
  const dirs: string[] = [];
  const pids: number[] = [];
  afterEach(() => {
    // On the code this replaces the server outlived close(): do not leave it behind.
    for (const pid of pids.splice(0)) if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** A context on its own embedded redis-server (no REDIS_URL), and that server's pid and port. */
  async function contextWithEmbeddedRedis(): Promise<{ app: AppContext; pid: number; port: number }> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-close-'));
    dirs.push(dir);
    const config = loadConfig({ env: { MAILROOM_DATA_DIR: dir, MAILROOM_PREFIX: '{close}' }, cwd: dir });
    const app = await createContext(config, createLogger({ level: 'silent' }));
    const embedded = app.embeddedRedis;
    if (!embedded) throw new Error('expected an embedded redis-server');
    const pid = Number(readFileSync(path.join(embedded.dir, 'mailroom-redis.pid'), 'utf8'));
    pids.push(pid);
    expect(isProcessAlive(pid)).toBe(true);
    expect(await answers(embedded.port)).toBe(true);
    return { app, pid, port: embedded.port };
  }

  it('a mailer that throws on close (the first part) still leaves no redis-server running, and its error comes out', async () => {
    const { app, pid, port } = await contextWithEmbeddedRedis();
    const failure = new Error('mailer close failed');
    app.mailer.close = () => {
      throw failure;
    };
    await expect(app.close()).rejects.toBe(failure);
    expect(isProcessAlive(pid)).toBe(false);
    expect(await answers(port)).toBe(false);
    expect(app.redis.status).toBe('end');
  });

  it('two failing parts: all others are still released, and both errors come out together', async () => {
    const { app, pid, port } = await contextWithEmbeddedRedis();
    app.mailer.close = () => {
      throw new Error('mailer close failed');
    };
    app.queues.close = () => Promise.reject(new Error('queues close failed'));
    const caught = await app.close().then(
      () => null,
      (err: unknown) => err,
    );
    expect(caught).toBeInstanceOf(AggregateError);
    expect(caught instanceof AggregateError ? caught.errors.map((e: Error) => e.message) : []).toEqual(['mailer close failed', 'queues close failed']);
    expect(isProcessAlive(pid)).toBe(false);
    expect(await answers(port)).toBe(false);
  });

  it('a second close() waits for the first instead of closing twice', async () => {
    const { app, pid } = await contextWithEmbeddedRedis();
    const first = app.close();
    expect(app.close()).toBe(first);
    await first;
    expect(isProcessAlive(pid)).toBe(false);
  });

  it('a step that fails after the embedded redis-server started (here the audit wrapper) stops that server, and its error comes out', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-start-'));
    dirs.push(dir);
    const config = loadConfig({ env: { MAILROOM_DATA_DIR: dir, MAILROOM_PREFIX: '{start}' }, cwd: dir });
    const failure = new Error('audit wrapper failed');
    let seen: { pid: number; alive: boolean } | null = null;
    const started = createContext(config, createLogger({ level: 'silent' }), {
      observeAudit: () => {
        // By now the server runs and both connections are open.
        const pid = Number(readFileSync(path.join(dir, 'redis', 'mailroom-redis.pid'), 'utf8'));
        pids.push(pid);
        seen = { pid, alive: isProcessAlive(pid) };
        throw failure;
      },
    });
    await expect(started).rejects.toBe(failure);
    expect(seen).toMatchObject({ alive: true });
    const { pid } = seen ?? { pid: 0 };
    expect(isProcessAlive(pid)).toBe(false);
  });
});
