import { access, appendFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectImap, startDovecot } from './dovecot.js';
import type { DovecotServer } from './dovecot.js';

function eml(id: string, subject: string): string {
  return [
    'From: Customer <customer@example.net>',
    'To: support@acme.example',
    `Subject: ${subject}`,
    `Message-ID: <${id}>`,
    'Date: Tue, 24 Nov 2026 10:00:00 +0000',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Hello, my order has not arrived.',
    '',
  ].join('\r\n');
}

async function uidValidity(server: DovecotServer, mailbox = 'INBOX'): Promise<bigint> {
  const client = await connectImap(server);
  try {
    return (await client.mailboxOpen(mailbox, { readOnly: true })).uidValidity;
  } finally {
    await client.logout();
  }
}

describe('startDovecot', () => {
  let server: DovecotServer;

  beforeAll(async () => {
    server = await startDovecot();
  });

  afterAll(async () => {
    await server?.close();
  });

  it('delivers with doveadm and appends over IMAP', async () => {
    expect(server.host).toBe('127.0.0.1');
    expect(server.user).toBe('support@acme.example');

    await server.deliver(server.user, eml('delivered@example.net', 'Delivered'));
    await server.append(Buffer.from(eml('appended@example.net', 'Appended')), 'INBOX', ['\\Seen']);

    const messages = await server.listMailbox();
    expect(messages.map((m) => m.messageId)).toEqual(['<delivered@example.net>', '<appended@example.net>']);
    expect(messages.map((m) => m.subject)).toEqual(['Delivered', 'Appended']);
    expect(messages[0]?.flags).toEqual([]);
    expect(messages[1]?.flags).toEqual(['\\Seen']);
    expect(messages[1]?.uid).toBeGreaterThan(messages[0]?.uid ?? Infinity);
  });

  it('creates a missing mailbox on deliver and on append', async () => {
    await server.deliver(server.user, eml('archived@example.net', 'Archived'), 'Archive');
    await server.append(eml('later@example.net', 'Later'), 'Later');

    expect((await server.listMailbox('Archive')).map((m) => m.messageId)).toEqual(['<archived@example.net>']);
    expect((await server.listMailbox('Later')).map((m) => m.messageId)).toEqual(['<later@example.net>']);
  });

  it('keeps mail and UIDVALIDITY across a restart', async () => {
    const before = await uidValidity(server);

    await server.stop();
    await expect(connectImap(server)).rejects.toThrow();
    await server.start();

    expect(await uidValidity(server)).toBe(before);
    expect(await server.listMailbox()).toHaveLength(2);
  });

  it('gives INBOX a new UIDVALIDITY and no mail when the maildir is recreated', async () => {
    const before = await uidValidity(server);

    await server.recreateMaildir(server.user);

    expect(await uidValidity(server)).toBeGreaterThan(before);
    expect(await server.listMailbox()).toEqual([]);
  });

  it('removes its directory on close', async () => {
    const other = await startDovecot({ users: [{ user: 'ops@acme.example', password: 'hunter2' }] });
    await other.deliver('ops@acme.example', eml('ops@example.net', 'Ops'));
    expect(await other.listMailbox()).toHaveLength(1);

    await other.close();

    await expect(access(other.dir)).rejects.toThrow();
    await expect(connectImap(other)).rejects.toThrow();
  });

  it('says why when Dovecot does not start', async () => {
    const broken = await startDovecot();
    try {
      await broken.stop();
      await appendFile(broken.configPath, 'no_such_setting = 1\n');

      await expect(broken.start()).rejects.toThrow(/Dovecot did not start[\s\S]*no_such_setting/);
    } finally {
      await broken.close();
    }
  });
});
