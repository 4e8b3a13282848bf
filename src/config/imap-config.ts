import { z } from 'zod';
import { OAuth2Client, OAuth2File, resolveOAuth2 } from './oauth-config.js';
import { PROVIDER_PRESETS, ProviderName, TlsMode } from './providers.js';
import { ResolvedSecret, SecretSource, resolveSecret } from '../kernel/secrets.js';

/** A category name, as in src/config/config.ts (kept here so this module has no import cycle). */
const CategoryName = z.string().regex(/^[a-z][a-z0-9_]{0,39}$/, 'lowercase letters, digits and _');

/** An IMAP keyword or system flag Mailroom may set to mark a message handled. */
export const HandledFlag = z.string().regex(/^(\\Seen|\\Flagged|\$?[A-Za-z][A-Za-z0-9_-]{0,39})$/, 'a keyword such as $MailroomHandled, or \\Seen');

/** An IMAP folder name a configuration (never an email) chose. */
export const FolderName = z.string().regex(/^[^\r\n\0*%]{1,200}$/, 'a folder name without * % or line breaks');

/** One mailbox in the config file's `imap` array. Secrets are never inline. */
export const ImapMailboxFile = z
  .object({
    /** Short name for logs, checkpoints and metrics, e.g. `support`. */
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, 'lowercase letters, digits, _ and -'),
    /** Fills `host`, `port`, `tls` and the OAuth2 endpoints and scopes (src/config/providers.ts). @defaultValue generic (nothing) */
    provider: ProviderName.default('generic'),
    /** @defaultValue the provider preset's; required for `generic` */
    host: z.string().min(1).optional(),
    /** @defaultValue the preset's, else 993 with `tls: "implicit"`, else 143 */
    port: z.number().int().min(1).max(65535).optional(),
    /** `implicit` (IMAPS, 993), `starttls` (required upgrade on 143) or `none` (loopback only). @defaultValue the preset's, else implicit */
    tls: TlsMode.optional(),
    /** Allow `tls: "none"` to a host that is not loopback (a private network you trust). @defaultValue false */
    allowPlaintext: z.boolean().default(false),
    /** Verify the server certificate. @defaultValue true */
    tlsVerify: z.boolean().default(true),
    user: z.string().min(1),
    /** App password (Gmail, Microsoft 365) or account password: `{ "env": "NAME" }` or `{ "file": "path" }`. */
    password: SecretSource.optional(),
    /** OAuth2 access token (XOAUTH2): `{ "env": "NAME" }` or `{ "file": "path" }`; a file is re-read at every connect, so a refresher can rotate it. */
    accessToken: SecretSource.optional(),
    /** OAuth2 with refresh inside Mailroom: client id, client secret and refresh token (see src/config/oauth-config.ts). */
    oauth2: OAuth2File.optional(),
    /** The support address this mailbox receives for. @defaultValue `user` when it is an address, else `mailbox.address` */
    address: z.string().email().optional(),
    /** Folders to watch, each with its own connection (IMAP IDLE watches one folder). @defaultValue ["INBOX"] */
    folders: z.array(FolderName).min(1).max(20).default(['INBOX']),
    /** How a message is marked handled once it is durably enqueued. @defaultValue { "flag": "$MailroomHandled" } */
    markHandled: z
      .union([z.object({ flag: HandledFlag }).strict(), z.object({ move: FolderName }).strict()])
      .default({ flag: '$MailroomHandled' }),
    /** Every sender reaching this mailbox counts as verified (e.g. an internal-only mailbox). @defaultValue false */
    trusted: z.boolean().default(false),
    /**
     * Shadow mode: plan everything, act on nothing (no reply, no flag, no move, not even the
     * handled mark); see the README's "Shadow mode". @defaultValue the top-level `mailbox.shadow`
     */
    shadow: z.boolean().optional(),
    /** Folder or alias → category, checked before the global `routes`. */
    routes: z
      .array(z.object({ folder: FolderName, category: CategoryName }).strict())
      .default([]),
    /** Watchdog: a full catch-up this often even if IDLE reported nothing, in seconds. @defaultValue 60 */
    pollSeconds: z.number().min(0.2).max(3600).default(60),
    /** IDLE is broken and restarted this often (servers and middleboxes drop long IDLEs), in seconds. @defaultValue 240 */
    idleRestartSeconds: z.number().min(1).max(1740).default(240),
    /** Reconnect backoff bounds (exponential with jitter), in milliseconds. @defaultValue 1000 and 60000 */
    reconnectMinMs: z.number().int().min(10).max(600_000).default(1000),
    reconnectMaxMs: z.number().int().min(10).max(3_600_000).default(60_000),
  })
  .strict()
  .refine(
    (m) => [m.password, m.accessToken, m.oauth2].filter((a) => a !== undefined).length === 1,
    'set exactly one of password, accessToken or oauth2',
  );
