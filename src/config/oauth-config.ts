import { z } from 'zod';
import { ResolvedSecret, SecretSource, resolveSecret } from '../kernel/secrets.js';
import { PROVIDER_PRESETS, ProviderName } from './providers.js';

/**
 * The `oauth2` block of an IMAP account or of `smtp` in the config file: Mailroom refreshes the
 * access token itself. Endpoints and scopes come from the `provider` preset unless given here.
 */
export const OAuth2File = z
  .object({
    /** The OAuth client (app registration) id. */
    clientId: z.string().min(1).max(400),
    /** The client secret, `{ "env": "NAME" }` or `{ "file": "path" }`; public clients (Microsoft device flow) have none. */
    clientSecret: SecretSource.optional(),
    /** Where the refresh token lives; a `file` is rewritten (atomically, 0600) when the provider rotates it, and by `mailroom auth login`. */
    refreshToken: SecretSource,
    /** Token endpoint (refresh and device-code grants). @defaultValue the provider preset's */
    tokenUrl: z.string().url().optional(),
    /** Device authorization endpoint (RFC 8628), for `mailroom auth login`. @defaultValue the provider preset's */
    deviceUrl: z.string().url().optional(),
    /** Scopes asked for. @defaultValue the provider preset's */
    scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]{1,200}$/, 'a scope token')).min(1).max(20).optional(),
    /** Microsoft 365 tenant (id or domain) in the preset's URLs. @defaultValue organizations */
    tenant: z.string().regex(/^[A-Za-z0-9.-]{1,100}$/, 'a tenant id or domain').optional(),
  })
  .strict();
export type OAuth2File = z.infer<typeof OAuth2File>;

/** An OAuth2 client as the running daemon holds it. */
export const OAuth2Client = z.object({
  provider: ProviderName,
  clientId: z.string(),
  clientSecret: ResolvedSecret.optional(),
  refreshToken: ResolvedSecret,
  tokenUrl: z.string().url(),
  deviceUrl: z.string().url().optional(),
  scopes: z.array(z.string()),
});
export type OAuth2Client = z.infer<typeof OAuth2Client>;

/**
 * Resolves an `oauth2` block against its provider preset. Problems (a missing env secret, no
 * token endpoint for a provider without a preset) are added to `problems`, prefixed with `where`.
 */
export function resolveOAuth2(
  block: OAuth2File,
  provider: ProviderName,
  env: Record<string, string | undefined>,
  base: string,
  where: string,
  problems: string[],
): OAuth2Client {
  const preset = PROVIDER_PRESETS[provider].oauth2;
  const tenant = block.tenant ?? preset?.defaultTenant ?? '';
  const fill = (url: string | undefined) => url?.replaceAll('{tenant}', encodeURIComponent(tenant));
  const tokenUrl = block.tokenUrl ?? fill(preset?.tokenUrl);
  if (!tokenUrl) problems.push(`${where}.tokenUrl: required for provider "${provider}" (it has no OAuth2 preset)`);
  const deviceUrl = block.deviceUrl ?? fill(preset?.deviceUrl);
  return {
    provider,
    clientId: block.clientId,
    ...(block.clientSecret ? { clientSecret: resolveSecret(block.clientSecret, env, base, `${where}.clientSecret`, problems) } : {}),
    refreshToken: resolveSecret(block.refreshToken, env, base, `${where}.refreshToken`, problems),
    tokenUrl: tokenUrl ?? 'http://missing.invalid/',
    ...(deviceUrl ? { deviceUrl } : {}),
    scopes: block.scopes ?? [...(preset?.scopes ?? [])],
  };
}

/** One key per set of credentials, so that IMAP and SMTP on the same refresh token share one cache (and one rotation). */
export function oauth2Key(client: OAuth2Client): string {
  const where = 'file' in client.refreshToken ? `file:${client.refreshToken.file}` : `env:${client.refreshToken.env ?? ''}`;
  return JSON.stringify([client.tokenUrl, client.clientId, where, [...client.scopes].sort()]);
}
