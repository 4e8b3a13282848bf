/**
 * A real Redis Cluster for tests: three `redis-server --cluster-enabled yes` on free loopback
 * ports, joined with `redis-cli --cluster create … --cluster-replicas 0` (answering `yes`), and a
 * plain restartable redis-server with AOF for chaos runs. Each server lives in its own temp dir;
 * `close()` stops them and removes it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort } from '../../src/queues/embedded-redis.js';

/** One redis-server child that can be stopped (gracefully or by SIGKILL) and started again on the same port and dir. */
export interface RedisProcess {
  readonly port: number;
  readonly dir: string;
  readonly url: string;
  start(): Promise<void>;
  /** SIGTERM (Redis writes its AOF and exits) or SIGKILL (a crash); resolves once the port is closed. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  close(): Promise<void>;
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.once('connect', () => {
      sock.end();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * A redis-server on a free loopback port with AOF on (`appendfsync` as given), which a test may
 * stop and start again: the data survives in `dir`.
 */
export async function startRedisProcess(
  options: {
    extraArgs?: string[];
    appendfsync?: 'always' | 'everysec';
    dir?: string;
    /** Serve TLS only (no plain port), with this certificate and key (PEM files). */
    tls?: { cert: string; key: string };
  } = {},
): Promise<RedisProcess> {
  const port = await freePort();
  const dir = options.dir ?? mkdtempSync(path.join(os.tmpdir(), 'mailroom-redisp-'));
  mkdirSync(dir, { recursive: true });
  const listen = options.tls
    ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', options.tls.cert, '--tls-key-file', options.tls.key, '--tls-auth-clients', 'no']
    : ['--port', String(port)];
  const args = [
    ...listen,
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--save', '',
    '--appendonly', 'yes',
    '--appendfsync', options.appendfsync ?? 'everysec',
    '--logfile', path.join(dir, 'redis.log'),
    ...(options.extraArgs ?? []),
  ];
  let child: ChildProcess | null = null;
  const killOnExit = () => child?.kill('SIGKILL');
  const proc: RedisProcess = {
    port,
    dir,
    url: `${options.tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
    async start() {
      if (child) return;
      const c = spawn('redis-server', args, { stdio: 'ignore' });
      child = c;
      c.once('exit', () => {
        if (child === c) child = null;
      });
      process.once('exit', killOnExit);
      await until(`redis-server on port ${port} to listen`, async () => {
        if (c.exitCode !== null) throw new Error(`redis-server exited with ${c.exitCode} (see ${dir}/redis.log)`);
        return listening(port);
      }, 15_000);
    },
    async stop(signal = 'SIGTERM') {
      const c = child;
      if (!c) return;
      const gone = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      c.kill(signal);
      const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
      process.removeListener('exit', killOnExit);
      await until(`port ${port} to close`, async () => !(await listening(port)), 5_000);
    },
    async close() {
      await proc.stop('SIGKILL');
      if (!options.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
  await proc.start();
  return proc;
}

export interface TestRedisCluster {
  readonly nodes: readonly RedisProcess[];
  /** `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3` */
  readonly url: string;
  /** `127.0.0.1:P1,…` (the `REDIS_CLUSTER_NODES` form). */
  readonly nodeList: string;
  /** A fresh hash-tagged prefix, so tests sharing one cluster never see each other's keys. */
  prefix(): string;
  close(): Promise<void>;
}

function run(cmd: string, args: string[], stdin: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (out += d.toString()));
    c.once('error', reject);
    c.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${out}`))));
    c.stdin.end(stdin);
  });
}

/** Starts a three-master Redis Cluster (no replicas) on loopback; resolves once `cluster_state:ok`. */
export async function startRedisCluster(size = 3): Promise<TestRedisCluster> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'mailroom-cluster-'));
  const nodes: RedisProcess[] = [];
  try {
    for (let i = 0; i < size; i++) {
      const dir = path.join(root, `n${i}`);
      nodes.push(
        await startRedisProcess({
          dir,
          extraArgs: ['--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, 'nodes.conf'), '--cluster-node-timeout', '2000'],
        }),
      );
    }
    const hosts = nodes.map((n) => `127.0.0.1:${n.port}`);
    await run('redis-cli', ['--cluster', 'create', ...hosts, '--cluster-replicas', '0'], 'yes\n');
    // Every node must agree before the first client connects, or it sees CLUSTERDOWN.
    for (const n of nodes) {
      await until(`cluster_state:ok on ${n.port}`, async () => /cluster_state:ok/.test(await run('redis-cli', ['-p', String(n.port), 'cluster', 'info'], '')), 15_000);
    }
  } catch (err) {
    await Promise.all(nodes.map((n) => n.close()));
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
  const nodeList = nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  return {
    nodes,
    url: `redis+cluster://${nodeList}`,
    nodeList,
    prefix: () => `{t${randomBytes(5).toString('hex')}}`,
    async close() {
      await Promise.all(nodes.map((n) => n.close()));
      rmSync(root, { recursive: true, force: true });
    },
  };
}
