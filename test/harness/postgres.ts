/**
 * A private PostgreSQL cluster for tests: `initdb` into a temp dir, `pg_ctl start` on a free
 * loopback port with its socket in that dir, password logins only, stopped and removed by
 * `close()`. PostgreSQL refuses to run as root, so as root every server command runs as the
 * `postgres` system user (Debian's `postgresql` package creates it) with the temp dir given to it.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { freePort } from '../../src/queues/embedded-redis.js';

const execFileAsync = promisify(execFile);

const HOST = '127.0.0.1';
const USER = 'mailroom';
const START_TIMEOUT_S = 30;

export interface TestPostgres {
  /** `postgres://mailroom:<password>@127.0.0.1:<port>/mailroom`: the cluster's first database. */
  url: string;
  port: number;
  password: string;
  /** The temp dir holding the cluster (`data/`), its socket and its log. */
  dir: string;
  /** A new, empty database on the cluster, so tests sharing one cluster never see each other's rows; its URL. */
  createDatabase(): Promise<string>;
  /** Stops the server (fast shutdown) and removes the temp dir. */
  close(): Promise<void>;
}

/** The folder holding `initdb`, `pg_ctl` and `postgres`: Debian's newest major, else the PATH's. */
export function postgresBinDir(): string | null {
  const debian = (() => {
    try {
      return readdirSync('/usr/lib/postgresql')
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
        .map((v) => path.join('/usr/lib/postgresql', v, 'bin'));
    } catch {
      return [];
    }
  })();
  const onPath = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  for (const dir of [...debian, ...onPath]) {
    try {
      for (const bin of ['initdb', 'pg_ctl', 'postgres']) accessSync(path.join(dir, bin), constants.X_OK);
      return dir;
    } catch {
      // not here
    }
  }
  return null;
}

/** Why the PostgreSQL tests cannot run on this machine, or null when they can. */
export function whyNoPostgres(): string | null {
  if (!postgresBinDir()) return 'PostgreSQL is not installed (apt-get install postgresql: initdb, pg_ctl and postgres under /usr/lib/postgresql/*/bin)';
  if (process.getuid?.() === 0 && !systemUser()) return 'running as root, and there is no postgres system user to run the server as';
  return null;
}

/** Outside CI a machine without PostgreSQL skips with the reason; in CI the tests always run. */
export const POSTGRES_SKIP: string | null = process.env.CI ? null : whyNoPostgres();

/** The `postgres` user's uid and gid, from /etc/passwd. */
function systemUser(): { uid: number; gid: number } | null {
  try {
    const line = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('postgres:'));
    const [, , uid, gid] = line?.split(':') ?? [];
    return uid && gid ? { uid: Number(uid), gid: Number(gid) } : null;
  } catch {
    return null;
  }
}

/** Starts a private cluster on a free loopback port. Call `close()` when done. */
export async function startTestPostgres(): Promise<TestPostgres> {
  const bin = postgresBinDir();
  if (!bin) throw new Error(`startTestPostgres: ${whyNoPostgres() ?? 'no PostgreSQL'}`);
  const asUser = process.getuid?.() === 0 ? systemUser() : null;
  if (process.getuid?.() === 0 && !asUser) throw new Error('startTestPostgres: running as root and there is no postgres system user');
  // As root: setpriv runs the command itself as postgres (no session, no PAM, no shell in between).
  const run = (cmd: string, args: string[]) =>
    asUser
      ? execFileAsync('setpriv', [`--reuid=${asUser.uid}`, `--regid=${asUser.gid}`, '--init-groups', '--', path.join(bin, cmd), ...args], { cwd: '/' })
      : execFileAsync(path.join(bin, cmd), args, { cwd: '/' });

  const dir = await mkdtemp(path.join(os.tmpdir(), 'mailroom-postgres-'));
  const data = path.join(dir, 'data');
  const log = path.join(dir, 'postgres.log');
  const password = randomBytes(12).toString('hex');
  const port = await freePort();
  const logTail = async () => (await readFile(log, 'utf8').catch(() => '')).split('\n').slice(-15).join('\n');
  let started = false;
  const stop = async () => {
    if (!started) return;
    started = false;
    process.off('exit', killOnExit);
    await run('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', String(START_TIMEOUT_S), 'stop']);
  };
  // A test process that dies without close() must not leave a server behind; kill() is synchronous.
  const killOnExit = () => {
    try {
      const pid = Number(readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      if (pid > 0) process.kill(pid, 'SIGQUIT');
    } catch {
      // not running
    }
  };
  try {
    await writeFile(path.join(dir, 'pwfile'), `${password}\n`, { mode: 0o600 });
    if (asUser) {
      await chmod(dir, 0o700);
      await chown(dir, asUser.uid, asUser.gid);
      await chown(path.join(dir, 'pwfile'), asUser.uid, asUser.gid);
    }
    try {
      await run('initdb', ['-D', data, '-U', USER, `--pwfile=${path.join(dir, 'pwfile')}`, '-A', 'scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions']);
    } catch (err) {
      throw new Error(`initdb failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    // fsync off: a test cluster that a crash loses costs nothing, and 2 shared cores are slow enough.
    const options = `-k ${dir} -c listen_addresses=${HOST} -p ${port} -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
    process.on('exit', killOnExit);
    started = true;
    try {
      await run('pg_ctl', ['-D', data, '-l', log, '-w', '-t', String(START_TIMEOUT_S), '-o', options, 'start']);
    } catch (err) {
      throw new Error(`PostgreSQL did not start (${err instanceof Error ? err.message.trim() : String(err)}); log tail (${log}):\n${await logTail()}`, { cause: err });
    }
  } catch (err) {
    await stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const urlOf = (database: string) => `postgres://${USER}:${password}@${HOST}:${port}/${database}`;
  const admin = async <T>(fn: (c: Client) => Promise<T>): Promise<T> => {
    const c = new Client({ connectionString: urlOf('postgres') });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end();
    }
  };
  await admin((c) => c.query(`CREATE DATABASE ${USER}`));
  return {
    url: urlOf(USER),
    port,
    password,
    dir,
    async createDatabase() {
      const name = `t_${randomBytes(5).toString('hex')}`;
      await admin((c) => c.query(`CREATE DATABASE ${name}`));
      return urlOf(name);
    },
    async close() {
      try {
        await stop();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}
