import { z } from 'zod';
import { OAuth2Client, OAuth2File, resolveOAuth2 } from './oauth-config.js';
import { PROVIDER_PRESETS, ProviderName, TlsMode } from './providers.js';
import { ResolvedSecret, SecretSource, resolveSecret } from '../kernel/secrets.js';

/**
 * The server half of the config file's `smtp` section (besides `url` and `outboxDir`): a provider
 * preset and/or host, port and TLS, and a login by password or by OAuth2 refreshed by Mailroom.
 */
export const SmtpServerFile = z
  .object({
    /** Fills `host`, `port`, `tls` and the OAuth2 endpoints and scopes. @defaultValue generic */
    provider: ProviderName.optional(),
    /** @defaultValue the preset's; required for `generic` */
    host: z.string().min(1).optional(),
    /** @defaultValue the preset's, else 465 with `tls: "implicit"`, else 587 */
    port: z.number().int().min(1).max(65535).optional(),
    /** `implicit` (SMTPS), `starttls` (required upgrade) or `none` (loopback only). @defaultValue the preset's, else starttls */
    tls: TlsMode.optional(),
    /** Verify the server certificate. @defaultValue true (applied below, not here: any field given names a server) */
    tlsVerify: z.boolean().optional(),
    /** The login (usually the support address). */
    user: z.string().min(1).optional(),
    password: SecretSource.optional(),
    oauth2: OAuth2File.optional(),
  })
  .strict();
export type SmtpServerFile = z.infer<typeof SmtpServerFile>;

/** The SMTP server replies go out through, as the mailer receives it. */
export const SmtpServer = z.object({
  provider: ProviderName,
  host: z.string(),
  port: z.number().int(),
  tls: TlsMode,
  tlsVerify: z.boolean(),
  auth: z.discriminatedUnion('method', [
    z.object({ method: z.literal('none') }),
    z.object({ method: z.literal('password'), user: z.string(), secret: ResolvedSecret }),
    z.object({ method: z.literal('oauth2'), user: z.string(), client: OAuth2Client }),
  ]),
});
export type SmtpServer = z.infer<typeof SmtpServer>;

/** True when the section names a server (not only `url` or `outboxDir`). */
export function namesSmtpServer(file: SmtpServerFile): boolean {
  return Object.values(file).some((v) => v !== undefined);
}

/** Resolves the server half of `smtp`; problems are added, prefixed `smtp.`. */
export function resolveSmtpServer(file: SmtpServerFile, env: Record<string, string | undefined>, base: string, problems: string[]): SmtpServer {
  const provider = file.provider ?? 'generic';
  const preset = PROVIDER_PRESETS[provider].smtp;
  const host = file.host ?? preset?.host;
  if (host === undefined) problems.push(`smtp.host: required for provider "${provider}"`);
  const tls = file.tls ?? preset?.tls ?? 'starttls';
  if (tls === 'none' && !['127.0.0.1', 'localhost', '::1'].includes(host ?? '')) problems.push('smtp.tls: "none" is allowed for a loopback host only');
  if (file.password && file.oauth2) problems.push('smtp: set password or oauth2, not both');
  if ((file.password || file.oauth2) && !file.user) problems.push('smtp.user: required with password or oauth2');
  const user = file.user ?? '';
  const auth: SmtpServer['auth'] = file.oauth2
    ? { method: 'oauth2', user, client: resolveOAuth2(file.oauth2, provider, env, base, 'smtp.oauth2', problems) }
    : file.password
      ? { method: 'password', user, secret: resolveSecret(file.password, env, base, 'smtp.password', problems) }
      : { method: 'none' };
  return {
    provider,
    host: host ?? 'missing.invalid',
    port: file.port ?? (preset && preset.tls === tls ? preset.port : tls === 'implicit' ? 465 : 587),
    tls,
    tlsVerify: file.tlsVerify ?? true,
    auth,
  };
}

/** What `mailroom auth login` the operator runs when the SMTP refresh token is rejected. */
export function smtpLoginHint(server: Pick<SmtpServer, 'provider'>): string {
  return `mailroom auth login --provider ${server.provider === 'google' ? 'google' : 'microsoft'} --account smtp`;
}
