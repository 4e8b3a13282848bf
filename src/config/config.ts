import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { MailroomError } from '../kernel/errors.js';
import { VerificationProfile } from '../model/verification.js';
import { CategorySource, SenderTier, Verification } from '../model/trusted-context.js';
import type { ProviderName } from './providers.js';
import { ImapAccount, ImapMailboxFile, imapAddressOf, resolveImapAccounts } from './imap-config.js';
import { describeRedisTarget, parseRedisTarget } from './redis-target.js';
import { SmtpServer, SmtpServerFile, namesSmtpServer, resolveSmtpServer } from './smtp-config.js';
import { AutonomyLevel } from '../model/autonomy.js';
import { DURATION_SYNTAX, parseDuration } from '../kernel/duration.js';

/** A category name: lowercase words joined by underscores, e.g. `account_access`. */
export const CategoryName = z.string().regex(/^[a-z][a-z0-9_]{0,39}$/, 'lowercase letters, digits and _');

/** Trusted routing: mail that arrived through this alias or folder gets this category. */
export const Route = z
  .object({
    alias: z.string().email().optional(),
    folder: z.string().min(1).optional(),
    category: CategoryName,
  })
  .refine((r) => r.alias !== undefined || r.folder !== undefined, 'a route needs an alias or a folder');
export type Route = z.infer<typeof Route>;

/** A team name: what plans may name; addresses live only in config. */
export const TeamName = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'lowercase letters, digits, _ and -');

/** A team Mailroom may forward to or escalate to: the only internal recipients there are. */
export const Team = z
  .object({
    name: TeamName,
    address: z.string().email(),
    /** Shown in the To header. @defaultValue the team name */
    displayName: z.string().min(1).max(80).optional(),
  })
  .strict();
export type Team = z.infer<typeof Team>;

/** Webhook URLs (they may hold secrets): taken from config only, never from a plan. */
export const Webhooks = z
  .object({
    tickets: z.string().url().optional(),
    escalations: z.string().url().optional(),
    refunds: z.string().url().optional(),
  })
  .strict();
export type Webhooks = z.infer<typeof Webhooks>;

/** A duration: seconds as a number, or a string such as `90m`, `48h`, `7d` (src/kernel/duration.ts). */
export const Duration = z.union([z.number().int().positive(), z.string().regex(DURATION_SYNTAX, 'a duration such as 90m, 48h or 7d')]);
export type Duration = z.infer<typeof Duration>;

/** `Duration` in seconds. */
export function durationSeconds(d: Duration): number {
  return typeof d === 'number' ? d : (parseDuration(d) ?? 0) / 1000;
}

