/**
 * A private Dovecot 2.3 IMAP server for tests: its own temp dir, config, port and users, started
 * and stopped by the test that needs it. Runs as root; see /work/shared/NOTES.md for why each
 * setting is there.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ImapFlow } from 'imapflow';

const execFileAsync = promisify(execFile);

/** A mail account on the test server. */
export interface DovecotUser {
  user: string;
  password: string;
}

export interface DovecotOptions {
  /** Accounts to create; the first one is the server's default `user`. @defaultValue support@acme.example / secret */
  users?: DovecotUser[];
  /**
   * Also accept OAuth2 (XOAUTH2, OAUTHBEARER) logins, checked by Dovecot's `oauth2` passdb against
   * this token introspection URL (RFC 7662, POST); passwords keep working.
   */
  oauth2?: { introspectionUrl: string };
  /** Also serve LMTP (delivery from an MTA) on a free loopback port, `lmtpPort`. @defaultValue false */
  lmtp?: boolean;
  /**
   * Mailboxes with a special use (RFC 6154), created for every user, e.g. `{ '[Gmail]/Spam': '\\Junk' }`:
   * a server whose junk folder is not called Junk. @defaultValue none
   */
  specialUse?: Record<string, string>;
}

/** One message as `listMailbox` sees it. */
export interface MailboxEntry {
  uid: number;
  flags: string[];
  messageId?: string;
  subject?: string;
}

export interface DovecotServer {
  host: '127.0.0.1';
  port: number;
  /** The LMTP port, when started with `lmtp: true`. */
  lmtpPort: number | undefined;
  /** The default (first) account. */
  user: string;
  password: string;
  /** The temp dir holding config, run state, log and mail homes. */
  dir: string;
  configPath: string;
  /**
   * Stops Dovecot, drops every client connection (as a real restart with `shutdown_clients = yes`
   * does; the master alone leaves its imap processes serving), and waits until the IMAP port is
   * closed. No-op when stopped.
   */
  stop(): Promise<void>;
  /** Starts Dovecot again with the same config, port and mail; resolves once it greets. No-op when running. */
  start(): Promise<void>;
  /** Saves a message with `doveadm save` (about 10 ms each); creates the mailbox if missing. */
  deliver(user: string, rawEml: string | Buffer, mailbox?: string): Promise<void>;
  /** Appends a message as the default user over IMAP; faster than `deliver` for many messages. */
  append(rawEml: string | Buffer, mailbox?: string, flags?: string[]): Promise<void>;
  /** The default user's messages in a mailbox, in UID order, flags without `\Recent`. @defaultValue mailbox INBOX */
  listMailbox(mailbox?: string): Promise<MailboxEntry[]>;
  /** Stops, deletes the user's maildir and starts again: every mailbox gets a new, larger UIDVALIDITY. */
  recreateMaildir(user: string): Promise<void>;
  /** Stops Dovecot and removes the temp dir. */
  close(): Promise<void>;
}

export const DEFAULT_DOVECOT_USER: DovecotUser = { user: 'support@acme.example', password: 'secret' };

const HOST = '127.0.0.1';
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;
const POLL_MS = 20;
const GREETING_TIMEOUT_MS = 2_000;
/** Exit status of `doveadm` when the mailbox does not exist (DOVEADM_EX_NOTFOUND). */
const DOVEADM_EX_NOTFOUND = 68;
/** Exit status of `doveadm mailbox create` when the mailbox already exists (EX_DATAERR). */
const DOVEADM_EX_DATAERR = 65;

/**
 * Opens an IMAP session to the test server, as the default user unless `account` is given.
 * The caller must `logout()` it, in a `finally`.
 */
