import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { MailroomError } from './errors.js';
import { ImapAccount, ImapMailboxFile, resolveImapAccounts } from './ingest/imap-config.js';

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

/** Parse limits in the config file; every key optional. */
export const ParseLimitsFile = z
  .object({
    /** Largest single attachment, in bytes. @defaultValue 10485760 (10 MiB) */
    maxAttachmentBytes: z.number().int().positive().optional(),
    /** Most attachments in one message. @defaultValue 50 */
    maxAttachments: z.number().int().min(0).optional(),
    /** Deepest MIME nesting (multipart inside multipart …). @defaultValue 20 */
    maxMimeDepth: z.number().int().min(1).max(100).optional(),
    /** Most header lines in the top-level header. @defaultValue 500 */
    maxHeaderLines: z.number().int().min(10).optional(),
  })
  .strict();

/** The configuration file (JSON). Every key is optional; paths are relative to the file. */
export const ConfigFile = z
  .object({
    /** The support mailbox Mailroom answers from. @defaultValue support@localhost */
    mailbox: z
      .object({
        address: z.string().email(),
        /** Display name on outbound mail. @defaultValue "Support" */
        name: z.string().min(1).max(80).default('Support'),
      })
      .strict()
      .optional(),
    /** authserv-id of our own MTA: only its Authentication-Results are believed. */
    authservId: z.string().min(1).optional(),
    /** Sender addresses whose mail is trusted without DMARC/DKIM (e.g. an internal relay). */
    trustedSenders: z.array(z.string().email()).optional(),
    /** The closed set of categories the classifier may answer (plus `unknown`). */
    categories: z.array(CategoryName).min(1).optional(),
    routes: z.array(Route).optional(),
    /** JSON file of customer accounts (see examples/accounts.json). */
    accountsFile: z.string().min(1).optional(),
    /** Folder of markdown knowledge-base articles. */
    kbDir: z.string().min(1).optional(),
    /** Link prefixes a drafted reply may contain besides those of the KB article it uses. */
    allowedLinks: z.array(z.string().url()).optional(),
    smtp: z
      .object({
        /** smtp:// or smtps:// URL with credentials; unset → replies are written to `outboxDir`. */
        url: z.string().url().optional(),
        outboxDir: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    /** Largest raw message accepted, in bytes. @defaultValue 26214400 (25 MiB) */
    maxMessageBytes: z.number().int().positive().optional(),
    /** How long email content stays in Redis, in seconds. @defaultValue 1209600 (14 days) */
    contentTtlSeconds: z.number().int().positive().optional(),
    /** Executor concurrency per process. @defaultValue 8 */
    concurrency: z.number().int().min(1).max(256).optional(),
    /** IMAP mailboxes to watch (see src/ingest/imap-config.ts). @defaultValue [] */
    imap: z.array(ImapMailboxFile).optional(),
    /** Parse limits; over-limit mail is quarantined with the reason. */
    limits: ParseLimitsFile.optional(),
    /** Verify DKIM and DMARC alignment locally (DNS) when no trusted Authentication-Results exist. @defaultValue true */
    localSenderVerification: z.boolean().optional(),
    /** The `web` role's HTTP server (/healthz, /metrics). @defaultValue 127.0.0.1:9310 */
    http: z.object({ host: z.string().min(1).optional(), port: z.number().int().min(0).max(65535).optional() }).strict().optional(),
  })
  .strict();
export type ConfigFile = z.infer<typeof ConfigFile>;

const DEFAULT_CATEGORIES = ['billing', 'refund', 'bug', 'account_access', 'feature_request', 'spam'];

/** The resolved configuration every component receives. */
export const Config = z.object({
  /** `REDIS_URL`; unset → a private embedded redis-server under `dataDir`. */
  redisUrl: z.string().url().optional(),
  /** `MAILROOM_DATA_DIR`. @defaultValue `.mailroom` in the working directory */
  dataDir: z.string(),
  /** `MAILROOM_PREFIX`: key prefix; hash-tagged so a Redis Cluster keeps one slot. @defaultValue `{mailroom}` */
  prefix: z.string().regex(/^\{[A-Za-z0-9_-]+\}$/, 'a hash-tagged name such as {mailroom}'),
  /** `MAILROOM_LOG_LEVEL`. @defaultValue `info` (the CLI's one-shot commands use `warn`) */
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
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
  authservId: z.string().optional(),
  trustedSenders: z.array(z.string()),
  categories: z.array(CategoryName),
  routes: z.array(Route),
  accountsFile: z.string().optional(),
  kbDir: z.string().optional(),
  allowedLinks: z.array(z.string()),
  smtp: z.object({ url: z.string().optional(), outboxDir: z.string() }),
  maxMessageBytes: z.number().int().positive(),
  contentTtlSeconds: z.number().int().positive(),
  concurrency: z.number().int().positive(),
  imap: z.array(ImapAccount),
  limits: z.object({
    maxAttachmentBytes: z.number().int().positive(),
    maxAttachments: z.number().int().min(0),
    maxMimeDepth: z.number().int().positive(),
    maxHeaderLines: z.number().int().positive(),
  }),
  localSenderVerification: z.boolean(),
  http: z.object({ host: z.string(), port: z.number().int().min(0).max(65535) }),
});
export type Config = z.infer<typeof Config>;

const Env = z.object({
  REDIS_URL: z.string().url('REDIS_URL must be a URL such as redis://127.0.0.1:6379').optional(),
  MAILROOM_CONFIG: z.string().min(1).optional(),
  MAILROOM_DATA_DIR: z.string().min(1).optional(),
  MAILROOM_PREFIX: z.string().optional(),
  MAILROOM_LOG_LEVEL: z.string().optional(),
  OPENAI_API_KEY: z.string().min(1).optional(),
  OPENAI_BASE_URL: z.string().url('OPENAI_BASE_URL must be a URL').optional(),
  OPENAI_MODEL: z.string().min(1).optional(),
  OPENAI_TIMEOUT_MS: z.coerce.number().int().positive().optional(),
  SMTP_URL: z.string().url('SMTP_URL must be a URL such as smtp://user:pass@host:587').optional(),
  MAILROOM_HTTP_PORT: z.coerce.number().int().min(0).max(65535).optional(),
});

function emptyToUndefined(env: NodeJS.ProcessEnv): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) out[k] = v === '' ? undefined : v;
  return out;
}