/** A reviewer's name: what the audit trail records for each decision. */
export const ReviewerName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, 'letters, digits, . _ @ -');
const EnvSecret = z.object({ env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name') }).strict();

/** The `approval` section of the config file. */
export const ApprovalFile = z
  .object({
    /** How long a parked plan waits for a human before it escalates. @defaultValue 48h */
    deadline: Duration.default('48h'),
    /** Who may sign in to Bull Board (HTTP basic auth); passwords come from the environment. @defaultValue [] */
    reviewers: z.array(z.object({ name: ReviewerName, password: EnvSecret }).strict()).default([]),
    /** How people reach Bull Board, for links in notifications. @defaultValue http://HOST:PORT (from `http`, resolved by loadConfig) */
    publicUrl: z.string().url().optional(),
    /** Tell the reviewers when a plan parks: a signed webhook (Slack-compatible `text`) and/or a mail to a team. */
    notify: z
      .object({
        webhook: z.object({ url: z.string().url(), secret: EnvSecret }).strict().optional(),
        /** A configured team (by name) that gets the notice by mail. */
        team: TeamName.optional(),
        /** Busy desks: one notice per this many minutes listing the plans parked in it, instead of one per plan. */
        digestMinutes: z.number().int().min(1).max(1440).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** How much a step may do alone: refused, suggested, parked for review, or run. Strictest first. */

/** One value or a non-empty list of them; always a list once parsed. */
const oneOrMany = <T extends z.ZodType>(item: T) => z.union([item, z.array(item).min(1)]).transform((v) => (Array.isArray(v) ? v : [v]));

/**
 * A rule of the `autonomy` section: every condition given must hold (a list means any of its
 * values); the first rule that matches a step decides its level. Limits in code
 * (src/planner/autonomy.ts) still apply on top: no rule can lift them.
 */
export const AutonomyRule = z
  .object({
    /** Shown by `policy explain`, the audit and the review screen. @defaultValue `rules[i]` */
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/, 'letters, digits, space . _ -').optional(),
    /** Tool names (write and external tools; read tools always run). @defaultValue any tool */
    tool: oneOrMany(z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'a tool name')).optional(),
    /** Category names (configured categories or `unknown`). @defaultValue any category */
    category: oneOrMany(CategoryName).optional(),
    /** Where the category came from: a routing rule (trusted) or the classifier (an attacker can choose it). @defaultValue either */
    source: CategorySource.optional(),
    /** Account tier of the verified sender; `none` when no account was found. @defaultValue any */
    tier: oneOrMany(SenderTier).optional(),
    /** How the sender was verified; `unverified` when not. @defaultValue any */
    verified: oneOrMany(Verification).optional(),
    /** For money tools (issue_refund): the largest amount this rule lets run alone; above it the step parks. Required for `auto` on money. */
    maxAmount: z.number().positive().max(1_000_000).optional(),
    level: AutonomyLevel,
  })
  .strict();
export type AutonomyRule = z.infer<typeof AutonomyRule>;

/** The `autonomy` section: how much each step may do alone (see the README's "Autonomy"). */
export const AutonomyFile = z
  .object({
    /** Checked in order; the first match decides. @defaultValue [] */
    rules: z.array(AutonomyRule).max(200).default([]),
    /**
     * The level of a step no rule matches. @defaultValue today's policy: `review` for tools that
     * declare they need approval (money, deletion, account changes, mail to others), `auto` otherwise
     */
    default: AutonomyLevel.optional(),
  })
  .strict();
export type AutonomyFile = z.infer<typeof AutonomyFile>;

/**
 * Parse limits in the config file; every key optional. The parser's own fallbacks for callers
 * without a config (`DEFAULT_PARSE_LIMITS` in src/ingest/parse-email.ts, kept out of this module so
 * the parse thread does not load it) must equal these: test/config-defaults.test.ts compares them.
 */
export const ParseLimitsFile = z
  .object({
    /** Largest single attachment, in bytes. @defaultValue 10485760 (10 MiB) */
    maxAttachmentBytes: z.number().int().positive().default(10 * 1024 * 1024),
    /** Most attachments in one message. @defaultValue 50 */
    maxAttachments: z.number().int().min(0).default(50),
    /** Deepest MIME nesting (multipart inside multipart …). @defaultValue 20 */
    maxMimeDepth: z.number().int().min(1).max(100).default(20),
    /** Most header lines in the top-level header. @defaultValue 500 */
    maxHeaderLines: z.number().int().min(10).default(500),
    /** Longest single header field (unfolded), in bytes. @defaultValue 65536 (64 KiB) */
    maxHeaderFieldBytes: z.number().int().min(1024).max(1024 * 1024).default(64 * 1024),
  })
  .strict();

/**
 * The verification profile the IMAP accounts' provider presets imply: a mailbox hosted at Google,
 * Microsoft 365 or Fastmail reads that provider's Authentication-Results. Only when every account
 * names the same provider; otherwise (or with none) `generic`, the self-run MTA's rule.
 */
export function profileOfProviders(providers: readonly ProviderName[]): VerificationProfile {
  const [first, ...rest] = providers;
  if (first === undefined || rest.some((p) => p !== first)) return 'generic';
  return first === 'google' ? 'gmail' : first === 'microsoft365' ? 'microsoft365' : first === 'fastmail' ? 'fastmail' : 'generic';
}

/**
 * The start-up warning for a milter profile that can verify nobody behind Postfix, or null:
 * Postfix puts the milter's Authentication-Results directly below its own Received line, where
 * they count only with `verification.inboundResultsRemoved`, and with `localSenderVerification`
 * off nothing else verifies a sender.
 */
export function verificationAdvice(config: Pick<Config, 'localSenderVerification' | 'verification'>): string | null {
  const v = config.verification;
  if ((v.profile !== 'rspamd' && v.profile !== 'opendkim-opendmarc') || v.inboundResultsRemoved || config.localSenderVerification) return null;
  return `verification: profile ${v.profile} with localSenderVerification and verification.inboundResultsRemoved off: behind Postfix, whose milters' Authentication-Results stand below its Received, no sender can be verified (README, Sender verification)`;
}

/** A DNS server for the local check: an IPv4 address or `[IPv6]`, with an optional `:port`. */
const DnsServer = z.string().regex(/^(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\])(?::\d{1,5})?$/, 'an IP address with an optional :port, IPv6 in brackets');

/** The `verification` section: who writes the Authentication-Results we believe, and what verified requires. */
export const VerificationFile = z
  .object({
    /**
     * Who writes the Authentication-Results: a self-run MTA (`rspamd`, `opendkim-opendmarc`, `generic`) or a provider (`gmail`, `microsoft365`, `fastmail`).
     * @defaultValue derived (see `derivedDefaults`): the IMAP accounts' common provider, else generic
     */
    profile: VerificationProfile.optional(),
    /** The `by` host of our MTA's own Received line (self-run profiles). @defaultValue derived (see `derivedDefaults`): authservId */
    receivedBy: z.string().min(1).max(255).optional(),
    /**
     * Our MTA deletes every Authentication-Results header a sender wrote before its milter adds its
     * own (Postfix: the header_checks rule in the README), so those of our id directly below our
     * hop's Received line count too (self-run profiles), where Postfix puts rspamd's. A promise
     * about the MTA: set it without the rule and a sender's forged header is believed. @defaultValue false
     */
    inboundResultsRemoved: z.boolean().default(false),
    /** More addresses that are us, besides the mailbox, aliases and IMAP accounts (e.g. an address that forwards to support). @defaultValue [] */
    addresses: z.array(z.string().email()).default([]),
    /** How old a signed Date may be when our MTA receives the mail (a duration), or null for no window. @defaultValue 14d */
    maxAge: Duration.nullable().default('14d'),
    /** DNS servers the local DKIM/DMARC check asks. @defaultValue the system's resolver */
    dnsServers: z.array(DnsServer).min(1).max(8).optional(),
  })
  .strict();

/**
 * The configuration file (JSON). Every key is optional; paths are relative to the file. Each
 * default is given here (`.default`, or `.prefault` where a section's own keys carry them), except
 * the few that depend on other settings: those are in `derivedDefaults`.
 */
export const ConfigFile = z
  .object({
    /** The support mailbox Mailroom answers from. @defaultValue support@localhost.localdomain */
    mailbox: z
      .object({
        address: z.string().email(),
        /** Display name on outbound mail. @defaultValue "Support" */
        name: z.string().min(1).max(80).default('Support'),
        /**
         * Shadow mode for mail taken in for this mailbox (`mailroom process`) and the default of
         * every IMAP mailbox: plan everything, act on nothing. @defaultValue false
         */
        shadow: z.boolean().default(false),
      })
      .strict()
      .prefault({ address: 'support@localhost.localdomain' }),
    /** authserv-id of our own MTA: only its Authentication-Results are believed. */
    authservId: z.string().min(1).optional(),
    /** Sender addresses whose mail is trusted without DMARC/DKIM (e.g. an internal relay). @defaultValue [] */
    trustedSenders: z.array(z.string().email()).default([]),
    /** The closed set of categories the classifier may answer (plus `unknown`). */
    categories: z.array(CategoryName).min(1).default(['billing', 'refund', 'bug', 'account_access', 'feature_request', 'spam']),
    /** Trusted routing by alias or folder. @defaultValue [] */
    routes: z.array(Route).default([]),
    /** JSON file of customer accounts (see examples/accounts.json). */
    accountsFile: z.string().min(1).optional(),
    /** Folder of markdown knowledge-base articles. */
    kbDir: z.string().min(1).optional(),
    /** Link prefixes a drafted reply may contain besides those of the KB article it uses. @defaultValue [] */
    allowedLinks: z.array(z.string().url()).default([]),
    /**
     * Outbound mail: a `url`, or a server (`provider` preset and/or `host`, `port`, `tls`, `user`
     * with `password` or `oauth2`; src/config/smtp-config.ts). Neither → replies are written to `outboxDir`.
     */
    smtp: SmtpServerFile.extend({
      /** smtp:// or smtps:// URL with credentials; `SMTP_URL` overrides it and any server given here. */
      url: z.string().url().optional(),
      /** Where replies are written when no server is set. @defaultValue derived (see `derivedDefaults`): `outbox` in the data folder */
      outboxDir: z.string().min(1).optional(),
    })
      .strict()
      .prefault({}),
    /** Largest raw message accepted, in bytes. @defaultValue 26214400 (25 MiB) */
    maxMessageBytes: z.number().int().positive().default(25 * 1024 * 1024),
    /** How long email content stays in Redis, in seconds (the older name of `retention.content`). @defaultValue derived (see `derivedDefaults`) */
    contentTtlSeconds: z.number().int().positive().optional(),
    /** How long Mailroom keeps what it knows about an email (see README "Data and retention"). */
    retention: z
      .object({
        /** How long an email's history (record, audit trail, labels) is kept, from its last change; older is deleted daily. @defaultValue 400d */
        history: Duration.default('400d'),
        /**
         * How long email text (the raw message, what was parsed and drafted from it) and the run
         * records holding the sender's address stay in Redis. Optional because `contentTtlSeconds` may
         * give it instead. @defaultValue derived (see `derivedDefaults`): 14d, raised to the approval deadline + 1h if shorter
         */
        content: Duration.optional(),
        /** How long an email rests (terminal state) before the daemon moves its history out of Redis into the store. @defaultValue 14d */
        archiveAfter: Duration.default('14d'),
      })
      .strict()
      .prefault({}),
    /** Executor concurrency per process. @defaultValue 8 */
    concurrency: z.number().int().min(1).max(256).default(8),
    /**
     * How long a worker's job lock lasts, in ms; a crashed worker's job is re-delivered after
     * about this long. @defaultValue 30000
     */
    lockDurationMs: z.number().int().min(500).max(600_000).default(30_000),
    /** Replans allowed per email after failed steps, before a human takes over. @defaultValue 2 */
    maxReplans: z.number().int().min(0).max(5).default(2),
    /**
     * Ceilings on automatic replies (RFC 3834 etiquette and flood protection). A reply over any
     * of them is not sent; it parks for a human with the limit named. 0 parks every reply.
     */
    replyLimits: z
      .object({
        /** Replies to one sender mailbox (address normalised: case, `+tag`, Gmail dots) per rolling 24 hours. @defaultValue 5 */
        perSenderPerDay: z.number().int().min(0).default(5),
        /** Replies to one registrable domain (eTLD+1: subdomains count as their domain) per rolling hour. @defaultValue 100 */
        perDomainPerHour: z.number().int().min(0).default(100),
        /** Replies within one case (an email and its follow-ups) per rolling 24 hours: a loop inside one thread stops at once. @defaultValue 2 */
        perCasePerDay: z.number().int().min(0).default(2),
        /** Replies in total per rolling hour, across all senders. @defaultValue 1000 */
        globalPerHour: z.number().int().min(0).default(1000),
        /**
         * The largest fraction of `globalPerHour` that one registrable domain may take per hour, on
         * top of `perDomainPerHour`: raising `perDomainPerHour` for a big provider never lets one
         * domain (or one attacker's domain) use up the budget every other customer shares. A cap,
         * not a reservation: simple, atomic with the other windows, and an attacker needs
         * 1 / share registrable domains to fill the budget. @defaultValue 0.5
         */
        maxDomainShare: z.number().min(0).max(1).default(0.5),
      })
      .strict()
      .prefault({}),
    /** Teams that forward_to_team may name (and escalate may notify). @defaultValue [] */
    teams: z.array(Team).default([]),
    /** escalate also mails this configured team (by name). @defaultValue none */
    escalation: z.object({ team: TeamName.optional() }).strict().default({}),
    /** POST targets for tickets, escalations and refunds. @defaultValue none */
    webhooks: Webhooks.default({}),
    /** The largest refund issue_refund performs, in the order's currency. @defaultValue 100 */
    refunds: z.object({ maxAmount: z.number().positive().max(1_000_000).default(100) }).strict().prefault({}),
    /** IMAP mailboxes to watch (see src/config/imap-config.ts). @defaultValue [] */
    imap: z.array(ImapMailboxFile).default([]),
    /** Parse limits; over-limit mail is quarantined with the reason. */
    limits: ParseLimitsFile.prefault({}),
    /** Verify DKIM and DMARC alignment locally (DNS) when no trusted Authentication-Results exist. @defaultValue true */
    localSenderVerification: z.boolean().default(true),
    /** What a verified sender requires (see README "Sender verification"). */
    verification: VerificationFile.prefault({}),
    /** The `web` role's HTTP server (/healthz, /metrics, Bull Board at /admin/queues). */
    http: z
      .object({
        /** @defaultValue 127.0.0.1 */
        host: z.string().min(1).default('127.0.0.1'),
        /** `MAILROOM_HTTP_PORT` wins over it. @defaultValue 9310 */
        port: z.number().int().min(0).max(65535).default(9310),
        /** Whether /metrics needs a reviewer's credentials (`auth`) or is open (`open`). @defaultValue auth */
        metrics: z.enum(['auth', 'open']).default('auth'),
      })
      .strict()
      .prefault({}),
    /** Human review of parked plans (see the README's "Reviewing parked plans"). */
    approval: ApprovalFile.prefault({}),
    /** Per-step autonomy rules, inside limits no rule can lift (see the README's "Autonomy"). @defaultValue today's policy */
    autonomy: AutonomyFile.prefault({}),
  })
  .strict();
export type ConfigFile = z.infer<typeof ConfigFile>;

/** Ceilings on automatic replies, each over a rolling window (see the README's "Mail etiquette"); defaults in {@link ConfigFile} `replyLimits`. */
export const ReplyLimits = z.object({
  perSenderPerDay: z.number().int().min(0),
  perDomainPerHour: z.number().int().min(0),
  perCasePerDay: z.number().int().min(0),
  globalPerHour: z.number().int().min(0),
  maxDomainShare: z.number().min(0).max(1),
});
export type ReplyLimits = z.infer<typeof ReplyLimits>;

/** The reply ceilings of a config file that sets none: the schema's defaults, read from it. */
export const DEFAULT_REPLY_LIMITS: ReplyLimits = ConfigFile.shape.replyLimits.parse(undefined);

const LogLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
const Prefix = z.string().regex(/^\{[A-Za-z0-9_-]+\}$/, 'a hash-tagged name such as {mailroom}');

/** The resolved configuration every component receives. */
export const Config = z.object({
  /**
   * `REDIS_URL` (`redis://`, `rediss://` for TLS, `redis+cluster://h1:p1,h2:p2` or
   * `rediss+cluster://user:pass@h1:p1,…` for a Redis Cluster), or `REDIS_CLUSTER_NODES` (`h1:p1,h2:p2`)
   * written as a `redis+cluster://` URL. Unset → a private embedded redis-server under `dataDir`.
   */
  redisUrl: z.string().min(1).optional(),
  /** `REDIS_TLS_CA_FILE`: PEM of the CA behind a `rediss://` server's certificate. @defaultValue the system CAs */
  redisTlsCaFile: z.string().min(1).optional(),
  /** `MAILROOM_DATA_DIR`. @defaultValue `.mailroom` in the working directory */
  dataDir: z.string(),
  /**
   * `DATABASE_URL` (`postgres://user:pass@host:5432/db`, `postgresql://…`): the history store in
   * PostgreSQL, shared by several hosts. Holds a password: never log it (src/kernel/logger.ts redacts it).
   * @defaultValue unset: an SQLite file, `dataDir/history.sqlite`
   */
  databaseUrl: z.string().min(1).optional(),
  /** `MAILROOM_PREFIX`: key prefix; hash-tagged so a Redis Cluster keeps one slot. @defaultValue `{mailroom}` */
  prefix: Prefix,
  /** `MAILROOM_LOG_LEVEL`. @defaultValue `info` (the CLI's one-shot commands use `warn`) */
  logLevel: LogLevel,
  openai: z
    .object({
      apiKey: z.string().min(1),
      baseUrl: z.string().url().optional(),
      model: z.string().min(1),
      timeoutMs: z.number().int().positive(),
      maxRetries: z.number().int().min(0).max(10),
    })
    .optional(),
  mailbox: z.object({ address: z.string().email(), name: z.string() }),
  /** Shadow mode for mail of `mailbox` (the file source); IMAP mailboxes carry their own. @defaultValue false */
  shadow: z.boolean().default(false),
  authservId: z.string().optional(),
  trustedSenders: z.array(z.string()),
  categories: z.array(CategoryName),
  routes: z.array(Route),
  accountsFile: z.string().optional(),
  kbDir: z.string().optional(),
  allowedLinks: z.array(z.string()),
  /** `url` (SMTP_URL or the file's) wins over `server`; neither → the outbox folder. */
  smtp: z.object({ url: z.string().optional(), server: SmtpServer.optional(), outboxDir: z.string() }),
  maxMessageBytes: z.number().int().positive(),
  contentTtlSeconds: z.number().int().positive(),
  /** Resolved `retention`: history kept this long (seconds, from an email's last change); emails at rest archived after `archiveAfterSeconds`. */
  retention: z.object({ historySeconds: z.number().int().positive(), archiveAfterSeconds: z.number().int().min(0) }),
  concurrency: z.number().int().positive(),
  lockDurationMs: z.number().int().positive(),
  maxReplans: z.number().int().min(0),
  /** Resolved reply ceilings; see {@link ConfigFile} `replyLimits`. */
  replyLimits: ReplyLimits,
  teams: z.array(Team),
  escalation: z.object({ team: TeamName.optional() }),
  webhooks: Webhooks,
  refunds: z.object({ maxAmount: z.number().positive() }),
  imap: z.array(ImapAccount),
  limits: z.object({
    maxAttachmentBytes: z.number().int().positive(),
    maxAttachments: z.number().int().min(0),
    maxMimeDepth: z.number().int().positive(),
    maxHeaderLines: z.number().int().positive(),
    maxHeaderFieldBytes: z.number().int().positive(),
  }),
  localSenderVerification: z.boolean(),
  verification: z.object({
    profile: VerificationProfile,
    receivedBy: z.string().optional(),
    /** Our MTA deletes sender-written Authentication-Results: ours directly below our hop count too. */
    inboundResultsRemoved: z.boolean(),
    /** Every address that is us, lowercased: the mailbox, route aliases, IMAP accounts and `verification.addresses`. */
    ourAddresses: z.array(z.string()),
    /** Null: no Date window. */
    maxAgeSeconds: z.number().int().positive().nullable(),
    dnsServers: z.array(z.string()).optional(),
  }),
  http: z.object({ host: z.string(), port: z.number().int().min(0).max(65535), metrics: z.enum(['auth', 'open']) }),
  approval: z.object({
    /** Seconds a parked plan waits before it escalates; content lives at least this long. */
    deadlineSeconds: z.number().int().positive(),
    /** Named reviewers with their passwords; empty → a password is generated at start (loopback only). */
    reviewers: z.array(z.object({ name: ReviewerName, password: z.string().min(1) })),
    /** Where links in notices point, without a trailing slash: the configured URL, else the web role's own address. */
    publicUrl: z.string(),
    webhook: z.object({ url: z.string().url(), secret: z.string().min(1) }).optional(),
    /** The team mailed about parked plans. */
    notifyTeam: TeamName.optional(),
    digestMinutes: z.number().int().positive().optional(),
  }),
  /** Resolved autonomy rules; checked against the tool registry and the limits when the context is built. */
  autonomy: z.object({ rules: z.array(AutonomyRule), default: AutonomyLevel.optional() }),
});
export type Config = z.infer<typeof Config>;

/**
 * The environment Mailroom reads (besides the variables a config file names for its secrets), with
 * its defaults. An empty variable counts as unset.
 */
export const Env = z.object({
  REDIS_URL: z.string().min(1).optional(),
  REDIS_CLUSTER_NODES: z.string().min(1).optional(),
  REDIS_TLS_CA_FILE: z.string().min(1).optional(),
  DATABASE_URL: z.string().min(1).optional(),
  MAILROOM_CONFIG: z.string().min(1).optional(),
  /** Relative to the working directory. */
  MAILROOM_DATA_DIR: z.string().min(1).default('.mailroom'),
  MAILROOM_PREFIX: Prefix.default('{mailroom}'),
  MAILROOM_LOG_LEVEL: LogLevel.default('info'),
  OPENAI_API_KEY: z.string().min(1).optional(),
  OPENAI_BASE_URL: z.string().url('OPENAI_BASE_URL must be a URL').optional(),
  OPENAI_MODEL: z.string().min(1).default('gpt-4.1-mini'),
  OPENAI_TIMEOUT_MS: z.coerce.number().int().positive().default(30_000),
  SMTP_URL: z.string().url('SMTP_URL must be a URL such as smtp://user:pass@host:587').optional(),
  /** Wins over the config file's `http.port`. */
  MAILROOM_HTTP_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /** `name:password,name:password`: Bull Board reviewers, besides those in the config file. */
  MAILROOM_REVIEWERS: z.string().optional(),
});
export type Env = z.infer<typeof Env>;

/** `MAILROOM_REVIEWERS` and the config file's reviewers, resolved; problems are collected. */
function resolveReviewers(
  file: ConfigFile['approval'],
  env: Record<string, string | undefined>,
  fromEnv: string | undefined,
  problems: string[],
): Array<{ name: string; password: string }> {
  const out: Array<{ name: string; password: string }> = [];
  for (const [i, r] of file.reviewers.entries()) {
    const password = env[r.password.env];
    if (password) out.push({ name: r.name, password });
    else problems.push(`approval.reviewers.${i}.password: environment variable ${r.password.env} is not set`);
  }
  for (const entry of (fromEnv ?? '').split(',').map((e) => e.trim()).filter(Boolean)) {
    const at = entry.indexOf(':');
    const name = ReviewerName.safeParse(entry.slice(0, Math.max(0, at)));
    if (at < 1 || !name.success || at === entry.length - 1) problems.push('MAILROOM_REVIEWERS: each entry is name:password');
    else out.push({ name: name.data, password: entry.slice(at + 1) });
  }
  const names = out.map((r) => r.name);
  if (new Set(names).size !== names.length) problems.push('approval.reviewers: reviewer names must be unique');
  return out;
}

/**
 * The configuration with every mailbox in shadow mode (`--shadow` for one run). There is no way
 * the other way round: mail taken in while in shadow stays in shadow.
 */
export function inShadow(config: Config): Config {
  return deepFreeze({ ...config, shadow: true, imap: config.imap.map((a) => ({ ...a, shadow: true })) });
}

/**
 * `value`, frozen all the way down. The configuration is read by every component of a process
 * at once; frozen, a component that changed it for itself would throw instead of changing it for
 * all the others.
 */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** MAILROOM_CONFIG_INVALID with every problem found in the environment and the config file. */
export class ConfigInvalidError extends MailroomError {
  /** One per problem, each `key.path: what is wrong` (the key an environment variable or a config-file path). */
  readonly problems: readonly string[];

  constructor(problems: readonly string[], configFile: string | undefined) {
    // One line: the CLI prints the message as its one error line.
    const where = configFile === undefined ? 'configuration' : `configuration (${configFile})`;
    super('CONFIG_INVALID', `${where}: ${problems.length > 1 ? `${problems.length} problems: ` : ''}${problems.join('; ')}`);
    this.problems = Object.freeze([...problems]);
  }
}

function emptyToUndefined(env: NodeJS.ProcessEnv): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) out[k] = v === '' ? undefined : v;
  return out;
}

/** One problem line per issue, `key.path: message`; an unknown key is a problem of its own path. */
function issueLines(error: z.ZodError): string[] {
  const at = (path: readonly PropertyKey[]) => (path.length ? path.map(String).join('.') : '(root)');
  return error.issues.flatMap((i) => (i.code === 'unrecognized_keys' ? i.keys.map((k) => `${at([...i.path, k])}: unknown key`) : [`${at(i.path)}: ${i.message}`]));
}

/** The top-level keys (environment variables, config-file sections) that the issues are about. */
function keysInTrouble(error: z.ZodError): Set<string> {
  return new Set(error.issues.flatMap((i) => (i.path.length ? [String(i.path[0])] : i.code === 'unrecognized_keys' ? i.keys : [])));
}

/**
 * Parses `input` with `schema`, collecting its problems instead of stopping at them. The keys in
 * trouble are left out and parsed again, so they take their defaults: the checks across keys then
 * still run on the rest (and skip what depends on a key in `broken`), and one error names every
 * problem.
 */
function parseCollecting<S extends z.ZodObject>(schema: S, input: unknown, problems: string[]): { data: z.infer<S>; broken: ReadonlySet<string> } {
  const first = schema.safeParse(input);
  if (first.success) return { data: first.data, broken: new Set() };
  problems.push(...issueLines(first.error));
  const broken = keysInTrouble(first.error);
  const rest = typeof input === 'object' && input !== null && !Array.isArray(input) ? Object.fromEntries(Object.entries(input).filter(([k]) => !broken.has(k))) : {};
  const second = schema.safeParse(rest);
  return { data: second.success ? second.data : schema.parse({}), broken };
}

/** The JSON of the config file, or undefined with the problem collected. */
function readConfigJson(file: string, problems: string[]): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const reason = err instanceof Error && 'code' in err ? String(err.code) : 'unreadable';
    problems.push(`config file ${file} cannot be read (${reason})`);
    return undefined;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    problems.push(`config file ${file} is not valid JSON (${(err as Error).message})`);
    return undefined;
  }
}