export type ImapMailboxFile = z.infer<typeof ImapMailboxFile>;

/** One IMAP account as every component receives it. */
export const ImapAccount = z.object({
  name: z.string(),
  host: z.string(),
  port: z.number().int(),
  provider: ProviderName,
  tls: TlsMode,
  tlsVerify: z.boolean(),
  user: z.string(),
  /** `password`, a ready access token (`token`, refreshed by someone else), or `oauth2` refreshed by Mailroom. */
  auth: z.discriminatedUnion('method', [
    z.object({ method: z.literal('password'), secret: ResolvedSecret }),
    z.object({ method: z.literal('token'), secret: ResolvedSecret }),
    z.object({ method: z.literal('oauth2'), client: OAuth2Client }),
  ]),
  address: z.string().email(),
  folders: z.array(z.string()),
  markHandled: z.union([z.object({ flag: z.string() }), z.object({ move: z.string() })]),
  trusted: z.boolean(),
  /** Mail taken in from this mailbox is handled in shadow mode (and stays so). */
  shadow: z.boolean().default(false),
  routes: z.array(z.object({ folder: z.string(), category: z.string() })),
  pollMs: z.number().positive(),
  idleRestartMs: z.number().positive(),
  reconnectMinMs: z.number().positive(),
  reconnectMaxMs: z.number().positive(),
});
export type ImapAccount = z.infer<typeof ImapAccount>;

/**
 * Resolves the config file's `imap` entries: env secrets are read now (a missing one is a config
 * error), file secrets are made absolute and checked at connect. Returns the problems instead of
 * throwing, so the caller reports them with every other problem at once.
 */
export function resolveImapAccounts(
  entries: readonly ImapMailboxFile[],
  env: Record<string, string | undefined>,
  base: string,
  defaultAddress: string,
  defaultShadow = false,
): { accounts: ImapAccount[]; problems: string[] } {
  const problems: string[] = [];
  const names = new Set<string>();
  const accounts = entries.map((m, i) => {
    if (names.has(m.name)) problems.push(`imap.${i}.name: ${m.name} is used twice`);
    names.add(m.name);
    const where = `imap.${i}`;
    const preset = PROVIDER_PRESETS[m.provider];
    const host = m.host ?? preset.imap?.host;
    if (host === undefined) problems.push(`${where}.host: required for provider "${m.provider}"`);
    const tls = m.tls ?? preset.imap?.tls ?? 'implicit';
    if (tls === 'none' && !m.allowPlaintext && !['127.0.0.1', 'localhost', '::1'].includes(host ?? '')) {
      problems.push(`${where}: tls "none" sends the password in clear: allowed for a loopback host, or with allowPlaintext: true`);
    }
    const auth: ImapAccount['auth'] = m.oauth2
      ? { method: 'oauth2', client: resolveOAuth2(m.oauth2, m.provider, env, base, `${where}.oauth2`, problems) }
      : m.password
        ? { method: 'password', secret: resolveSecret(m.password, env, base, `${where}.password`, problems) }
        : { method: 'token', secret: m.accessToken ? resolveSecret(m.accessToken, env, base, `${where}.accessToken`, problems) : { value: 'missing' } };
    if (m.reconnectMinMs > m.reconnectMaxMs) problems.push(`imap.${i}: reconnectMinMs is above reconnectMaxMs`);
    return {
      name: m.name,
      provider: m.provider,
      host: host ?? 'missing.invalid',
      // A preset's port goes with its TLS mode: another mode picks that mode's usual port.
      port: m.port ?? (preset.imap && preset.imap.tls === tls ? preset.imap.port : tls === 'implicit' ? 993 : 143),
      tls,
      tlsVerify: m.tlsVerify,
      user: m.user,
      auth,
      address: imapAddressOf(m, defaultAddress),
      folders: [...new Set(m.folders)],
      markHandled: m.markHandled,
      trusted: m.trusted,
      shadow: m.shadow ?? defaultShadow,
      routes: m.routes,
      pollMs: m.pollSeconds * 1000,
      idleRestartMs: m.idleRestartSeconds * 1000,
      reconnectMinMs: m.reconnectMinMs,
      reconnectMaxMs: m.reconnectMaxMs,
    };
  });
  return { accounts, problems };
}

/** The support address an IMAP entry receives for: its `address`, else its `user` when that is an address, else the mailbox's. */
export function imapAddressOf(m: Pick<ImapMailboxFile, 'address' | 'user'>, defaultAddress: string): string {
  const userAddress = z.string().email().safeParse(m.user);
  return (m.address ?? (userAddress.success ? userAddress.data : defaultAddress)).toLowerCase();
}
