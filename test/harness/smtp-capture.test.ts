import { createTransport } from 'nodemailer';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSmtpCapture } from './smtp-capture.js';
import type { SmtpCapture } from './smtp-capture.js';

describe('SMTP capture', () => {
  let capture: SmtpCapture;
  const transport = () =>
    createTransport({ host: capture.host, port: capture.port, secure: false, ignoreTLS: true });

  beforeAll(async () => {
    capture = await startSmtpCapture();
  });
  afterAll(async () => {
    await capture.close();
  });
  beforeEach(() => capture.reset());

  it('captures envelope, raw text and parsed mail', async () => {
    expect(capture.url).toBe(`smtp://127.0.0.1:${capture.port}`);
    await transport().sendMail({
      from: 'Support <support@mailroom.test>',
      to: 'customer@example.com',
      bcc: 'audit@mailroom.test',
      subject: 'Re: Your invoice – ünïcode',
      text: 'Hello there',
      messageId: '<plan-1.step-send@mailroom.test>',
      inReplyTo: '<original@example.com>',
    });

    expect(capture.messages).toHaveLength(1);
    const [message] = capture.messages;
    expect(message?.envelope).toEqual({
      from: 'support@mailroom.test',
      to: ['customer@example.com', 'audit@mailroom.test'],
    });
    expect(message?.raw).toContain('Message-ID: <plan-1.step-send@mailroom.test>');
    expect(message?.raw).not.toMatch(/^Bcc:/m);
    expect(message?.parsed.subject).toBe('Re: Your invoice – ünïcode');
    expect(message?.parsed.text?.trim()).toBe('Hello there');
    expect(message?.parsed.messageId).toBe('<plan-1.step-send@mailroom.test>');
    expect(message?.parsed.inReplyTo).toBe('<original@example.com>');
  });

  it('waitFor resolves once enough messages arrived', async () => {
    const waiting = capture.waitFor(2, 5_000);
    const sender = transport();
    await Promise.all([
      sender.sendMail({ from: 'a@mailroom.test', to: 'x@example.com', subject: 'one', text: '1' }),
      sender.sendMail({ from: 'a@mailroom.test', to: 'y@example.com', subject: 'two', text: '2' }),
    ]);
    const messages = await waiting;
    expect(messages.map((message) => message.parsed.subject).sort()).toEqual(['one', 'two']);
    await expect(capture.waitFor(1, 10)).resolves.toHaveLength(2);
  });

  it('waitFor rejects on timeout with what arrived', async () => {
    await transport().sendMail({
      from: 'a@mailroom.test',
      to: 'x@example.com',
      subject: 'only one',
      text: '1',
    });
    await expect(capture.waitFor(2, 50)).rejects.toThrow(
      /expected 2 messages within 50 ms, 1 accepted:\n {2}1\. a@mailroom\.test -> x@example\.com: "only one"/,
    );
  });

  it('failNext refuses messages with the given code, then accepts again', async () => {
    capture.failNext(1, 451);
    const mail = { from: 'a@mailroom.test', to: 'x@example.com', subject: 'retry me', text: 'body' };
    await expect(transport().sendMail(mail)).rejects.toMatchObject({ responseCode: 451 });
    expect(capture.messages).toHaveLength(0);
    expect(capture.rejected.map((message) => message.parsed.subject)).toEqual(['retry me']);

    capture.failNext(1, 554, 'No thanks');
    await expect(transport().sendMail(mail)).rejects.toMatchObject({ responseCode: 554 });

    await transport().sendMail(mail);
    expect(capture.messages).toHaveLength(1);
    expect(capture.rejected).toHaveLength(2);
  });

  it('close rejects pending waiters', async () => {
    const other = await startSmtpCapture();
    const waiting = other.waitFor(1, 5_000);
    await other.close();
    await expect(waiting).rejects.toThrow(/closed while waiting for 1 messages/);
  });
});
