/**
 * A real inbound mail path for tests, all on 127.0.0.1 in a temp dir, run as root:
 *
 *   swaks ─SMTP─▶ Postfix 3.7 (private instance, myhostname = mx.acme.example)
 *                   │  milter ─▶ rspamd 3.4 proxy worker (dkim, spf, dmarc, arc; A-R written by milter_headers)
 *                   │                 └─DNS─▶ nsd on a loopback port (brightleaf.example, elsewhere.example)
 *                   └─LMTP─▶ Dovecot 2.3 (test/harness/dovecot.ts) ─IMAP─▶ whoever reads the mailbox
 *
 * The caller must already be in a network namespace of its own (`unshare -n`, see
 * test/harness/real-mta-rig.ts): every service binds 127.0.0.1, and rspamd's and Postfix's
 * lookups reach nothing but nsd. `startMailPath` brings loopback up itself.
 *
 * Client addresses: Postfix lets 127.0.0.1 set the client it reports with XCLIENT, so a test can
 * speak as a remote MTA (CUSTOMER_MTA, which the customer domain's SPF names) or as itself
 * (127.0.0.1, which rspamd counts as local and does not scan).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { dkimSign } from 'mailauth';
import { freePort } from '../../src/queues/embedded-redis.js';
import { portAccepts, startDovecot, type DovecotServer } from './dovecot.js';

const execFileAsync = promisify(execFile);
const HOST = '127.0.0.1';

/** Our MTA's name: Postfix's myhostname, so also the authserv-id rspamd writes. */
export const OUR_MX = 'mx.acme.example';
export const SUPPORT = 'support@acme.example';
export const SUPPORT_PASSWORD = 'secret';
/** The customer's domain (an account of examples/accounts.json) and the one address of it nsd's SPF names. */
export const CUSTOMER_DOMAIN = 'brightleaf.example';
export const CUSTOMER_MTA = { addr: '203.0.113.10', name: 'mail.brightleaf.example' } as const;
/** Another domain, with its own key, SPF and DMARC: an attacker's, or a friend's the customer writes to. */
export const OTHER_DOMAIN = 'elsewhere.example';
export const OTHER_MTA = { addr: '198.51.100.66', name: 'mail.elsewhere.example' } as const;

/** What the binaries of the rig are called; the test skips (outside CI) when one is missing. */
export const MAIL_PATH_BINARIES = ['postfix', 'rspamd', 'nsd', 'swaks', 'dovecot', 'redis-server', 'unshare', 'ip', 'drill'] as const;
/** Dovecot's LMTP server is a separate Debian package (dovecot-lmtpd). */
export const DOVECOT_LMTP = '/usr/lib/dovecot/lmtp';
const POSTFIX_MASTER = '/usr/lib/postfix/sbin/master';

/** A DKIM key of a domain in the rig's DNS. */
export interface DkimKey {
  domain: string;
  selector: string;
  privateKeyPem: string;
  /** base64 SubjectPublicKeyInfo, the `p=` of the key record */
  publicKey: string;
}

/** One domain nsd serves: a DKIM key, the IPs its SPF names, and a DMARC policy. */
interface Zone {
  name: string;
  key: DkimKey;
  spfIps: string[];
  dmarc: string;
}

export interface SendOptions {
  /** SMTP MAIL FROM. */
  mailFrom: string;
  /** SMTP RCPT TO. @defaultValue SUPPORT */
  rcptTo?: string[];
  /** The whole message (headers CRLF CRLF body). */
  raw: Buffer;
  /**
   * The client Postfix (and so rspamd) sees: a remote MTA by XCLIENT (`addr`, `name`), or `local`
   * (no XCLIENT: the real 127.0.0.1, which rspamd does not scan). @defaultValue local
   */
  client?: { addr: string; name: string } | 'local';
  /**
   * Which smtpd listener: `plain` (no header_checks) or `checked` (a header_checks rule drops
   * inbound Authentication-Results that claim our authserv-id). @defaultValue plain
   */
  listener?: 'plain' | 'checked';
}

