import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmailId } from '../../src/kernel/ids.js';
import { linkBounce, readBounces } from '../../src/ingest/bounces.js';
import { dsnOutcome } from '../../src/ingest/dsn-parser.js';
import { email, startRig, type Instance, type Rig } from '../etiquette/instance.js';
import type { SmtpCapture } from '../harness/smtp-capture.js';

/** A Postfix-style DSN for `originalId`, its original headers in a text/rfc822-headers part. */
function postfixDsn(dsnId: string, originalId: string, recipient: string): string {
  return [
    'Return-Path: <>',
    'From: MAILER-DAEMON@mx.customer.example (Mail Delivery System)',
    'To: support@acme.example',
    'Subject: Undelivered Mail Returned to Sender',
    'Date: Thu, 6 Mar 2025 11:00:02 +0000',
    `Message-ID: ${dsnId}`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"',
    '',
    '--b1',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    `<${recipient}>: host mx.customer.example said: 550 5.1.1 User unknown`,
    '',
    '--b1',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.customer.example',
    '',
    `Final-Recipient: rfc822; ${recipient}`,
    'Action: failed',
    'Status: 5.1.1',
    'Diagnostic-Code: smtp; 550 5.1.1 User unknown',
    '',
    '--b1',
    'Content-Type: text/rfc822-headers',
    '',
    'From: Acme Support <support@acme.example>',
    `To: ${recipient}`,
    'Subject: Re: Invoice copy',
    `Message-ID: ${originalId}`,
    'Auto-Submitted: auto-replied',
    '',
    '--b1--',
    '',
  ].join('\r\n');
}

describe('bounces are linked to the email whose reply bounced (real Redis, real SMTP)', () => {
  let rig: Rig;
  let smtp: SmtpCapture;
  let mailroom: Instance;
  const customers = ['ann@customer.example', 'ben@customer.example'];
  const originals: EmailId[] = [];
  const replyIds: string[] = [];

  beforeAll(async () => {
    rig = await startRig(customers);
    ({ smtp, mailroom } = rig);
    for (const [i, from] of customers.entries()) {
      const id = await mailroom.submit(
        email({ From: from, To: 'support@acme.example', Subject: 'Invoice copy', 'Message-ID': `<q${i}@customer.example>` }, 'Please send me a copy of my invoice.'),
      );
      originals.push(id);
    }
    await mailroom.waitRest(originals);
    await smtp.waitFor(2);
    for (const from of customers) replyIds.push(smtp.messages.find((m) => m.envelope.to.includes(from))?.parsed.messageId ?? '');
  });
  afterAll(async () => {
    await rig?.close();
  });

  it('records a DSN for our reply on the right email, and files the DSN as a bounce', async () => {
    const [annId, benId] = originals as [EmailId, EmailId];
    const bounceId = await mailroom.submit(postfixDsn('<dsn-1@mx.customer.example>', replyIds[1] ?? '', 'ben@customer.example'));
    const [bounce] = await mailroom.waitRest([bounceId]);
    expect(bounce).toMatchObject({ state: 'completed', reason: 'bounce', robot: 'bounce' });

    const bounces = await readBounces(mailroom.app.redis, mailroom.app.keys, benId);
    expect(bounces).toEqual([{ bounceEmailId: bounceId, messageId: replyIds[1], action: 'failed', status: '5.1.1', at: expect.any(String) }]);
    expect(await readBounces(mailroom.app.redis, mailroom.app.keys, annId)).toEqual([]);

    const benTrail = await mailroom.app.audit.read(benId);
    expect(benTrail.find((e) => e.type === 'bounced')?.data).toMatchObject({ bounceEmailId: bounceId, messageId: replyIds[1], action: 'failed', status: '5.1.1', stepId: 'send' });
    const bounceTrail = await mailroom.app.audit.read(bounceId);
    expect(bounceTrail.find((e) => e.type === 'bounce_linked')?.data).toMatchObject({ linked: [{ emailId: benId, messageId: replyIds[1] }] });
    // The email that was answered keeps its own outcome; the bounce is a record, not a new state.
    expect((await mailroom.app.ledger.get(benId))?.state).toBe('completed');
    // No reply to the mailer daemon, nor a second one to the customer.
    expect(smtp.messages).toHaveLength(2);
  });

  it('records a bounce once, even when it is processed again', async () => {
    const [, benId] = originals as [EmailId, EmailId];
    const raw = Buffer.from(postfixDsn('<dsn-1@mx.customer.example>', replyIds[1] ?? '', 'ben@customer.example'));
    const bounceId = await mailroom.submit(raw);
    await linkBounce(mailroom.app, bounceId, raw);
    expect(await readBounces(mailroom.app.redis, mailroom.app.keys, benId)).toHaveLength(1);
    expect((await mailroom.app.audit.read(benId)).filter((e) => e.type === 'bounced')).toHaveLength(1);
  });

  it('files a DSN that names none of our replies as a bounce, linked to nothing', async () => {
    const bounceId = await mailroom.submit(postfixDsn('<dsn-2@mx.customer.example>', '<never-sent@acme.example>', 'x@customer.example'));
    const [bounce] = await mailroom.waitRest([bounceId]);
    expect(bounce).toMatchObject({ state: 'completed', reason: 'bounce' });
    const trail = await mailroom.app.audit.read(bounceId);
    expect(trail.find((e) => e.type === 'bounce_linked')?.data).toMatchObject({ linked: [] });
    const [annId, benId] = originals as [EmailId, EmailId];
    expect(await readBounces(mailroom.app.redis, mailroom.app.keys, annId)).toHaveLength(0);
    expect(await readBounces(mailroom.app.redis, mailroom.app.keys, benId)).toHaveLength(1);
  });

  it('reads Action and Status only in their RFC 3464 forms', () => {
    expect(dsnOutcome(postfixDsn('<a@b>', '<c@d>', 'e@f'))).toEqual({ action: 'failed', status: '5.1.1' });
    expect(dsnOutcome('Content-Type: message/delivery-status\n\nAction: <script>\nStatus: 5.1.1 (oops)\n')).toEqual({ action: null, status: '5.1.1' });
    expect(dsnOutcome('Content-Type: text/plain\n\nAction: failed\n')).toEqual({ action: null, status: null });
  });
});