function describeIssues(where: string, error: z.ZodError): string {
  const lines = error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
  return `${where}: ${lines.join('; ')}`;
}

function readConfigFile(file: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const reason = err instanceof Error && 'code' in err ? String(err.code) : 'unreadable';
    throw new MailroomError('CONFIG_INVALID', `config file ${file} cannot be read (${reason})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new MailroomError('CONFIG_INVALID', `config file ${file} is not valid JSON (${(err as Error).message})`);
  }
  const parsed = ConfigFile.safeParse(json);
  if (!parsed.success) throw new MailroomError('CONFIG_INVALID', describeIssues(`config file ${file}`, parsed.error));
  return parsed.data;
}

/**
 * Reads the environment and the optional config file once, validates both, and reports every
 * problem in one message (MAILROOM_CONFIG_INVALID).
 */
export function loadConfig(options: {
  env?: NodeJS.ProcessEnv;
  configPath?: string;
  cwd?: string;
  overrides?: Partial<Config>;
}): Config {
  const cwd = options.cwd ?? process.cwd();
  const rawEnv = emptyToUndefined(options.env ?? process.env);
  const envParsed = Env.safeParse(rawEnv);
  if (!envParsed.success) throw new MailroomError('CONFIG_INVALID', describeIssues('environment', envParsed.error));
  const env = envParsed.data;
  const configPath = options.configPath ?? env.MAILROOM_CONFIG;
  const file = configPath ? readConfigFile(path.resolve(cwd, configPath)) : {};
  const base = configPath ? path.dirname(path.resolve(cwd, configPath)) : cwd;
  const rel = (p: string | undefined) => (p === undefined ? undefined : path.resolve(base, p));
  const dataDir = path.resolve(cwd, env.MAILROOM_DATA_DIR ?? '.mailroom');
  const mailbox = file.mailbox ?? { address: 'support@localhost.localdomain', name: 'Support' };
  const imap = resolveImapAccounts(file.imap ?? [], rawEnv, base, mailbox.address);
  if (imap.problems.length) throw new MailroomError('CONFIG_INVALID', `configuration: ${imap.problems.join('; ')}`);

  const candidate = {
    redisUrl: env.REDIS_URL,
    dataDir,
    prefix: env.MAILROOM_PREFIX ?? '{mailroom}',
    logLevel: env.MAILROOM_LOG_LEVEL ?? 'info',
    openai: env.OPENAI_API_KEY
      ? {
          apiKey: env.OPENAI_API_KEY,
          baseUrl: env.OPENAI_BASE_URL,
          model: env.OPENAI_MODEL ?? 'gpt-4.1-mini',
          timeoutMs: env.OPENAI_TIMEOUT_MS ?? 30_000,
          maxRetries: 2,
        }
      : undefined,
    mailbox,
    authservId: file.authservId,
    trustedSenders: (file.trustedSenders ?? []).map((s) => s.toLowerCase()),
    categories: file.categories ?? DEFAULT_CATEGORIES,
    routes: file.routes ?? [],
    accountsFile: rel(file.accountsFile),
    kbDir: rel(file.kbDir),
    allowedLinks: file.allowedLinks ?? [],
    smtp: {
      url: env.SMTP_URL ?? file.smtp?.url,
      outboxDir: rel(file.smtp?.outboxDir) ?? path.join(dataDir, 'outbox'),
    },
    maxMessageBytes: file.maxMessageBytes ?? 25 * 1024 * 1024,
    contentTtlSeconds: file.contentTtlSeconds ?? 14 * 24 * 3600,
    concurrency: file.concurrency ?? 8,
    imap: imap.accounts,
    limits: {
      maxAttachmentBytes: file.limits?.maxAttachmentBytes ?? 10 * 1024 * 1024,
      maxAttachments: file.limits?.maxAttachments ?? 50,
      maxMimeDepth: file.limits?.maxMimeDepth ?? 20,
      maxHeaderLines: file.limits?.maxHeaderLines ?? 500,
    },
    localSenderVerification: file.localSenderVerification ?? true,
    http: { host: file.http?.host ?? '127.0.0.1', port: env.MAILROOM_HTTP_PORT ?? file.http?.port ?? 9310 },
    ...options.overrides,
  };
  const parsed = Config.safeParse(candidate);
  if (!parsed.success) throw new MailroomError('CONFIG_INVALID', describeIssues('configuration', parsed.error));
  return parsed.data;
}