export interface MailPath {
  dir: string;
  dovecot: DovecotServer;
  smtpPorts: { plain: number; checked: number };
  dnsPort: number;
  milterPort: number;
  /** DKIM keys by domain (CUSTOMER_DOMAIN, OTHER_DOMAIN). */
  keys: Record<string, DkimKey>;
  /** Sends one message through Postfix with swaks; resolves once Postfix answered 250 to the DATA. */
  send(opts: SendOptions): Promise<{ queueId: string }>;
  /** Stops rspamd (Postfix then accepts unscanned, milter_default_action = accept). */
  stopMilter(): Promise<void>;
  /** Waits until Postfix's queue is empty (everything delivered or bounced). */
  drainQueue(timeoutMs?: number): Promise<void>;
  /** Timings of start-up, in ms, per service. */
  startupMs: Record<string, number>;
  /** The last lines of a service's log, for failure messages. */
  logTail(service: 'postfix' | 'rspamd' | 'nsd' | 'dovecot'): Promise<string>;
  /** Stops everything (bounded) and removes the temp dir. */
  close(): Promise<void>;
}

/** A fresh 1024-bit RSA key (its p= fits one TXT string; rspamd accepts it). */
export function generateDkimKey(domain: string, selector = 's1'): DkimKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
  return {
    domain,
    selector,
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
  };
}

/**
 * Prepends a DKIM-Signature made with `key` (mailauth's signer, relaxed/relaxed). `headers` lists
 * what to sign (default: mailauth's choice, every usual header present); `bodyLength` adds `l=`.
 */
export async function dkimSignWith(
  key: DkimKey,
  raw: Buffer,
  opts: { bodyLength?: number; headers?: string[] } = {},
): Promise<Buffer> {
  const data = {
    signingDomain: key.domain,
    selector: key.selector,
    privateKey: key.privateKeyPem,
    ...(opts.bodyLength === undefined ? {} : { maxBodyLength: opts.bodyLength }),
    ...(opts.headers === undefined ? {} : { headerList: opts.headers }),
  };
  const { signatures, errors } = await dkimSign(raw, { canonicalization: 'relaxed/relaxed', ...data, signatureData: [data] });
  if (!signatures) throw new Error(`mailauth made no DKIM signature: ${JSON.stringify(errors)}`);
  return Buffer.concat([Buffer.from(signatures), raw]);
}

/** A running daemon we spawned, and a promise that settles when it has exited. */
interface Daemon {
  name: string;
  proc: ChildProcess;
  gone: Promise<void>;
  exited: () => string | undefined;
}

