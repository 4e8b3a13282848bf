import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config/config.js';
import { MailroomError } from '../kernel/errors.js';
import { runDeviceFlow, type DevicePrompt } from '../oauth/device-flow.js';
import type { OAuth2Client } from '../config/oauth-config.js';
import { LOGIN_PROVIDERS, PROVIDER_PRESETS } from '../config/providers.js';
import { writeSecretFile } from '../kernel/secrets.js';

export type LoginProvider = keyof typeof LOGIN_PROVIDERS;

/** Where `auth login` stores a refresh token: an IMAP account's `oauth2`, or the SMTP server's. */
interface LoginTarget {
  name: string;
  provider: Config['imap'][number]['provider'];
  client: OAuth2Client;
}

function loginTargets(config: Config): LoginTarget[] {
  const targets: LoginTarget[] = [];
  for (const a of config.imap) if (a.auth.method === 'oauth2') targets.push({ name: a.name, provider: a.provider, client: a.auth.client });
  const smtp = config.smtp.server;
  if (smtp?.auth.method === 'oauth2') targets.push({ name: 'smtp', provider: smtp.provider, client: smtp.auth.client });
  return targets;
}

/**
 * `mailroom auth login`: runs the device-code flow for one configured OAuth2 login and stores the
 * refresh token where its `refreshToken` says (a file, written atomically with mode 0600). The
 * running daemon reads it at its next connect; nothing needs a restart.
 */
export async function runAuthLogin(
  config: Config,
  options: { provider: LoginProvider; account?: string | undefined; onPrompt: (prompt: DevicePrompt) => void; signal?: AbortSignal },
): Promise<{ account: string; file: string; scopes: string[] }> {
  const targets = loginTargets(config);
  const names = targets.map((t) => t.name).join(', ') || 'none';
  if (targets.length === 0) {
    throw new MailroomError('CONFIG_INVALID', 'no IMAP account or SMTP server in the config has an "oauth2" block; add one (see the README, "Connect a mailbox")');
  }
  const target = options.account === undefined ? (targets.length === 1 ? targets[0] : undefined) : targets.find((t) => t.name === options.account);
  if (!target) {
    throw new MailroomError('CONFIG_INVALID', options.account === undefined ? `--account: choose one of ${names}` : `--account: "${options.account}" has no oauth2 login; choose one of ${names}`);
  }
  const wanted = LOGIN_PROVIDERS[options.provider];
  if (target.provider !== 'generic' && target.provider !== wanted) {
    throw new MailroomError('CONFIG_INVALID', `--provider ${options.provider}: ${target.name} is configured with provider "${target.provider}"`);
  }
  const { client } = target;
  if (!('file' in client.refreshToken)) {
    throw new MailroomError(
      'CONFIG_INVALID',
      `${target.name}: oauth2.refreshToken comes from environment variable ${client.refreshToken.env ?? ''}; auth login stores it in a file: set "refreshToken": { "file": "…" }`,
    );
  }
  const preset = PROVIDER_PRESETS[wanted].oauth2;
  // A generic entry with its own endpoints takes the provider's scopes when it names none.
  const scopes = client.scopes.length ? client.scopes : [...(preset?.scopes ?? [])];
  const deviceUrl = client.deviceUrl;
  if (!deviceUrl) throw new MailroomError('CONFIG_INVALID', `${target.name}: oauth2.deviceUrl is required for provider "${target.provider}"`);
  const file = client.refreshToken.file;
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tokens = await runDeviceFlow({
    client: { ...client, scopes, deviceUrl },
    onPrompt: options.onPrompt,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  await writeSecretFile(file, tokens.refresh_token);
  return { account: target.name, file, scopes };
}