export async function connectImap(
  server: Pick<DovecotServer, 'host' | 'port' | 'user' | 'password'>,
  account: DovecotUser = { user: server.user, password: server.password },
): Promise<ImapFlow> {
  const client = new ImapFlow({
    host: server.host,
    port: server.port,
    secure: false,
    doSTARTTLS: false,
    auth: { user: account.user, pass: account.password },
    logger: false,
    disableAutoIdle: true,
  });
  // Without a listener a socket error after connect() would be an uncaught 'error' event;
  // the failing command rejects on its own, so there is nothing more to do here.
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** Starts a private Dovecot on a free loopback port. Call `close()` when done. */
export async function startDovecot(opts: DovecotOptions = {}): Promise<DovecotServer> {
  const users = opts.users ?? [DEFAULT_DOVECOT_USER];
  const first = users[0];
  if (!first) throw new Error('startDovecot: users must not be empty');
  for (const u of users) validateUser(u);

  const [uid, gid, port, lmtpPort] = await Promise.all([
    idOf('-u'),
    idOf('-g'),
    freePort(),
    opts.lmtp ? freePort() : Promise.resolve(undefined),
  ]);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mailroom-dovecot-'));
  const configPath = path.join(dir, 'dovecot.conf');
  const logPath = path.join(dir, 'dovecot.log');
  const passwdPath = path.join(dir, 'users');
  const homeOf = (user: string): string => path.join(dir, 'home', user);

  const prepare = async (): Promise<void> => {
    // Login processes run as dovenull and must reach base_dir inside this dir.
    await chmod(dir, 0o755);
    await Promise.all([mkdir(path.join(dir, 'run')), mkdir(path.join(dir, 'state'))]);
    for (const u of users) {
      await mkdir(homeOf(u.user), { recursive: true });
      await chown(homeOf(u.user), uid, gid);
    }
    await writeFile(
      passwdPath,
      users.map((u) => `${u.user}:{PLAIN}${u.password}:${uid}:${gid}::${homeOf(u.user)}::\n`).join(''),
      { mode: 0o644 },
    );
    const oauth2Path = path.join(dir, 'dovecot-oauth2.conf.ext');
    if (opts.oauth2) await writeFile(oauth2Path, renderOAuth2Config(opts.oauth2.introspectionUrl), { mode: 0o644 });
    await writeFile(configPath, renderConfig({ dir, logPath, passwdPath, port, lmtpPort, ...(opts.oauth2 ? { oauth2Path } : {}), specialUse: opts.specialUse ?? {} }), { mode: 0o644 });
  };

  /** The running master and a promise that settles when it has exited. */
  let child: { proc: ChildProcess; gone: Promise<void> } | undefined;
  let imap: Promise<ImapFlow> | undefined;
  const createdMailboxes = new Set<string>(['INBOX']);
  // A test that dies without close() must not leave a dovecot behind; kill() is synchronous.
  const killOnExit = (): void => {
    child?.proc.kill('SIGTERM');
  };

  const logTail = async (): Promise<string> => {
    const log = await readFile(logPath, 'utf8').catch(() => '');
    return log.split('\n').slice(-20).join('\n');
  };

  const start = async (): Promise<void> => {
    if (child) return;
    // -F keeps the master our child: we see it exit at once, instead of polling a pid that
    // stays a zombie until init reaps it (doveadm stop waits for that, about 3 s here).
    const proc = spawn('dovecot', ['-F', '-c', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk: string) => {
      stderr += chunk;
    });
    let exited: string | undefined;
    const gone = new Promise<void>((resolve) => {
      const settle = (why: string): void => {
        exited ??= why;
        if (child?.proc === proc) child = undefined;
        process.off('exit', killOnExit);
        resolve();
      };
      proc.once('error', (err) => settle(`could not run dovecot: ${err.message}`));
      proc.once('exit', (code, signal) =>
        settle(`dovecot exited with ${signal ?? `status ${String(code)}`}`),
      );
    });
    child = { proc, gone };
    process.on('exit', killOnExit);

    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!(await imapGreets(port))) {
      if (exited !== undefined || Date.now() > deadline) {
        const why = exited ?? `no IMAP greeting on port ${port} after ${START_TIMEOUT_MS} ms`;
        proc.kill('SIGKILL');
        await gone;
        throw new Error(
          `Dovecot did not start (${why}); config ${configPath}\n` +
            `stderr:\n${stderr.trim()}\nlog tail (${logPath}):\n${await logTail()}`,
        );
      }
      await sleep(POLL_MS);
    }
  };

  const closeImap = async (): Promise<void> => {
    const pending = imap;
    imap = undefined;
    if (!pending) return;
    const client = await pending.catch(() => undefined);
    if (!client) return;
    if (client.usable) await client.logout().catch(() => client.close());
    else client.close();
  };

  const stop = async (): Promise<void> => {
    await closeImap();
    if (!child) return;
    const { proc, gone } = child;
    const children = proc.pid === undefined ? [] : await childPids(proc.pid);
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
    try {
      await gone;
    } finally {
      clearTimeout(timer);
    }
    for (const pid of children) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    const deadline = Date.now() + STOP_TIMEOUT_MS;
    while (await portAccepts(port)) {
      if (Date.now() > deadline)
        throw new Error(`Dovecot stopped but port ${port} still accepts connections`);
      await sleep(POLL_MS);
    }
  };

  // One session for the default user, kept until stop(): a login per append would cost
  // more than the APPEND itself.
  const session = async (): Promise<ImapFlow> => {
    if (imap) {
      const client = await imap.catch(() => undefined);
      if (client?.usable) return client;
      client?.close();
    }
    const pending = connectImap({ host: HOST, port, user: first.user, password: first.password });
    imap = pending;
    pending.catch(() => {
      if (imap === pending) imap = undefined;
    });
    return pending;
  };

  const doveadm = (args: string[], stdin?: string | Buffer): Promise<{ code: number; stderr: string }> =>
    new Promise((resolve, reject) => {
      const proc = spawn('doveadm', ['-c', configPath, ...args], { stdio: ['pipe', 'ignore', 'pipe'] });
      let stderr = '';
      proc.stderr.setEncoding('utf8');
      proc.stderr.on('data', (chunk: string) => {
        stderr += chunk;
      });
      proc.once('error', reject);
      proc.once('close', (code) => resolve({ code: code ?? -1, stderr }));
      proc.stdin.on('error', () => {}); // doveadm may exit before reading; its status tells why
      proc.stdin.end(stdin ?? '');
    });

  const deliver = async (user: string, rawEml: string | Buffer, mailbox = 'INBOX'): Promise<void> => {
    const save = (): Promise<{ code: number; stderr: string }> =>
      doveadm(['save', '-u', user, '-m', mailbox], rawEml);
    let result = await save();
    if (result.code === DOVEADM_EX_NOTFOUND && mailbox !== 'INBOX') {
      const created = await doveadm(['mailbox', 'create', '-u', user, mailbox]);
      if (created.code !== 0 && created.code !== DOVEADM_EX_DATAERR) {
        throw new Error(
          `doveadm mailbox create ${mailbox} for ${user} failed (${created.code}): ${created.stderr.trim()}`,
        );
      }
      result = await save();
    }
    if (result.code !== 0) {
      throw new Error(`doveadm save to ${user}/${mailbox} failed (${result.code}): ${result.stderr.trim()}`);
    }
  };

  const append = async (rawEml: string | Buffer, mailbox = 'INBOX', flags: string[] = []): Promise<void> => {
    const client = await session();
    if (!createdMailboxes.has(mailbox)) {
      await client.mailboxCreate(mailbox); // resolves with created: false when it exists
      createdMailboxes.add(mailbox);
    }
    const result = await client.append(mailbox, rawEml, flags);
    if (result === false)
      throw new Error(`IMAP APPEND to ${mailbox} was not sent (session not authenticated)`);
  };

  const listMailbox = async (mailbox = 'INBOX'): Promise<MailboxEntry[]> => {
    const client = await session();
    const opened = await client.mailboxOpen(mailbox, { readOnly: true });
    try {
      if (opened.exists === 0) return [];
      const messages = await client.fetchAll('1:*', { uid: true, flags: true, envelope: true });
      return messages
        .map((m) => ({
          uid: m.uid,
          // \Recent belongs to whichever session saw the message first, so it is not stable.
          flags: [...(m.flags ?? [])].filter((f) => f !== '\\Recent').sort(),
          ...(m.envelope?.messageId === undefined ? {} : { messageId: m.envelope.messageId }),
          ...(m.envelope?.subject === undefined ? {} : { subject: m.envelope.subject }),
        }))
        .sort((a, b) => a.uid - b.uid);
    } finally {
      await client.mailboxClose();
    }
  };

  const recreateMaildir = async (user: string): Promise<void> => {
    if (!users.some((u) => u.user === user)) throw new Error(`recreateMaildir: unknown user ${user}`);
    await stop();
    const maildir = path.join(homeOf(user), 'Maildir');
    // Dovecot derives a new UIDVALIDITY from these files (last value + 1); without them it uses
    // the current second, which repeats the old value when the maildir was made the same second.
    const entries = await readdir(maildir).catch(() => []);
    await Promise.all(
      entries
        .filter((name) => !name.startsWith('dovecot-uidvalidity'))
        .map((name) => rm(path.join(maildir, name), { recursive: true, force: true })),
    );
    createdMailboxes.clear();
    createdMailboxes.add('INBOX');
    await start();
  };

  const close = async (): Promise<void> => {
    try {
      await stop();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };

  try {
    await prepare();
    await start();
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    host: HOST,
    port,
    lmtpPort,
    user: first.user,
    password: first.password,
    dir,
    configPath,
    stop,
    start,
    deliver,
    append,
    listMailbox,
    recreateMaildir,
    close,
  };
}

/** Dovecot 2.3's oauth2 passdb settings: introspection by POST, the user from `username`, only active tokens. */
function renderOAuth2Config(introspectionUrl: string): string {
  return `# Generated by test/harness/dovecot.ts
introspection_mode = post
introspection_url = ${introspectionUrl}
username_attribute = username
active_attribute = active
active_value = true
`;
}

function renderConfig(p: {
  dir: string;
  logPath: string;
  passwdPath: string;
  port: number;
  lmtpPort: number | undefined;
  oauth2Path?: string;
  specialUse: Record<string, string>;
}): string {
  const boxes = Object.entries(p.specialUse);
  for (const [name, use] of boxes) if (!/^[A-Za-z0-9 [\]/_.-]+$/.test(name) || !/^\\[A-Za-z]+$/.test(use)) throw new Error(`startDovecot: bad special-use mailbox ${name} ${use}`);
  const namespace = boxes.length
    ? `
namespace inbox {
  inbox = yes
${boxes.map(([name, use]) => `  mailbox "${name}" {
    special_use = ${use}
    auto = create
  }`).join('\n')}
}
`
    : '';
  const lmtp =
    p.lmtpPort === undefined
      ? ''
      : `
service lmtp {
  inet_listener lmtp {
    address = ${HOST}
    port = ${p.lmtpPort}
  }
  unix_listener lmtp {
    mode = 0600
  }
}
`;
  const oauth2 = p.oauth2Path
    ? `auth_mechanisms = plain login xoauth2 oauthbearer
# A refused token is retried at once by design (a refresh, then one more login): no 2 s penalty in tests.
auth_failure_delay = 0
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = ${p.oauth2Path}
}
`
    : '';
  return `# Generated by test/harness/dovecot.ts (Dovecot 2.3 syntax)
base_dir = ${path.join(p.dir, 'run')}
state_dir = ${path.join(p.dir, 'state')}
log_path = ${p.logPath}
protocols = imap${p.lmtpPort === undefined ? '' : ' lmtp'}
listen = ${HOST}
ssl = no
disable_plaintext_auth = no
first_valid_uid = 1
mail_location = maildir:~/Maildir
# Test mail is disposable: no fsync (no measurable gain on this machine, helps on slow disks).
mail_fsync = never
${namespace}
passdb {
  driver = passwd-file
  args = ${p.passwdPath}${p.oauth2Path ? '\n  mechanisms = plain login' : ''}
}
${oauth2}
userdb {
  driver = passwd-file
  args = ${p.passwdPath}
}

service imap-login {
  inet_listener imap {
    address = ${HOST}
    port = ${p.port}
  }
  inet_listener imaps {
    port = 0
  }
}
${lmtp}`;
}

function validateUser(u: DovecotUser): void {
  // Both end up in a passwd-file line and the user also names a directory.
  if (!/^[^\s:/]+$/.test(u.user))
    throw new Error(`startDovecot: invalid user name ${JSON.stringify(u.user)}`);
  if (/[:\r\n]/.test(u.password))
    throw new Error(`startDovecot: password for ${u.user} contains ':' or a newline`);
}

async function idOf(flag: '-u' | '-g'): Promise<number> {
  const { stdout } = await execFileAsync('id', [flag, 'dovecot']);
  const id = Number.parseInt(stdout.trim(), 10);
  if (!Number.isInteger(id) || id <= 0)
    throw new Error(`unexpected \`id ${flag} dovecot\` output: ${stdout}`);
  return id;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('could not find a free port');
  return address.port;
}

/** True once something accepts a TCP connection on 127.0.0.1:`port`. */
export function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/**
 * True once a connection gets the server greeting. Accepting alone is not enough: the login
 * process that the probe spawned is still reading its settings then, and if a stop() follows at
 * once it sits in that read for 5 s before the master can exit.
 */
function imapGreets(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    const done = (greeted: boolean): void => {
      socket.destroy();
      resolve(greeted);
    };
    socket.setTimeout(GREETING_TIMEOUT_MS, () => done(false));
    socket.once('data', (chunk: Buffer) => done(chunk.toString('latin1').startsWith('* OK')));
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
  });
}

/** Direct children of a process, from /proc (Linux). */
async function childPids(parent: number): Promise<number[]> {
  const entries = await readdir('/proc').catch(() => []);
  const pids: number[] = [];
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid …; comm may contain spaces, so read after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === parent) pids.push(Number(name));
  }
  return pids;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