function spawnDaemon(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Daemon {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
  let stderr = '';
  proc.stderr?.setEncoding('utf8');
  proc.stderr?.on('data', (d: string) => {
    stderr = (stderr + d).slice(-4000);
  });
  let why: string | undefined;
  const killOnExit = (): void => {
    proc.kill('SIGKILL');
  };
  process.on('exit', killOnExit);
  const gone = new Promise<void>((resolve) => {
    const settle = (reason: string): void => {
      why ??= `${reason}${stderr ? `; stderr: ${stderr.trim()}` : ''}`;
      process.off('exit', killOnExit);
      resolve();
    };
    proc.once('error', (err) => settle(`could not run ${cmd}: ${err.message}`));
    proc.once('exit', (code, signal) => settle(`${name} exited with ${signal ?? `status ${String(code)}`}`));
  });
  return { name, proc, gone, exited: () => why };
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
async function stopDaemon(d: Daemon | undefined, graceMs = 5_000): Promise<void> {
  if (!d || d.exited() !== undefined) return;
  d.proc.kill('SIGTERM');
  const timer = setTimeout(() => d.proc.kill('SIGKILL'), graceMs);
  try {
    await d.gone;
  } finally {
    clearTimeout(timer);
  }
}

async function waitUntil(what: string, d: Daemon | undefined, check: () => Promise<boolean>, timeoutMs: number, logTail: () => Promise<string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    const why = d?.exited();
    if (why !== undefined || Date.now() > deadline) {
      throw new Error(`${what} did not come up (${why ?? `timed out after ${timeoutMs} ms`})\nlog tail:\n${await logTail()}`);
    }
    await sleep(50);
  }
}

/** Starts the whole path. The caller must be in its own network namespace; call `close()` when done. */
export async function startMailPath(): Promise<MailPath> {
  await execFileAsync('ip', ['link', 'set', 'lo', 'up']);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mailroom-mta-'));
  // Postfix's and rspamd's unprivileged processes read their config in here.
  await chmod(dir, 0o755);
  const startupMs: Record<string, number> = {};
  const daemons: Daemon[] = [];
  let dovecot: DovecotServer | undefined;
  const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    const value = await f();
    startupMs[name] = Date.now() - t0;
    return value;
  };
  const logs = {
    postfix: path.join(dir, 'postfix', 'postfix.log'),
    rspamd: path.join(dir, 'rspamd', 'rspamd.log'),
    nsd: path.join(dir, 'nsd', 'nsd.log'),
  };
  const logTail = async (service: 'postfix' | 'rspamd' | 'nsd' | 'dovecot'): Promise<string> => {
    const file = service === 'dovecot' ? path.join(dovecot?.dir ?? dir, 'dovecot.log') : logs[service];
    const text = await readFile(file, 'utf8').catch(() => '');
    return text.split('\n').slice(-30).join('\n');
  };

  const zones: Zone[] = [
    { name: CUSTOMER_DOMAIN, key: generateDkimKey(CUSTOMER_DOMAIN), spfIps: [CUSTOMER_MTA.addr], dmarc: 'v=DMARC1; p=reject' },
    { name: OTHER_DOMAIN, key: generateDkimKey(OTHER_DOMAIN), spfIps: [OTHER_MTA.addr], dmarc: 'v=DMARC1; p=reject' },
  ];
  const keys = Object.fromEntries(zones.map((z) => [z.name, z.key]));

  const close = async (): Promise<void> => {
    // Postfix first (it may be talking to the milter and LMTP), then the rest, all bounded.
    for (const d of [...daemons].reverse()) await stopDaemon(d).catch(() => undefined);
    await dovecot?.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };

  try {
    const [dnsPort, milterPort, plainPort, checkedPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);

    // nsd
    await timed('nsd', async () => {
      const nsdDir = path.join(dir, 'nsd');
      await mkdir(nsdDir);
      for (const z of zones) await writeFile(path.join(nsdDir, `${z.name}.zone`), renderZone(z));
      const conf = path.join(nsdDir, 'nsd.conf');
      await writeFile(conf, renderNsdConf(nsdDir, dnsPort, zones.map((z) => z.name)));
      const d = spawnDaemon('nsd', 'nsd', ['-d', '-c', conf]);
      daemons.push(d);
      await waitUntil('nsd', d, () => dnsAnswers(dnsPort, `s1._domainkey.${zones[0]?.name ?? ''}`), 10_000, () => logTail('nsd'));
    });

    // rspamd, Dovecot: independent of each other
    const startRspamd = async (): Promise<Daemon> => {
      const rsDir = path.join(dir, 'rspamd');
      for (const sub of ['local.d', 'override.d', 'db', 'run']) await mkdir(path.join(rsDir, sub), { recursive: true });
      for (const [file, text] of Object.entries(renderRspamdConf(rsDir, dnsPort, milterPort))) await writeFile(path.join(rsDir, file), text);
      const d = spawnDaemon('rspamd', 'rspamd', [
        '-f',
        '-i',
        '-c',
        '/etc/rspamd/rspamd.conf',
        `--var=LOCAL_CONFDIR=${rsDir}`,
        `--var=DBDIR=${path.join(rsDir, 'db')}`,
        `--var=RUNDIR=${path.join(rsDir, 'run')}`,
        `--var=LOGDIR=${rsDir}`,
        '-p',
        path.join(rsDir, 'run', 'rspamd.pid'),
      ]);
      daemons.push(d);
      await waitUntil('rspamd', d, () => portAccepts(milterPort), 30_000, () => logTail('rspamd'));
      return d;
    };
    const [rspamd, dc] = await Promise.all([
      timed('rspamd', startRspamd),
      timed('dovecot', () => startDovecot({ users: [{ user: SUPPORT, password: SUPPORT_PASSWORD }], lmtp: true })),
    ]);
    dovecot = dc;
    const lmtpPort = dc.lmtpPort;
    if (lmtpPort === undefined) throw new Error('Dovecot started without LMTP');

    // Postfix
    const pfDir = path.join(dir, 'postfix');
    await timed('postfix', async () => {
      await mkdir(pfDir);
      await chmod(pfDir, 0o755);
      await makePostfixDirs(pfDir);
      await writeFile(path.join(pfDir, 'header_checks'), headerChecksRule(OUR_MX));
      await writeFile(path.join(pfDir, 'main.cf'), renderMainCf(pfDir, { milterPort, lmtpPort }));
      await writeFile(path.join(pfDir, 'master.cf'), renderMasterCf(pfDir, { plainPort, checkedPort }));
      await writeFile(logs.postfix, '');
      const d = spawnDaemon('postfix', POSTFIX_MASTER, ['-c', pfDir], { ...process.env, MAIL_CONFIG: pfDir });
      daemons.push(d);
      await waitUntil('postfix', d, async () => (await smtpGreets(plainPort)) && (await smtpGreets(checkedPort)), 15_000, () => logTail('postfix'));
    });

    const send = async (opts: SendOptions): Promise<{ queueId: string }> => {
      const port = opts.listener === 'checked' ? checkedPort : plainPort;
      const client = opts.client ?? 'local';
      const args = [
        '--server',
        HOST,
        '--port',
        String(port),
        '--from',
        opts.mailFrom,
        '--to',
        (opts.rcptTo ?? [SUPPORT]).join(','),
        '--helo',
        client === 'local' ? 'localhost' : client.name,
        ...(client === 'local' ? [] : ['--xclient-addr', client.addr, '--xclient-name', client.name, '--xclient-helo', client.name]),
        '--data',
        '-',
        '--timeout',
        '30',
        '--hide-informational',
      ];
      const { code, out } = await run('swaks', args, opts.raw);
      const m = /<-\s+250 2\.0\.0 Ok: queued as ([0-9A-Za-z]+)/.exec(out);
      if (code !== 0 || !m?.[1]) throw new Error(`swaks failed (${code}):\n${out}\npostfix log:\n${await logTail('postfix')}`);
      return { queueId: m[1] };
    };

    const drainQueue = async (timeoutMs = 20_000): Promise<void> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { stdout } = await execFileAsync('postqueue', ['-c', pfDir, '-j']).catch(() => ({ stdout: 'x' }));
        if (stdout.trim() === '') return;
        if (Date.now() > deadline) throw new Error(`Postfix queue not empty after ${timeoutMs} ms:\n${stdout}\n${await logTail('postfix')}`);
        await sleep(100);
      }
    };

    return {
      dir,
      dovecot: dc,
      smtpPorts: { plain: plainPort, checked: checkedPort },
      dnsPort,
      milterPort,
      keys,
      send,
      stopMilter: async () => {
        await stopDaemon(rspamd);
        await waitUntil('rspamd to stop listening', undefined, async () => !(await portAccepts(milterPort)), 10_000, () => logTail('rspamd'));
      },
      drainQueue,
      startupMs,
      logTail,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * The queue and data directories with the owners and modes Postfix's post-install gives them
 * (`postfix set-permissions` does the same but takes ~3 s: it runs postconf and a shell script).
 */
async function makePostfixDirs(pfDir: string): Promise<void> {
  const [postfixUid, postdropGid] = await Promise.all([idOf('-u', 'postfix'), getentGid('postdrop')]);
  const queue = path.join(pfDir, 'queue');
  await mkdir(queue, { mode: 0o755 });
  const dirs: Array<[string, number, number, number]> = [
    ...['active', 'bounce', 'corrupt', 'defer', 'deferred', 'flush', 'hold', 'incoming', 'private', 'saved', 'trace'].map(
      (d): [string, number, number, number] => [path.join(queue, d), 0o700, postfixUid, 0],
    ),
    [path.join(queue, 'public'), 0o710, postfixUid, postdropGid],
    [path.join(queue, 'maildrop'), 0o730, postfixUid, postdropGid],
    [path.join(queue, 'pid'), 0o755, 0, 0],
    [path.join(pfDir, 'data'), 0o700, postfixUid, 0],
  ];
  for (const [d, mode, uid, gid] of dirs) {
    await mkdir(d);
    await chown(d, uid, gid);
    await chmod(d, mode);
  }
}

async function idOf(flag: '-u' | '-g', user: string): Promise<number> {
  const { stdout } = await execFileAsync('id', [flag, user]);
  return Number(stdout.trim());
}

async function getentGid(group: string): Promise<number> {
  const { stdout } = await execFileAsync('getent', ['group', group]);
  const gid = Number(stdout.split(':')[2]);
  if (!Number.isInteger(gid)) throw new Error(`no group ${group}`);
  return gid;
}

/** The Postfix rule (NOTES.md) that drops inbound A-R claiming our id, folded or upper-case too. */
export function headerChecksRule(authservId: string): string {
  const id = authservId.replace(/\./g, '\\.');
  return `/^Authentication-Results:[[:space:]]*${id}([[:space:];]|$)/ IGNORE\n`;
}

function txtStrings(value: string): string {
  // A TXT string holds at most 255 bytes; longer values are split into several.
  const parts: string[] = [];
  for (let i = 0; i < value.length; i += 250) parts.push(`"${value.slice(i, i + 250)}"`);
  return parts.join(' ');
}

function renderZone(z: Zone): string {
  return `$ORIGIN ${z.name}.
$TTL 300
@ IN SOA ns.${z.name}. hostmaster.${z.name}. 1 3600 600 86400 300
@ IN NS ns.${z.name}.
ns IN A 127.0.0.1
@ IN A 127.0.0.1
@ IN MX 10 mail.${z.name}.
mail IN A ${z.spfIps[0] ?? '127.0.0.1'}
@ IN TXT ${txtStrings(`v=spf1 ${z.spfIps.map((ip) => `ip4:${ip}`).join(' ')} -all`)}
_dmarc IN TXT ${txtStrings(z.dmarc)}
${z.key.selector}._domainkey IN TXT ${txtStrings(`v=DKIM1; k=rsa; p=${z.key.publicKey}`)}
`;
}

function renderNsdConf(nsdDir: string, port: number, zoneNames: string[]): string {
  return `server:
  ip-address: ${HOST}@${port}
  port: ${port}
  do-ip6: no
  username: ""
  chroot: ""
  database: ""
  zonesdir: "${nsdDir}"
  zonelistfile: "${nsdDir}/zone.list"
  xfrdfile: "${nsdDir}/xfrd.state"
  xfrdir: "${nsdDir}"
  pidfile: "${nsdDir}/nsd.pid"
  logfile: "${nsdDir}/nsd.log"
  server-count: 1
  hide-version: yes
remote-control:
  control-enable: no
${zoneNames.map((n) => `zone:\n  name: ${n}\n  zonefile: "${n}.zone"\n`).join('')}`;
}

function renderRspamdConf(rsDir: string, dnsPort: number, milterPort: number): Record<string, string> {
  return {
    'local.d/options.inc': `dns {
  nameserver = ["${HOST}:${dnsPort}"];
  timeout = 1s;
  retransmits = 1;
}
# No updates, no maps or lookups on the Internet (there is none in here anyway).
check_all_filters = false;
# Compiling the hyperscan regexp cache alone takes tens of seconds at each start.
disable_hyperscan = true;
# The public-suffix list takes rspamd ~10 s to compile at each start; the rig's domains need three.
url_tld = "${rsDir}/tld.dat";
`,
    'local.d/logging.inc': `type = "file";
filename = "${rsDir}/rspamd.log";
level = "info";
`,
    // The proxy scans by itself (self_scan) and speaks the milter protocol to Postfix.
    'override.d/worker-proxy.inc': `bind_socket = "${HOST}:${milterPort}";
milter = yes;
timeout = 60s;
count = 1;
upstream "local" {
  default = yes;
  self_scan = yes;
}
`,
    'override.d/worker-normal.inc': 'enabled = false;\n',
    'override.d/worker-controller.inc': 'enabled = false;\n',
    'override.d/worker-fuzzy.inc': 'enabled = false;\n',
    // rspamd's own defaults otherwise (skip_local, skip_authenticated): that is what is tested.
    'local.d/milter_headers.conf': 'use = ["authentication-results"];\n',
    // Modules that would only look things up on the Internet or need Redis.
    'local.d/fuzzy_check.conf': 'enabled = false;\n',
    'local.d/rbl.conf': 'enabled = false;\n',
    'local.d/surbl.conf': 'enabled = false;\n',
    'local.d/emails.conf': 'enabled = false;\n',
    'local.d/asn.conf': 'enabled = false;\n',
    'local.d/phishing.conf': 'enabled = false;\n',
    'local.d/redis.conf': '',
    'tld.dat': 'example\ntest\ncom\n',
  };
}

function renderMainCf(pfDir: string, p: { milterPort: number; lmtpPort: number }): string {
  return `# Generated by test/harness/mail-path.ts: a private Postfix instance on loopback.
compatibility_level = 3.6
config_directory = ${pfDir}
queue_directory = ${pfDir}/queue
data_directory = ${pfDir}/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = ${pfDir}/postfix.log
# A maillog_file outside these prefixes is fatal to every postfix(1) command (default /var, /dev/stdout).
maillog_file_prefixes = ${pfDir}
myhostname = ${OUR_MX}
mydomain = acme.example
myorigin = acme.example
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = ${HOST}
inet_protocols = ipv4
# The "local client": this host itself. XCLIENT lets it speak as a remote MTA instead.
mynetworks = 127.0.0.0/8
smtpd_authorized_xclient_hosts = 127.0.0.0/8
smtpd_peername_lookup = no
disable_dns_lookups = yes
smtp_dns_support_level = disabled
biff = no
relay_domains = acme.example
transport_maps = inline:{ acme.example=lmtp:inet:${HOST}:${p.lmtpPort} }
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_milters = inet:${HOST}:${p.milterPort}
non_smtpd_milters =
milter_default_action = accept
milter_protocol = 6
milter_connect_timeout = 5s
# Bounces for mail the tests send would go nowhere; keep them from lingering.
bounce_queue_lifetime = 0
maximal_queue_lifetime = 1h
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
smtputf8_enable = no
`;
}

function renderMasterCf(pfDir: string, p: { plainPort: number; checkedPort: number }): string {
  // No chroot anywhere: the instance lives in a temp dir.
  return `# service type  private unpriv  chroot  wakeup  maxproc command + args
${HOST}:${p.plainPort} inet n - n - - smtpd
${HOST}:${p.checkedPort} inet n - n - - smtpd -o cleanup_service_name=cleanup-hc
cleanup   unix  n       -       n       -       0       cleanup
cleanup-hc unix n       -       n       -       0       cleanup -o header_checks=regexp:${pfDir}/header_checks
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`;
}

function run(cmd: string, args: string[], stdin?: Buffer): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.setEncoding('utf8');
    proc.stderr.setEncoding('utf8');
    proc.stdout.on('data', (d: string) => (out += d));
    proc.stderr.on('data', (d: string) => (out += d));
    proc.once('error', reject);
    proc.once('close', (code) => resolve({ code: code ?? -1, out }));
    proc.stdin.on('error', () => {});
    proc.stdin.end(stdin ?? '');
  });
}

async function dnsAnswers(port: number, name: string): Promise<boolean> {
  const { code, out } = await run('drill', ['-p', String(port), '-t', `@${HOST}`, name, 'TXT']).catch(() => ({ code: -1, out: '' }));
  return code === 0 && /rcode: NOERROR/.test(out) && /DKIM1/.test(out);
}

function smtpGreets(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2_000, () => done(false));
    socket.once('data', (chunk: Buffer) => {
      socket.write('QUIT\r\n');
      done(chunk.toString('latin1').startsWith('220'));
    });
    socket.once('error', () => done(false));
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