/** Nodemailer reads any other scheme as the name of a transport plugin (and fails much later). */
function smtpUrlProblem(url: string | undefined, key: string): string | null {
  if (url === undefined) return null;
  const scheme = URL.canParse(url) ? new URL(url).protocol : undefined;
  if (scheme === 'smtp:' || scheme === 'smtps:') return null;
  return `${key}: must be an smtp:// or smtps:// URL (got ${scheme ? `${scheme}//…` : 'no URL'})`;
}

/** What is wrong with `DATABASE_URL`, without repeating it (it holds a password); null when it is a PostgreSQL URL. */
function databaseUrlProblem(url: string | undefined): string | null {
  if (url === undefined) return null;
  const parsed = URL.canParse(url) ? new URL(url) : undefined;
  if (!parsed) return 'DATABASE_URL: not a URL; expected postgres://user:password@host:5432/database';
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') return `DATABASE_URL: scheme ${parsed.protocol} is not postgres: or postgresql: (unset it to keep the history in an SQLite file)`;
  // A Unix socket is named by ?host=/run/postgresql instead.
  if (!parsed.hostname && !parsed.searchParams.get('host')) return 'DATABASE_URL: no host; expected postgres://user:password@host:5432/database';
  return null;
}

function directoryProblem(key: string, dir: string | undefined): string | null {
  if (dir === undefined) return null;
  try {
    if (statSync(dir).isDirectory()) return null;
    return `${key}: ${dir} is not a folder`;
  } catch {
    return `${key}: folder ${dir} does not exist`;
  }
}

