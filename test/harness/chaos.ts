/**
 * The chaos run: Mailroom's roles as separate processes against one Redis with AOF (or a 3-node
 * Redis Cluster), fed through a local Dovecot, replying to a local SMTP capture and posting to a
 * local webhook capture, while the harness SIGKILLs and restarts executors, restarts Redis and
 * Dovecot, and kills whatever executor runs one "poison" job every time it runs it. At the end it
 * counts what a customer and a support team would see: every email at rest, and no reply, ticket,
 * webhook event, team mail or mailbox move twice. Everything on loopback; bounded in time.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Job } from 'bullmq';
import { Redis as SingleRedis } from 'ioredis';
import { RESTING_STATES, type EmailState } from '../../src/audit/email-ledger.js';
import { loadConfig } from '../../src/config/config.js';
import { createContext } from '../../src/app/context.js';
import { type AppContext } from '../../src/services/services.js';
import type { EmailId } from '../../src/kernel/ids.js';
import { emailIdOf } from '../../src/ingest/submit.js';
import { createLogger } from '../../src/kernel/logger.js';
import { DeadLetterJob } from '../../src/queues/catalog.js';
import { connectImap, startDovecot, type DovecotServer } from './dovecot.js';
import { startRedisCluster, startRedisProcess, type RedisProcess, type TestRedisCluster } from './redis-cluster.js';
import { startRole, type RoleProcess } from './roles.js';
import { startSmtpCapture, type SmtpCapture } from './smtp-capture.js';

const EXAMPLES = path.resolve(import.meta.dirname, '../../examples');
const SUPPORT = 'support@acme.example';
const TEAMS = ['product@acme.example', 'support-leads@acme.example'];

export interface ChaosOptions {
  /** Emails fed through Dovecot. @defaultValue 2000 */
  emails?: number;
  /** A 3-node Redis Cluster instead of one redis-server. @defaultValue false */
  cluster?: boolean;
  /** Executor SIGKILLs (each followed by a restart) at random moments while mail flows. @defaultValue 6 */
  kills?: number;
  /** Executor processes. @defaultValue 2 */
  executors?: number;
  /** Include the poison job (killed every time it runs, must end dead-lettered). @defaultValue true */
  poison?: boolean;
  /** The whole run's bound; emails not at rest by then count as lost. @defaultValue 900000 */
  timeoutMs?: number;
  /** `lockDurationMs` of the Mailroom under test: how soon a killed worker's jobs come back. @defaultValue 5000 */
  lockDurationMs?: number;
  /** Progress lines (to stderr in the CLI). */
  log?: (line: string) => void;
  /** Random source, for a reproducible schedule. @defaultValue Math.random */
  random?: () => number;
}

export interface ChaosReport {
  emails: number;
  /** Emails per resting state (terminal states and awaiting_approval), from the ledger. */
  terminal: Partial<Record<EmailState, number>>;
  /** Emails fed that are not at rest at the end (no record, or stuck in a working state). */
  lost: number;
  /** Side effects that happened twice for one email (the sum of `duplicates`). */
  duplicate_side_effects: number;
  duplicates: { replies: number; same_message_id: number; team_mail: number; tickets: number; webhook_events: number; mailbox: number };
  /** Webhook deliveries repeated with the same Idempotency-Key (allowed: receivers deduplicate by it). */
  webhook_redeliveries: number;
  replies: number;
  kills: number;
  /** Roles that exited on their own (a stuck worker) and were restarted by the harness. */
  self_restarts: number;
  redis_restarts: number;
  imap_restarts: number;
  /** The poison email: its jobs' crashes (each step job is a separate job with its own stall count) and where it ended. */
  poison: { kills: number; max_kills_of_one_job: number; state: string; dead_lettered: boolean } | null;
  dead_letters: number;
  cluster: boolean;
  wall_s: number;
}

