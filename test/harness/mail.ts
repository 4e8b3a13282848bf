/** Test mail and configs for IMAP runs: real messages, built as text, one Message-ID each. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { dkimSign } from 'mailauth';
import nodemailer from 'nodemailer';
import { loadConfig, type Config } from '../../src/config/config.js';
import type { DnsResolver } from '../../src/mail/local-auth.js';
import type { DovecotServer } from './dovecot.js';

/** A plain customer message; `id` becomes `<id@customer.example>`. */
export function customerMail(id: string, opts: { from?: string; subject?: string; body?: string; headers?: string[] } = {}): string {
  return [
    `From: Customer <${opts.from ?? 'pat@customer.example'}>`,
    'To: support@acme.example',
    `Subject: ${opts.subject ?? `Question ${id}`}`,
    `Message-ID: <${id}@customer.example>`,
    'Date: Tue, 24 Nov 2026 10:00:00 +0000',
    ...(opts.headers ?? []),
    'Content-Type: text/plain; charset=utf-8',
    '',
    opts.body ?? 'Hello, where is my invoice for November?',
    '',
  ].join('\r\n');
}

export function messageIdOf(id: string): string {
  return `<${id}@customer.example>`;
}

/** The config's `imap` entry "support" for the test Dovecot's default user, its password read from `passwordEnv`. */
export function imapAccount(server: DovecotServer, passwordEnv: string, folders: string[] = ['INBOX']): Record<string, unknown> {
  return { name: 'support', host: server.host, port: server.port, tls: 'none', user: server.user, password: { env: passwordEnv }, folders };
}

/**
 * Writes a config file naming the test Dovecot and returns the loaded config. The password comes
 * from the environment, as it would in production.
 */
export function imapConfig(
  server: DovecotServer,
  env: { REDIS_URL: string; MAILROOM_PREFIX: string },
  imap: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
): Config {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-imap-cfg-'));
  const file = path.join(dir, 'mailroom.config.json');
  writeFileSync(
    file,
    JSON.stringify({
      mailbox: { address: 'support@acme.example', name: 'Acme Support' },
      authservId: 'mx.acme.example',
      imap: [
        {
          ...imapAccount(server, 'TEST_IMAP_PASSWORD'),
          pollSeconds: 5,
          reconnectMinMs: 100,
          reconnectMaxMs: 1000,
          ...imap,
        },
      ],
      ...extra,
    }),
  );
  return loadConfig({
    env: { ...env, TEST_IMAP_PASSWORD: server.password, MAILROOM_DATA_DIR: dir, MAILROOM_LOG_LEVEL: 'silent' },
    configPath: file,
  });
}

/** A DKIM key pair for `domain`, a resolver that serves it (and a DMARC record), and a signer. */
export function dkimWorld(domain: string, selector = 's2026') {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicB64 = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const records = new Map<string, string>([
    [`${selector}._domainkey.${domain}`, `v=DKIM1; k=rsa; p=${publicB64}`],
    [`_dmarc.${domain}`, 'v=DMARC1; p=reject'],
  ]);
  const resolver: DnsResolver = async (name, rrtype) => {
    const value = rrtype === 'TXT' ? records.get(name.toLowerCase()) : undefined;
    if (value) return [[value]];
    throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
  };
  const transport = nodemailer.createTransport({
    streamTransport: true,
    buffer: true,
    newline: 'crlf',
    dkim: { domainName: domain, keySelector: selector, privateKey: pem },
  });
  /** A message signed by `domain` (From must be in it for alignment). */
  const sign = async (mail: { from: string; subject: string; text: string; messageId: string }): Promise<Buffer> => {
    const info = await transport.sendMail({ ...mail, to: 'support@acme.example' });
    if (!Buffer.isBuffer(info.message)) throw new Error('nodemailer streamTransport did not buffer');
    return info.message;
  };
  /**
   * Signs a raw message (headers CRLF CRLF body) with mailauth's signer, for what nodemailer does
   * not offer: an `l=` tag (only the first `bodyLength` canonical body bytes are covered, as some
   * list servers and ESPs sign) or another algorithm such as rsa-sha1.
   */
  const signRaw = async (raw: Buffer, opts: { bodyLength?: number; algorithm?: 'rsa-sha256' | 'rsa-sha1' }): Promise<Buffer> => {
    // mailauth's signer reads only signatureData; its types also ask for the key at the top level.
    const key = {
      signingDomain: domain,
      selector,
      privateKey: pem,
      ...(opts.bodyLength !== undefined ? { maxBodyLength: opts.bodyLength } : {}),
      ...(opts.algorithm ? { algorithm: opts.algorithm } : {}),
    };
    const { signatures } = await dkimSign(raw, { canonicalization: 'relaxed/relaxed', ...key, signatureData: [{ ...key }] });
    if (!signatures) throw new Error('mailauth made no DKIM signature');
    return Buffer.concat([Buffer.from(signatures), raw]);
  };
  /** Plants a DMARC record for another domain (e.g. a spoofed one). */
  const plant = (name: string, value: string) => records.set(name.toLowerCase(), value);
  /** The planted TXT records, name to value. */
  const txtRecords = () => Object.fromEntries(records);
  return { resolver, sign, signRaw, plant, txtRecords };
}

/** Polls until `check` returns a value that is not undefined, or throws after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 15_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