/**
 * The defaults that depend on other settings: the only ones not written in the schemas above.
 * - `retention.content`: `contentTtlSeconds` (its older name, in seconds), else 14d; raised to the
 *   approval deadline + 1 h, so a parked plan's email can still be read when its deadline comes.
 * - `verification.profile`: the profile the IMAP accounts' provider presets imply ({@link profileOfProviders}).
 * - `verification.receivedBy`: `authservId`; lowercased, as the Received line's `by` is compared.
 * - `smtp.outboxDir`: `outbox` in the data folder (a path given is relative to the config file).
 */
function derivedDefaults(
  file: ConfigFile,
  dirs: { dataDir: string; base: string },
): { contentTtlSeconds: number; profile: VerificationProfile; receivedBy: string | undefined; outboxDir: string } {
  const deadlineSeconds = durationSeconds(file.approval.deadline);
  return {
    contentTtlSeconds: Math.max(file.contentTtlSeconds ?? durationSeconds(file.retention.content ?? '14d'), deadlineSeconds + 3600),
    profile: file.verification.profile ?? profileOfProviders(file.imap.map((a) => a.provider)),
    receivedBy: (file.verification.receivedBy ?? file.authservId)?.toLowerCase(),
    outboxDir: file.smtp.outboxDir === undefined ? path.join(dirs.dataDir, 'outbox') : path.resolve(dirs.base, file.smtp.outboxDir),
  };
}

