import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { MailroomError } from '../errors.js';

const INSTALL_HINT =
  'redis-server was not found on PATH. Install it (Debian/Ubuntu: `sudo apt-get install redis-server`, ' +
  'macOS: `brew install redis`) or point Mailroom at a running Redis with REDIS_URL=redis://HOST:6379.';

/** A private redis-server child process, used when no REDIS_URL is configured. */
export interface EmbeddedRedis {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  close(): Promise<void>;
}

export function findRedisServer(envPath = process.env.PATH ?? ''): string | undefined {
  const dirs = [...envPath.split(path.delimiter), '/usr/bin', '/usr/sbin', '/usr/local/bin', '/opt/homebrew/bin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = path.join(dir, 'redis-server');
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect(port, '127.0.0.1');
      sock.once('connect', () => {
        sock.end();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`redis-server did not listen on port ${port} within ${timeoutMs} ms`);
}

/** The file in the embedded Redis's folder that says where it listens: `{ "pid": …, "port": … }`. */
export const ADDRESS_FILE = 'mailroom-redis.addr';

/**
 * The URL of an embedded redis-server that another Mailroom process (a running daemon) started in
 * `dir`, if it is still alive; null otherwise. Lets `mailroom pending|approve|status` run from a
 * second shell against the daemon's Redis instead of failing on its lock.
 */
export function findRunningEmbeddedRedis(dir: string): string | null {
  const file = path.join(path.resolve(dir), ADDRESS_FILE);
  if (!existsSync(file)) return null;
  try {
    const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (!parsed || typeof parsed !== 'object' || !('pid' in parsed) || !('port' in parsed)) return null;
    const { pid, port } = parsed;
    if (typeof pid !== 'number' || typeof port !== 'number' || !Number.isInteger(port) || port <= 0 || port > 65535) return null;
    return isAlive(pid) ? `redis://127.0.0.1:${port}` : null;
  } catch {
    return null;
  }
}

/**
 * Starts a private redis-server bound to loopback on a free port, with AOF persistence under
 * `dir`. `close()` shuts it down (the AOF keeps the data for the next start).
 */
export async function startEmbeddedRedis(options: { dir: string; persistent?: boolean }): Promise<EmbeddedRedis> {
  const bin = findRedisServer();
  if (!bin) throw new MailroomError('REDIS_NOT_INSTALLED', INSTALL_HINT);
  const dir = path.resolve(options.dir);
  mkdirSync(dir, { recursive: true });
  const pidFile = path.join(dir, 'mailroom-redis.pid');
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
      throw new MailroomError(
        'REDIS_UNREACHABLE',
        `another Mailroom's embedded redis-server (pid ${pid}) is using ${dir}; stop it or set MAILROOM_DATA_DIR`,
      );
    }
    rmSync(pidFile, { force: true });
  }
  const port = await freePort();
  const persistent = options.persistent ?? true;
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--daemonize', 'no',
    '--save', '',
    '--appendonly', persistent ? 'yes' : 'no',
    '--appendfsync', 'everysec',
    '--logfile', path.join(dir, 'redis.log'),
  ];
  const child = spawn(bin, args, { stdio: 'ignore', detached: false });
  const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
  try {
    await Promise.race([waitForPort(port, child, 10_000), spawnError]);
  } catch (err) {
    child.kill('SIGKILL');
    throw new MailroomError('REDIS_UNREACHABLE', `embedded redis-server failed to start: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (child.pid) writeFileSync(pidFile, String(child.pid));
  // Where a second shell's CLI finds this server (see findRunningEmbeddedRedis).
  const addrFile = path.join(dir, ADDRESS_FILE);
  if (child.pid) writeFileSync(addrFile, JSON.stringify({ pid: child.pid, port }));
  // If this process dies without close(), do not leave an orphan redis-server behind.
  const onExit = () => child.kill('SIGTERM');
  process.once('exit', onExit);
  let closed: Promise<void> | undefined;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    close() {
      closed ??= new Promise<void>((resolve) => {
        process.removeListener('exit', onExit);
        if (child.exitCode !== null) {
          rmSync(pidFile, { force: true });
          rmSync(addrFile, { force: true });
          resolve();
          return;
        }
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        child.once('exit', () => {
          clearTimeout(timer);
          rmSync(pidFile, { force: true });
          rmSync(addrFile, { force: true });
          resolve();
        });
        child.kill('SIGTERM');
      });
      return closed;
    },
  };
}
