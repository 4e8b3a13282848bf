import { z } from 'zod';

/**
 * Mail providers Mailroom knows the settings of. `generic` knows nothing: every setting is
 * given in the config. A preset fills what its provider documents; every value stays overridable.
 */
export const ProviderName = z.enum(['google', 'microsoft365', 'fastmail', 'generic']);
export type ProviderName = z.infer<typeof ProviderName>;

/** The TLS modes of an IMAP or SMTP connection (IMAP's names; SMTP reads `implicit` as SMTPS). */
export const TlsMode = z.enum(['implicit', 'starttls', 'none']);
export type TlsMode = z.infer<typeof TlsMode>;

/** A server a preset names. */
export interface PresetServer {
  host: string;
  port: number;
  tls: TlsMode;
}

/** OAuth2 endpoints and scopes of a provider; `{tenant}` in a URL is the account's tenant. */
export interface PresetOAuth2 {
  tokenUrl: string;
  deviceUrl: string;
  scopes: readonly string[];
  /** Filled into `{tenant}`. @defaultValue none (the URLs hold no tenant) */
  defaultTenant?: string;
}

export interface ProviderPreset {
  imap?: PresetServer;
  smtp?: PresetServer;
  /** How the provider expects mail clients to sign in: OAuth2 (XOAUTH2/OAUTHBEARER) or a (app) password. */
  auth?: 'oauth2' | 'password';
  oauth2?: PresetOAuth2;
}

/**
 * What each provider documents. Google: imap.gmail.com / smtp.gmail.com, scope
 * `https://mail.google.com/` for both. Microsoft 365: outlook.office365.com / smtp.office365.com
 * (STARTTLS on 587), the Outlook resource's IMAP and SMTP scopes plus `offline_access` for a
 * refresh token; the tenant defaults to `organizations` (any work or school account). Fastmail:
 * app passwords (its OAuth2 is for registered partners only).
 */
export const PROVIDER_PRESETS: Readonly<Record<ProviderName, ProviderPreset>> = {
  google: {
    imap: { host: 'imap.gmail.com', port: 993, tls: 'implicit' },
    smtp: { host: 'smtp.gmail.com', port: 465, tls: 'implicit' },
    auth: 'oauth2',
    oauth2: {
      tokenUrl: 'https://oauth2.googleapis.com/token',
      deviceUrl: 'https://oauth2.googleapis.com/device/code',
      scopes: ['https://mail.google.com/'],
    },
  },
  microsoft365: {
    imap: { host: 'outlook.office365.com', port: 993, tls: 'implicit' },
    smtp: { host: 'smtp.office365.com', port: 587, tls: 'starttls' },
    auth: 'oauth2',
    oauth2: {
      tokenUrl: 'https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token',
      deviceUrl: 'https://login.microsoftonline.com/{tenant}/oauth2/v2.0/devicecode',
      scopes: ['https://outlook.office.com/IMAP.AccessAsUser.All', 'https://outlook.office.com/SMTP.Send', 'offline_access'],
      defaultTenant: 'organizations',
    },
  },
  fastmail: {
    imap: { host: 'imap.fastmail.com', port: 993, tls: 'implicit' },
    smtp: { host: 'smtp.fastmail.com', port: 465, tls: 'implicit' },
    auth: 'password',
  },
  generic: {},
};

/** `auth login --provider` names: the providers whose device-code flow Mailroom can run. */
export const LOGIN_PROVIDERS = { google: 'google', microsoft: 'microsoft365' } as const satisfies Record<string, ProviderName>;

/**
 * A warning for a login the provider is known to refuse or retire (a password where it expects
 * OAuth2), or null. Not an error: an admin may still allow app passwords for a while.
 */
export function loginAdvice(provider: ProviderName, method: 'password' | 'token' | 'oauth2' | 'none', where: string): string | null {
  if (method !== 'password' || PROVIDER_PRESETS[provider].auth !== 'oauth2') return null;
  const why = provider === 'microsoft365' ? 'Microsoft turns basic auth off (SMTP from the end of December 2026: 550 5.7.30)' : 'Google restricts app passwords';
  return `${where}: provider "${provider}" with a password: ${why}; use "oauth2" (see the README, "Connect a mailbox")`;
}