/**
 * The checks across keys of the resolved configuration: a team named in one section must be
 * configured in `teams`, a rule's category in `categories`. A check whose other key did not parse
 * (it is in `broken`, and took its default) is skipped: it would only report a follow-on problem.
 */
function crossKeyProblems(
  config: {
    teams: readonly Team[];
    categories: readonly string[];
    escalation: { team?: string | undefined };
    approval: { notifyTeam?: string | undefined };
    autonomy: { rules: readonly AutonomyRule[] };
  },
  broken: ReadonlySet<string>,
): string[] {
  const problems: string[] = [];
  if (!broken.has('teams')) {
    const teamNames = config.teams.map((t) => t.name);
    if (new Set(teamNames).size !== teamNames.length) problems.push('teams: team names must be unique');
    const notifyTeam = config.approval.notifyTeam;
    if (notifyTeam !== undefined && !teamNames.includes(notifyTeam)) problems.push(`approval.notify.team: "${notifyTeam}" is not one of the configured teams`);
    const escalationTeam = config.escalation.team;
    if (escalationTeam !== undefined && !teamNames.includes(escalationTeam)) problems.push(`escalation.team: "${escalationTeam}" is not one of the configured teams`);
  }
  if (!broken.has('categories')) {
    const known = [...config.categories, 'unknown'];
    for (const [i, rule] of config.autonomy.rules.entries()) {
      const stray = rule.category?.find((c) => !known.includes(c));
      if (stray !== undefined) problems.push(`autonomy.rules.${i}${rule.name ? ` ("${rule.name}")` : ''}: category "${stray}" is not one of the configured categories`);
    }
  }
  return problems;
}

