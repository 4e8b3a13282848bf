/**
 * Mailroom roles as separate processes (`mailroom start --role …`), as an operator runs them on
 * several hosts: each one a child we can SIGKILL, restart or stop with SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');

export interface RoleProcess {
  readonly name: string;
  readonly roles: string;
  /** The current child's pid (undefined while stopped). */
  readonly pid: number | undefined;
  /** The last lines the process wrote to stderr (its logs at the configured level). */
  readonly stderrTail: string;
  start(): void;
  /** SIGKILL: no drain, no goodbye; its active jobs stay locked until BullMQ sees them stalled. */
  kill(): Promise<void>;
  /** SIGTERM and wait for the exit status (0 after a clean stop). */
  stop(): Promise<number | null>;
  /** Resolves when the current child exits. */
  exited(): Promise<number | null>;
}

/** Starts `mailroom start --role <roles>` with `env` (PATH and HOME are passed through). */
export function startRole(name: string, roles: string, env: Record<string, string>): RoleProcess {
  let child: ChildProcess | null = null;
  let tail = '';
  const killOnExit = () => child?.kill('SIGKILL');
  process.on('exit', killOnExit);
  const exited = (c: ChildProcess | null) =>
    new Promise<number | null>((resolve) => {
      if (!c || c.exitCode !== null || c.signalCode !== null) resolve(c?.exitCode ?? null);
      else c.once('exit', (code) => resolve(code));
    });
  const handle: RoleProcess = {
    name,
    roles,
    get pid() {
      return child?.pid;
    },
    get stderrTail() {
      return tail;
    },
    start() {
      const c = spawn(process.execPath, [path.join(ROOT, 'bin/mailroom.js'), 'start', '--role', roles], {
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', MAILROOM_LOG_LEVEL: 'warn', ...env },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      c.stderr?.setEncoding('utf8');
      c.stderr?.on('data', (d: string) => {
        tail = (tail + d).slice(-4000);
      });
      c.once('exit', () => {
        if (child === c) child = null;
      });
      child = c;
    },
    async kill() {
      const c = child;
      c?.kill('SIGKILL');
      await exited(c);
    },
    async stop() {
      const c = child;
      c?.kill('SIGTERM');
      const code = await exited(c);
      process.removeListener('exit', killOnExit);
      return code;
    },
    exited: () => exited(child),
  };
  handle.start();
  return handle;
}
