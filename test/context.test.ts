import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { createContext } from '../src/app/context.js';
import { type AppContext } from '../src/services/services.js';
import { createLogger } from '../src/kernel/logger.js';

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

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("createContext's close() releases everything even when one part fails", () => {
  const dirs: string[] = [];
  const pids: number[] = [];
  afterEach(() => {
    // On the code this replaces the server outlived close(): do not leave it behind.
    for (const pid of pids.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
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
    expect(alive(pid)).toBe(true);
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
    expect(alive(pid)).toBe(false);
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
    expect(alive(pid)).toBe(false);
    expect(await answers(port)).toBe(false);
  });

  it('a second close() waits for the first instead of closing twice', async () => {
    const { app, pid } = await contextWithEmbeddedRedis();
    const first = app.close();
    expect(app.close()).toBe(first);
    await first;
    expect(alive(pid)).toBe(false);
  });
});