/**
 * Reads the environment and the optional config file once, validates both, and reports every
 * problem (of the environment, of the file's keys, and across keys) in one ConfigInvalidError
 * (MAILROOM_CONFIG_INVALID). The configuration it returns is frozen.
 */
export function loadConfig(options: {
  env?: NodeJS.ProcessEnv;
  configPath?: string;
  cwd?: string;
  overrides?: Partial<Config>;
  /**
   * For commands that never touch IMAP or serve the web (pending, approve, status, audit): the
   * `imap` section is left unresolved and no secret (IMAP, reviewers, webhook) needs to be set.
   */
  withoutSecrets?: boolean;
}): Config {
  const cwd = options.cwd ?? process.cwd();
  const rawEnv = emptyToUndefined(options.env ?? process.env);
  const problems: string[] = [];
  const { data: env } = parseCollecting(Env, rawEnv, problems);
  const configPath = options.configPath ?? env.MAILROOM_CONFIG;
  const configFile = configPath === undefined ? undefined : path.resolve(cwd, configPath);
  const json = configFile === undefined ? {} : readConfigJson(configFile, problems);
  const { data: file, broken } = parseCollecting(ConfigFile, json ?? {}, problems);
  const base = configFile === undefined ? cwd : path.dirname(configFile);
  const rel = (p: string | undefined) => (p === undefined ? undefined : path.resolve(base, p));
  const dataDir = path.resolve(cwd, env.MAILROOM_DATA_DIR);
  const derived = derivedDefaults(file, { dataDir, base });
  const { shadow, ...mailbox } = file.mailbox;
  // Commands that never touch IMAP (pending, approve, status, …) do not need its secrets.
  const imap = options.withoutSecrets ? { accounts: [], problems: [] } : resolveImapAccounts(file.imap, rawEnv, base, mailbox.address, shadow);
  problems.push(...imap.problems);
  const secretProblems: string[] = [];
  const reviewers = resolveReviewers(file.approval, rawEnv, env.MAILROOM_REVIEWERS, secretProblems);
  const webhookSecret = file.approval.notify?.webhook ? rawEnv[file.approval.notify.webhook.secret.env] : undefined;
  const http = { host: file.http.host, port: env.MAILROOM_HTTP_PORT ?? file.http.port, metrics: file.http.metrics };
  const { url: smtpFileUrl, outboxDir: _outboxDir, ...smtpServerFile } = file.smtp;
  if (smtpFileUrl && namesSmtpServer(smtpServerFile)) problems.push('smtp: set url or a server (provider, host, user, …), not both');
  const smtpUrl = env.SMTP_URL ?? smtpFileUrl;
  const smtpProblem = smtpUrlProblem(smtpUrl, env.SMTP_URL === undefined ? 'smtp.url' : 'SMTP_URL');
  if (smtpProblem) problems.push(smtpProblem);
  const databaseProblem = databaseUrlProblem(env.DATABASE_URL);
  if (databaseProblem) problems.push(databaseProblem);
  const kbProblem = directoryProblem('kbDir', rel(file.kbDir));
  if (kbProblem) problems.push(kbProblem);
  const smtpServer = !smtpUrl && namesSmtpServer(smtpServerFile) ? resolveSmtpServer(smtpServerFile, rawEnv, base, secretProblems) : undefined;
  if (!options.withoutSecrets) problems.push(...secretProblems);
  if (file.approval.notify?.webhook && !webhookSecret && !options.withoutSecrets) {
    problems.push(`approval.notify.webhook.secret: environment variable ${file.approval.notify.webhook.secret.env} is not set`);
  }
  if (file.contentTtlSeconds !== undefined && file.retention.content !== undefined) problems.push('retention.content and contentTtlSeconds: set one (contentTtlSeconds is its older name)');

  // Parsed here so that a wrong Redis setting is reported at start, with the other problems.
  let redisTarget: ReturnType<typeof parseRedisTarget>;
  try {
    redisTarget = parseRedisTarget({ url: env.REDIS_URL, clusterNodes: env.REDIS_CLUSTER_NODES });
  } catch (err) {
    if (!(err instanceof MailroomError)) throw err;
    problems.push(err.message);
  }
  const candidate = {
    redisUrl: redisTarget ? (env.REDIS_URL ?? describeRedisTarget(redisTarget)) : undefined,
    redisTlsCaFile: env.REDIS_TLS_CA_FILE === undefined ? undefined : path.resolve(cwd, env.REDIS_TLS_CA_FILE),
    dataDir,
    databaseUrl: env.DATABASE_URL,
    prefix: env.MAILROOM_PREFIX,
    logLevel: env.MAILROOM_LOG_LEVEL,
    openai: env.OPENAI_API_KEY
      ? {
          apiKey: env.OPENAI_API_KEY,
          baseUrl: env.OPENAI_BASE_URL,
          model: env.OPENAI_MODEL,
          timeoutMs: env.OPENAI_TIMEOUT_MS,
          maxRetries: 2,
        }
      : undefined,
    mailbox,
    shadow,
    authservId: file.authservId,
    trustedSenders: file.trustedSenders.map((s) => s.toLowerCase()),
    categories: file.categories,
    routes: file.routes,
    accountsFile: rel(file.accountsFile),
    kbDir: rel(file.kbDir),
    allowedLinks: file.allowedLinks,
    smtp: {
      url: smtpUrl,
      ...(smtpServer ? { server: smtpServer } : {}),
      outboxDir: derived.outboxDir,
    },
    maxMessageBytes: file.maxMessageBytes,
    contentTtlSeconds: derived.contentTtlSeconds,
    retention: {
      historySeconds: durationSeconds(file.retention.history),
      archiveAfterSeconds: durationSeconds(file.retention.archiveAfter),
    },
    concurrency: file.concurrency,
    lockDurationMs: file.lockDurationMs,
    maxReplans: file.maxReplans,
    replyLimits: file.replyLimits,
    teams: file.teams,
    escalation: file.escalation,
    webhooks: file.webhooks,
    refunds: file.refunds,
    imap: imap.accounts,
    limits: file.limits,
    localSenderVerification: file.localSenderVerification,
    verification: {
      profile: derived.profile,
      receivedBy: derived.receivedBy,
      inboundResultsRemoved: file.verification.inboundResultsRemoved,
      ourAddresses: [
        ...new Set(
          [mailbox.address, ...file.routes.flatMap((r) => (r.alias ? [r.alias] : [])), ...file.imap.map((a) => imapAddressOf(a, mailbox.address)), ...file.verification.addresses].map((a) => a.toLowerCase()),
        ),
      ],
      maxAgeSeconds: file.verification.maxAge === null ? null : durationSeconds(file.verification.maxAge),
      ...(file.verification.dnsServers ? { dnsServers: file.verification.dnsServers } : {}),
    },
    http,
    approval: {
      deadlineSeconds: durationSeconds(file.approval.deadline),
      reviewers,
      publicUrl: (file.approval.publicUrl ?? `http://${http.host}:${http.port}`).replace(/\/+$/, ''),
      webhook: file.approval.notify?.webhook && webhookSecret ? { url: file.approval.notify.webhook.url, secret: webhookSecret } : undefined,
      notifyTeam: file.approval.notify?.team,
      digestMinutes: file.approval.notify?.digestMinutes,
    },
    autonomy: { rules: file.autonomy.rules, ...(file.autonomy.default ? { default: file.autonomy.default } : {}) },
    ...options.overrides,
  };
  const parsed = Config.safeParse(candidate);
  if (!parsed.success) problems.push(...issueLines(parsed.error));
  problems.push(...crossKeyProblems(candidate, broken));
  if (problems.length > 0 || !parsed.success) throw new ConfigInvalidError(problems, configFile);
  return deepFreeze(parsed.data);
}