interface WebhookHit {
  event: string;
  key: string;
  emailId: string;
  ticketId: string;
}

/** Copies of examples/mailbox, each with a fresh Message-ID, CRLF line ends (as IMAP serves them). */
function corpus(n: number): { raw: string; file: string }[] {
  const dir = path.join(EXAMPLES, 'mailbox');
  const sources = readdirSync(dir)
    .filter((f) => f.endsWith('.eml'))
    .sort()
    .map((f) => ({ file: f, text: readFileSync(path.join(dir, f), 'latin1').replace(/\r?\n/g, '\r\n') }));
  return Array.from({ length: n }, (_, i) => {
    const src = sources[i % sources.length] ?? { file: '', text: '' };
    const raw = /^message-id:/im.test(src.text)
      ? src.text.replace(/^(message-id:\s*<)([^>]*)>/im, `$1c${i}.$2>`)
      : `Message-ID: <chaos${i}@chaos.example>\r\n${src.text}`;
    return { raw, file: src.file };
  });
}

/** A webhook receiver that answers 200, except that it never answers for the poison email. */
async function startWebhookCapture(hangFor: () => string | null): Promise<{ url: string; hits: WebhookHit[]; close(): Promise<void> }> {
  const hits: WebhookHit[] = [];
  const hanging = new Set<ServerResponse>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        // counted below with empty fields
      }
      const emailId = typeof body.emailId === 'string' ? body.emailId : '';
      if (emailId && emailId === hangFor()) {
        hanging.add(res);
        return;
      }
      hits.push({
        event: typeof body.event === 'string' ? body.event : '',
        key: String(req.headers['idempotency-key'] ?? ''),
        emailId,
        ticketId: typeof body.ticketId === 'string' ? body.ticketId : '',
      });
      res.writeHead(200).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    hits,
    async close() {
      for (const r of hanging) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function countBy<T>(items: readonly T[], key: (t: T) => string | null): Map<string, number> {
  const m = new Map<string, number>();
  for (const it of items) {
    const k = key(it);
    if (k) m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}
const extra = (m: Map<string, number>) => [...m.values()].reduce((n, c) => n + Math.max(0, c - 1), 0);

/** Runs one chaos round and reports what it saw. Cleans up everything it started. */
export async function runChaos(options: ChaosOptions = {}): Promise<ChaosReport> {
  const n = options.emails ?? 2000;
  const killTarget = options.kills ?? 6;
  const executors = options.executors ?? 2;
  const usePoison = options.poison ?? true;
  const timeoutMs = options.timeoutMs ?? 900_000;
  const random = options.random ?? Math.random;
  const log = options.log ?? (() => undefined);
  const started = Date.now();
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'mailroom-chaos-'));

  let redis: RedisProcess | null = null;
  let cluster: TestRedisCluster | null = null;
  let dovecot: DovecotServer | null = null;
  let smtp: SmtpCapture | null = null;
  let hooks: Awaited<ReturnType<typeof startWebhookCapture>> | null = null;
  let app: AppContext | null = null;
  const roles: RoleProcess[] = [];
  let poisonId: EmailId | null = null;

  try {
    // Redis with AOF: a restart keeps everything that was acknowledged.
    if (options.cluster) cluster = await startRedisCluster();
    else redis = await startRedisProcess({ appendfsync: 'everysec' });
    [dovecot, smtp, hooks] = await Promise.all([startDovecot(), startSmtpCapture(), startWebhookCapture(() => poisonId)]);

    const configPath = path.join(tmp, 'mailroom.config.json');
    const base = JSON.parse(readFileSync(path.join(EXAMPLES, 'mailroom.config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(
      configPath,
      JSON.stringify({
        ...base,
        accountsFile: path.join(EXAMPLES, 'accounts.json'),
        kbDir: path.join(EXAMPLES, 'kb'),
        // Copies of one sender's mail would trip the reply ceilings; the run is about crashes.
        replyLimits: { perSenderPerDay: 1_000_000, perDomainPerHour: 1_000_000, globalPerHour: 1_000_000, maxDomainShare: 1 },
        localSenderVerification: false,
        lockDurationMs: options.lockDurationMs ?? 5_000,
        webhooks: { tickets: hooks.url, escalations: hooks.url },
        imap: [
          {
            name: 'support',
            host: dovecot.host,
            port: dovecot.port,
            tls: 'none',
            user: dovecot.user,
            password: { env: 'CHAOS_IMAP_PASSWORD' },
            pollSeconds: 2,
            reconnectMinMs: 200,
            reconnectMaxMs: 2_000,
          },
        ],
      }),
    );
    const prefix = '{mailroom}';
    const env: Record<string, string> = {
      ...(cluster ? { REDIS_CLUSTER_NODES: cluster.nodeList } : { REDIS_URL: redis?.url ?? '' }),
      MAILROOM_PREFIX: prefix,
      MAILROOM_CONFIG: configPath,
      MAILROOM_DATA_DIR: path.join(tmp, 'data'),
      SMTP_URL: smtp.url,
      CHAOS_IMAP_PASSWORD: dovecot.password,
    };
    app = await createContext(loadConfig({ env: { ...env, MAILROOM_LOG_LEVEL: 'silent' } }), createLogger({ level: 'silent' }));

    const mail = corpus(n);
    const ids = mail.map((m) => emailIdOf(Buffer.from(m.raw, 'latin1'), SUPPORT));
    // The poison: a bug report from an unverified sender (summary, then a ticket whose webhook never
    // answers for it). Not one with a reply before its ticket: a random kill that lands on that send
    // step rightly ends the email DELIVERY_UNKNOWN (at most once), and the poison never runs.
    if (usePoison) poisonId = ids[mail.findIndex((m) => m.file.startsWith('30-'))] ?? null;

    roles.push(startRole('imap+triage', 'imap,triage', env), startRole('planner', 'planner', env));
    const execs: RoleProcess[] = [];
    for (let i = 0; i < executors; i++) execs.push(startRole(`executor-${i + 1}`, 'executor', env));
    roles.push(...execs);

    const feed = async (from: number, to: number) => {
      const client = await connectImap(dovecot as DovecotServer);
      try {
        for (let i = from; i < to; i++) await client.append('INBOX', Buffer.from(mail[i]?.raw ?? '', 'latin1'));
      } finally {
        await client.logout().catch(() => client.close());
      }
    };

    let kills = 0;
    let selfRestarts = 0;
    let poisonKills = 0;
    let redisRestarts = 0;
    let imapRestarts = 0;
    const deadline = started + timeoutMs;
    const restingCount = async () => (await app?.ledger.getMany(ids) ?? []).filter((r) => r && RESTING_STATES.includes(r.state)).length;

    // Feed half, restart Dovecot while ingest and executors are talking to it, feed the rest.
    const half = Math.floor(n / 2);
    await feed(0, half);
    log(`fed ${half} emails`);
    const chaos = (async () => {
      await sleep(1_500);
      await dovecot?.stop();
      await sleep(1_000);
      await dovecot?.start();
      imapRestarts += 1;
      log('dovecot restarted');
      await feed(half, n);
      log(`fed ${n} emails`);
    })();

    /**
     * Kills every executor while one runs the poison's step, every time, until BullMQ gives up on
     * it. A job stays in the active list after its worker died until the stall check moves it, so
     * "runs" means: its lock is held by a token we have not killed yet.
     */
    const killedTokens = new Set<string>();
    const poisonKillsByJob = new Map<string, number>();
    const poisonWatch = async () => {
      if (!poisonId || !app) return;
      const steps = app.queues.get('steps');
      const active: Job[] = await steps.getActive(0, 500).catch(() => []);
      // Only the ticket step, whose webhook never answers (its summary step before it is a read,
      // retried as any other).
      const job = active.find((j) => (j.data as { emailId?: string }).emailId === poisonId && (j.id ?? '').split('__').includes('ticket'));
      if (!job || job.deferredFailure) return;
      const token = await app.redis.get(`${prefix}:steps:${job.id}:lock`).catch(() => null);
      if (!token || killedTokens.has(token)) return;
      killedTokens.add(token);
      await Promise.all(execs.map((e) => e.kill()));
      poisonKills += 1;
      poisonKillsByJob.set(job.id ?? '', (poisonKillsByJob.get(job.id ?? '') ?? 0) + 1);
      log(`poison job ${job.id} killed its workers (${poisonKills})`);
      await sleep(300);
      for (const e of execs) e.start();
    };

    let nextKill = Date.now() + 2_000 + random() * 3_000;
    let redisRestartAt: number | null = null;
    let nextProgress = Date.now() + 10_000;
    let resting = 0;
    for (;;) {
      resting = await restingCount();
      const chaosDone = kills >= killTarget && redisRestarts >= 1 && imapRestarts >= 1;
      if ((resting === n && chaosDone) || Date.now() > deadline) break;
      if (resting === n && !chaosDone) {
        // Everything rests already: the chaos has no more work to hit.
        break;
      }
      await poisonWatch();
      // A role that exited on its own (the stuck-worker watchdog exits 75) is restarted, as its supervisor would.
      for (const r of roles) {
        if (r.pid === undefined) {
          selfRestarts += 1;
          log(`${r.name} exited on its own; restarting it (${selfRestarts})`);
          r.start();
        }
      }
      if (Date.now() >= nextProgress) {
        log(`${Math.round((Date.now() - started) / 1000)} s: ${resting}/${n} at rest, ${kills} kills`);
        nextProgress = Date.now() + 10_000;
      }
      // Kills start once mail reaches the executors, so that they hit running steps.
      if (resting === 0) nextKill = Date.now() + 1_000 + random() * 2_000;
      if (kills < killTarget && Date.now() >= nextKill) {
        const victim = execs[Math.floor(random() * execs.length)];
        if (victim) {
          await victim.kill();
          kills += 1;
          log(`killed ${victim.name} (${kills}); ${resting}/${n} at rest`);
          await sleep(200 + random() * 1_300);
          victim.start();
        }
        nextKill = Date.now() + 2_000 + random() * 4_000;
        if (kills === 2) redisRestartAt = Date.now() + 1_000;
      }
      if (redisRestarts === 0 && redisRestartAt !== null && Date.now() >= redisRestartAt) {
        const node = redis ?? (cluster ? await nodeHolding(cluster, prefix) : null);
        if (node) {
          await node.stop('SIGTERM');
          await sleep(1_500);
          await node.start();
          redisRestarts += 1;
          log(`redis restarted (port ${node.port}); ${resting}/${n} at rest`);
        }
      }
      await sleep(250);
    }
    await chaos;
    // Let anything still in flight after the last email came to rest reach the capture.
    await sleep(1_500);

    const records = await app.ledger.getMany(ids);
    const terminal: Partial<Record<EmailState, number>> = {};
    let lost = 0;
    for (const r of records) {
      if (r && RESTING_STATES.includes(r.state)) terminal[r.state] = (terminal[r.state] ?? 0) + 1;
      else lost += 1;
    }

    // Replies: mail to the customer, one per email (by the Message-ID it answers).
    const toCustomers = smtp.messages.filter((m) => !m.envelope.to.some((t) => TEAMS.includes(t.toLowerCase())));
    const toTeams = smtp.messages.filter((m) => m.envelope.to.some((t) => TEAMS.includes(t.toLowerCase())));
    const replies = extra(countBy(toCustomers, (m) => (m.parsed.inReplyTo ? `${m.parsed.inReplyTo}>${m.envelope.to.join(',')}` : null)));
    const sameMessageId = extra(countBy(smtp.messages, (m) => m.parsed.messageId ?? null));
    // Team mail (forwards, escalation notices) names the email or its ticket in the subject.
    const teamMail = extra(countBy(toTeams, (m) => `${m.envelope.to.join(',')}|${m.parsed.subject ?? ''}`));
    // Tickets and webhook events: one distinct effect per email and kind.
    const tickets = extra(countBy(Object.values(await app.redis.hgetall(app.keys.tickets())), (t) => (JSON.parse(t) as { emailId: string }).emailId));
    const distinctHooks = [...new Map(hooks.hits.map((h) => [h.key, h])).values()];
    const webhookEvents = extra(countBy(distinctHooks, (h) => `${h.event}|${h.emailId}|${h.ticketId}`));
    const webhookRedeliveries = hooks.hits.length - distinctHooks.length;
    // The mailbox: every fed message exactly once across all folders (no MOVE lost or doubled).
    const mailboxTotal = await countMailboxes(dovecot);
    const mailboxDup = Math.max(0, mailboxTotal - n);
    if (mailboxTotal < n) lost = Math.max(lost, n - mailboxTotal);

    const deadLetters = (await app.queues.get('deadLetter').getJobs(['waiting', 'completed', 'failed', 'delayed'], 0, 10_000))
      .map((j) => DeadLetterJob.safeParse(j.data))
      .flatMap((r) => (r.success ? [r.data] : []));
    const poisonRec = poisonId ? await app.ledger.get(poisonId) : null;
    const duplicates = { replies, same_message_id: sameMessageId, team_mail: teamMail, tickets, webhook_events: webhookEvents, mailbox: mailboxDup };
    return {
      emails: n,
      terminal,
      lost,
      duplicate_side_effects: Object.values(duplicates).reduce((a, b) => a + b, 0),
      duplicates,
      webhook_redeliveries: webhookRedeliveries,
      replies: toCustomers.length,
      kills: kills + poisonKills,
      self_restarts: selfRestarts,
      redis_restarts: redisRestarts,
      imap_restarts: imapRestarts,
      poison: poisonId
        ? {
            kills: poisonKills,
            max_kills_of_one_job: Math.max(0, ...poisonKillsByJob.values()),
            state: poisonRec ? `${poisonRec.state}: ${poisonRec.reason.split(':')[0] ?? ''}` : 'unknown',
            dead_lettered: deadLetters.some((d) => d.emailId === poisonId),
          }
        : null,
      dead_letters: deadLetters.length,
      cluster: Boolean(options.cluster),
      wall_s: Math.round((Date.now() - started) / 100) / 10,
    };
  } finally {
    await Promise.all(roles.map((r) => r.kill()));
    await app?.close().catch(() => undefined);
    await Promise.all([dovecot?.close(), smtp?.close(), hooks?.close(), redis?.close(), cluster?.close()].map((p) => p?.catch(() => undefined)));
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Every message in every folder of the default user. */
async function countMailboxes(dovecot: DovecotServer): Promise<number> {
  const client = await connectImap(dovecot);
  try {
    let total = 0;
    for (const box of await client.list()) {
      const status = await client.status(box.path, { messages: true });
      total += status ? (status.messages ?? 0) : 0;
    }
    return total;
  } finally {
    await client.logout().catch(() => client.close());
  }
}

/** The cluster node that holds the run's keys (its hash tag's slot). */
async function nodeHolding(cluster: TestRedisCluster, prefix: string): Promise<RedisProcess | null> {
  for (const node of cluster.nodes) {
    const c = new SingleRedis(node.port, '127.0.0.1', { lazyConnect: true });
    try {
      await c.connect();
      const keys = await c.keys(`${prefix}*`);
      if (keys.length > 0) return node;
    } finally {
      c.disconnect();
    }
  }
  return null;
}
