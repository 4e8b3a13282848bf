import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Redis as SingleRedis } from 'ioredis';
import { z } from 'zod';
import { MailroomError } from '../kernel/errors.js';
import { isProcessAlive, isSameProcessAlive, processIdentity } from '../kernel/process-alive.js';

const INSTALL_HINT =
  'redis-server was not found on PATH. Install it (Debian/Ubuntu: `sudo apt-get install redis-server`, ' +
  'macOS: `brew install redis`) or point Mailroom at a running Redis with REDIS_URL=redis://HOST:6379.';

/** A private redis-server child process, used when no REDIS_URL is configured. */
export interface EmbeddedRedis {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** The redis-server's own pid (its parent is the watch helper, see {@link WATCH_SCRIPT}). */
  readonly pid: number;
  /** A server a Mailroom that is no longer running left in `dir`, stopped (data saved) before this one started. */
  readonly replacedOrphan: { pid: number; owner: number | null } | null;
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


/** The file in the embedded Redis's folder that says where it listens, and which process owns it. */
export const ADDRESS_FILE = 'mailroom-redis.addr';
/** The redis-server's pid, for tools and tests that look for it. */
const PID_FILE = 'mailroom-redis.pid';

/**
 * The address file: the server's pid and port, and the Mailroom process that started it (its pid,
 * a random mark of that process, since a restarted container often gets the same pid, and its
 * `processIdentity`, since after a crash or a reboot another program may have that pid).
 * Files from before `owner` existed have none.
 */
export const EmbeddedRedisAddress = z.object({
  pid: z.number().int().positive(),
  port: z.number().int().min(1).max(65535),
  owner: z.object({ pid: z.number().int().positive(), mark: z.string(), started: z.string().optional() }).optional(),
});
export type EmbeddedRedisAddress = z.infer<typeof EmbeddedRedisAddress>;

/** This process's mark in the address files it writes. */
const PROCESS_MARK = randomBytes(8).toString('hex');
const STARTED = processIdentity(process.pid);

function readAddress(dir: string): EmbeddedRedisAddress | null {
  try {
    const parsed = EmbeddedRedisAddress.safeParse(JSON.parse(readFileSync(path.join(dir, ADDRESS_FILE), 'utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/**
 * The URL of an embedded redis-server that another Mailroom process (a running daemon) started in
 * `dir`, if it is still alive; null otherwise. Lets `mailroom pending|approve|status|report` run from a
 * second shell against the daemon's Redis instead of failing on its lock.
 */
export function findRunningEmbeddedRedis(dir: string): string | null {
  const address = readAddress(path.resolve(dir));
  return address && isProcessAlive(address.pid) ? `redis://127.0.0.1:${address.port}` : null;
}

/**
 * Runs redis-server under a watch that stops it when Mailroom goes, however Mailroom goes
 * (`kill -9` and OOM kills included): the shell reads the pipe Mailroom holds open, and end of
 * file (the last writer, Mailroom, closed or died; the kernel closes a dead process's files)
 * sends the server SIGTERM, on which Redis saves (AOF fsync) and exits. Linux's PR_SET_PDEATHSIG
 * would need native code, and `setpriv --pdeathsig` is Linux-only; a POSIX shell is everywhere
 * redis-server is. `close()` uses the same path: it closes the pipe.
 */
const WATCH_SCRIPT = [
  'exec 3<&0',
  '"$@" </dev/null &',
  'r=$!',
  '{ read -r line <&3; kill -TERM "$r" 2>/dev/null; } &',
  'w=$!',
  'wait "$r"',
  's=$?',
  'kill "$w" 2>/dev/null',
  'exit "$s"',
].join('\n');

/** A one-off connection to a local Redis port that gives up at once instead of reconnecting. */
async function probe<T>(port: number, use: (redis: SingleRedis) => Promise<T>): Promise<T | null> {
  const redis = new SingleRedis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    connectTimeout: 1_000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    connectionName: 'mailroom:embedded-probe',
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return await use(redis);
  } catch {
    return null;
  } finally {
    redis.disconnect();
  }
}

/** The pid and data folder of the Redis listening on `port`, and how many clients it has (this probe included). */
async function identify(port: number): Promise<{ pid: number; dir: string; clients: number } | null> {
  return probe(port, async (redis) => {
    const info = await redis.info();
    const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? NaN);
    const dirReply = await redis.config('GET', 'dir');
    const dir = Array.isArray(dirReply) && typeof dirReply[1] === 'string' ? dirReply[1] : '';
    return { pid: field('process_id'), dir: path.resolve(dir), clients: field('connected_clients') };
  });
}

/** Whether `pid` is a redis-server; where /proc does not exist to tell, assumed so. */
function isRedisServer(pid: number): boolean {
  const proc = `/proc/${pid}/cmdline`;
  if (!existsSync('/proc/self')) return true;
  try {
    return readFileSync(proc, 'utf8').includes('redis-server');
  } catch {
    return false;
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isProcessAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

/** Whether the owner recorded for a server is still running (not this very process's earlier life). */
function ownerRunning(owner: EmbeddedRedisAddress['owner']): boolean {
  if (!owner) return false;
  if (owner.pid === process.pid) return owner.mark === PROCESS_MARK;
  return isSameProcessAlive(owner.pid, owner.started);
}

/**
 * A redis-server already running in `dir`: refused while the Mailroom that started it runs;
 * stopped with SHUTDOWN (Redis writes its AOF and exits; no data is lost) when its owner is gone.
 * Stopping is safer than adopting: an adopted server is nobody's child, so nothing would stop it
 * when we go, and it keeps the dead process's port and settings. Returns what was stopped.
 */
async function retireOrphan(dir: string, pid: number): Promise<{ pid: number; owner: number | null } | null> {
  if (!isRedisServer(pid)) return null; // a stale pid file, its pid since reused
  const address = readAddress(dir);
  const known = address?.pid === pid ? address : null;
  const seen = known ? await identify(known.port) : null;
  const ours = known !== null && seen !== null && seen.pid === pid && seen.dir === dir;
  // Files from before the owner was recorded: a server that still has clients has an owner.
  const owned = known?.owner ? ownerRunning(known.owner) : !ours || (seen?.clients ?? 0) > 1;
  if (owned) {
    const who = known?.owner ? ` (started by Mailroom pid ${known.owner.pid}, still running)` : '';
    throw new MailroomError(
      'REDIS_UNREACHABLE',
      `another Mailroom's embedded redis-server (pid ${pid})${who} is using ${dir}; stop that Mailroom, or set MAILROOM_DATA_DIR to another folder`,
    );
  }
  if (ours && known) await probe(known.port, (redis) => redis.call('SHUTDOWN').catch(() => undefined));
  else process.kill(pid, 'SIGTERM');
  if (!(await waitForExit(pid, 15_000))) {
    throw new MailroomError(
      'REDIS_UNREACHABLE',
      `the embedded redis-server (pid ${pid}) that a stopped Mailroom left in ${dir} did not shut down within 15 s; stop it (kill ${pid}) and start again`,
    );
  }
  return { pid, owner: known?.owner?.pid ?? null };
}

/**
 * Starts a private redis-server bound to loopback on a free port, with AOF persistence under
 * `dir`, that stops when this process does (see {@link WATCH_SCRIPT}). A server left in `dir` by a
 * Mailroom that is no longer running is shut down first (its data saved, then loaded by the new
 * one). `close()` shuts it down (the AOF keeps the data for the next start).
 */
export async function startEmbeddedRedis(options: { dir: string; persistent?: boolean }): Promise<EmbeddedRedis> {
  const bin = findRedisServer();
  if (!bin) throw new MailroomError('REDIS_NOT_INSTALLED', INSTALL_HINT);
  const dir = path.resolve(options.dir);
  mkdirSync(dir, { recursive: true });
  const pidFile = path.join(dir, PID_FILE);
  const addrFile = path.join(dir, ADDRESS_FILE);
  let replacedOrphan: EmbeddedRedis['replacedOrphan'] = null;
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && isProcessAlive(pid)) replacedOrphan = await retireOrphan(dir, pid);
    rmSync(pidFile, { force: true });
    rmSync(addrFile, { force: true });
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
  // Its own process group: a terminal's Ctrl-C reaches Mailroom, which drains and stops Redis
  // last, instead of Redis going away under jobs still finishing.
  const child = spawn('/bin/sh', ['-c', WATCH_SCRIPT, 'mailroom-redis-watch', bin, ...args], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  child.stdin?.on('error', () => undefined);
  const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
  let pid = 0;
  try {
    await Promise.race([waitForPort(port, child, 10_000), spawnError]);
    const seen = await identify(port);
    if (!seen || !Number.isInteger(seen.pid) || seen.dir !== dir) throw new Error(`the server on port ${port} is not the one started in ${dir}`);
    pid = seen.pid;
  } catch (err) {
    child.stdin?.destroy();
    child.kill('SIGKILL');
    throw new MailroomError('REDIS_UNREACHABLE', `embedded redis-server failed to start: ${(err as Error).message}`, {
      cause: err,
    });
  }
  writeFileSync(pidFile, String(pid));
  // Where a second shell's CLI finds this server (see findRunningEmbeddedRedis), and who owns it.
  writeFileSync(addrFile, JSON.stringify({ pid, port, owner: { pid: process.pid, mark: PROCESS_MARK, ...(STARTED ? { started: STARTED } : {}) } } satisfies EmbeddedRedisAddress));
  // A process.exit() without close(): stop the server now rather than when the pipe closes.
  const onExit = () => {
    if (isProcessAlive(pid)) process.kill(pid, 'SIGTERM');
  };
  process.once('exit', onExit);
  let closed: Promise<void> | undefined;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    pid,
    replacedOrphan,
    close() {
      closed ??= new Promise<void>((resolve) => {
        process.removeListener('exit', onExit);
        const done = () => {
          // Another process may have replaced a server we lost; its files are not ours to remove.
          if (readAddress(dir)?.owner?.mark === PROCESS_MARK) {
            rmSync(pidFile, { force: true });
            rmSync(addrFile, { force: true });
          }
          resolve();
        };
        if (child.exitCode !== null || child.signalCode !== null) return done();
        const timer = setTimeout(() => {
          if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
          child.kill('SIGKILL');
        }, 5_000);
        child.once('exit', () => {
          clearTimeout(timer);
          done();
        });
        // End of file on the watch's pipe: the helper sends SIGTERM (see WATCH_SCRIPT).
        child.stdin?.end();
      });
      return closed;
    },
  };
}
