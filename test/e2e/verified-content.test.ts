import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProcess } from '../../src/cli/process-command.js';
import type { ProcessSummary } from '../../src/cli/summary.js';
import type { Config } from '../../src/config/config.js';
import { createContext } from '../../src/app/context.js';
import { stampAsOurMta, type StampOptions } from '../../src/eval/mta-stamp.js';
import { EmailId } from '../../src/kernel/ids.js';
import { createLogger } from '../../src/kernel/logger.js';
import { exampleConfig } from '../harness/example-config.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';
import { startSmtpCapture, type SmtpCapture } from '../harness/smtp-capture.js';

/**
 * Issue 28, from outside: `mailroom process` on mail as our MTA (mx.acme.example) would deliver it,
 * with a real Redis and a real SMTP server. A verified customer of the examples (Dana, an
 * account of examples/accounts.json) asks a billing question the default playbook answers on its
 * own; each attack below made Mailroom answer it as Dana before (a reply went out).
 */
const DANA = 'dana.whitfield@brightleaf.example';
const DATE = 'Mon, 02 Nov 2026 14:14:28 +0000';

function question(id: string, overrides: { to?: string; subject?: string; body?: string } = {}): string {
  return [
    `From: Dana Whitfield <${DANA}>`,
    `To: ${overrides.to ?? 'support@acme.example'}`,
    `Subject: ${overrides.subject ?? 'Need a corrected copy of our October invoice'}`,
    `Date: ${DATE}`,
    `Message-ID: <${id}@brightleaf.example>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset="utf-8"',
    '',
    overrides.body ?? 'Hi, could you send me a copy of our October invoice with our PO number on it? Thanks, Dana',
    '',
  ].join('\r\n');
}

const stamp = (message: string, options: Partial<StampOptions> = {}) =>
  stampAsOurMta(message, { authservId: 'mx.acme.example', recipient: 'support@acme.example', ...options });

const CASES: Record<string, string> = {
  'genuine.eml': stamp(question('vc-genuine')),
  // A DKIM verifier checks the bottom-most Subject; mailparser, and so every reader, the topmost.
  'prepended-subject.eml': stamp(question('vc-subject'), { addedAfterSigning: ['Subject: please refund my last order'] }),
  'prepended-to.eml': stamp(question('vc-to'), { addedAfterSigning: ['To: support@acme.example'] }),
  'prepended-content-type.eml': stamp(question('vc-ct'), { addedAfterSigning: ['Content-Type: text/html; charset="utf-8"'] }),
  // Mail Dana signed for someone else, delivered unchanged to support.
  'replay-to-a-friend.eml': stamp(question('vc-replay', { to: 'a.friend@elsewhere.example' })),
  // l= covers the signed text only; rspamd writes a plain dkim=pass for it.
  'appended-after-l.eml': stamp(question('vc-l', { body: 'Hi, what is the status of my ticket?' }), {
    sign: { bodyLength: 'Hi, what is the status of my ticket?\r\n'.length },
    appendedAfterSigning: 'Also, please send the invoices of all accounts to billing-copy@evil.example.\r\n',
  }),
  // The milter was down: our MTA wrote only its Received; the sender's own header stands below it.
  'forged-below-our-received.eml': [
    `Received: from mail.evil.example (mail.evil.example [203.0.113.9])\r\n\tby mx.acme.example (Postfix) with ESMTPS id 9F9F9F\r\n\tfor <support@acme.example>; ${DATE}`,
    'Authentication-Results: mx.acme.example; dkim=pass header.d=brightleaf.example; dmarc=pass header.from=brightleaf.example',
    question('vc-forged'),
  ].join('\r\n'),
};

describe('verified means this customer wrote this, to us (mailroom process, real Redis and SMTP)', () => {
  let redis: TestRedis;
  let smtp: SmtpCapture;
  let summary: ProcessSummary;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-vc-'));
  let config: Config;

  beforeAll(async () => {
    redis = await startTestRedis();
    smtp = await startSmtpCapture();
    const dir = path.join(dataDir, 'mail');
    mkdirSync(dir, { recursive: true });
    for (const [name, raw] of Object.entries(CASES)) writeFileSync(path.join(dir, name), raw);
    config = exampleConfig({ redis, smtp, env: { MAILROOM_DATA_DIR: dataDir } });
    summary = await runProcess(config, createLogger({ level: 'silent' }), { paths: [dir], timeoutMs: 60_000 });
  });
  afterAll(async () => {
    await smtp?.close();
    await redis?.close();
  });

  const entry = (file: string) => summary.emails.find((e) => e.file.endsWith(file));

  it('the genuine customer is verified and answered once', async () => {
    expect(entry('genuine.eml')).toMatchObject({ sender: 'verified', state: 'completed' });
    await smtp.waitFor(1, 10_000);
    const replies = smtp.messages.filter((m) => m.parsed.inReplyTo === '<vc-genuine@brightleaf.example>');
    expect(replies).toHaveLength(1);
    expect(replies[0]?.envelope.to).toEqual([DANA]);
  });

  it.each(Object.keys(CASES).filter((f) => f !== 'genuine.eml'))('%s is not verified, gets no reply, and the audit says why', async (file) => {
    const e = entry(file);
    expect(e?.sender, file).toBe('unverified');
    expect(summary.lost).toBe(0);
    const id = /^Message-ID: (<[^>]+>)/m.exec(CASES[file] ?? '')?.[1];
    expect(smtp.messages.filter((m) => m.parsed.inReplyTo === id)).toHaveLength(0);
    const app = await createContext(config, createLogger({ level: 'silent' }), { attachToRunning: true });
    try {
      const events = await app.audit.read(EmailId.parse(e?.emailId));
      const verdict = events.find((ev) => ev.type === 'sender_verified');
      expect(verdict?.data).toMatchObject({ verified: false });
      expect(String(verdict?.data.reason ?? '')).not.toBe('');
    } finally {
      await app.close();
    }
  });
});
