import { describe, expect, it } from 'vitest';
import { emailIdOf } from '../../src/ingest/submit.js';

const MAILBOX = 'support@acme.example';
const mail = (from: string, body: string, extra: string[] = []) =>
  Buffer.from([...extra, `From: ${from}`, 'To: support@acme.example', 'Subject: Invoice', 'Message-ID: <20261128.1@customer.example>', '', body, ''].join('\r\n'));
const id = (raw: Buffer) => emailIdOf(raw, MAILBOX);

describe('emailIdOf: which deliveries count as the same email', () => {
  const original = mail('Ann <ann@customer.example>', 'Where is my invoice?');

  it('the same message again is the same email: re-read, more trace headers, LF line ends, From spelled otherwise', () => {
    expect(id(Buffer.from(original))).toBe(id(original));
    expect(id(Buffer.concat([Buffer.from('Received: from mx.example by mx.acme.example; Sat, 28 Nov 2026 01:00:00 +0000\r\nDelivered-To: support@acme.example\r\n'), original]))).toBe(id(original));
    expect(id(Buffer.from(original.toString().replace(/\r\n/g, '\n')))).toBe(id(original));
    expect(id(mail('"Ann B." <ANN@Customer.Example>', 'Where is my invoice?'))).toBe(id(original));
  });

  it('the same Message-ID from another sender, or under a forged From with other text, is another email (before: the same)', () => {
    expect(id(mail('mallory@evil.example', 'Where is my invoice?'))).not.toBe(id(original));
    expect(id(mail('Ann <ann@customer.example>', 'hello'))).not.toBe(id(original));
    expect(id(mail('Ann <ann@customer.example>, mallory@evil.example', 'Where is my invoice?'))).not.toBe(id(original));
  });

  it('the body digest covers the first 64 KiB: text after that does not tell two deliveries apart', () => {
    const long = 'a'.repeat(70_000);
    expect(id(mail('ann@customer.example', `${long}x`))).toBe(id(mail('ann@customer.example', `${long}y`)));
    expect(id(mail('ann@customer.example', `x${long}`))).not.toBe(id(mail('ann@customer.example', `y${long}`)));
  });

  it('without a Message-ID the whole message is the key', () => {
    const bare = Buffer.from('From: ann@customer.example\r\n\r\nhi\r\n');
    expect(id(bare)).toBe(id(Buffer.from(bare)));
    expect(id(Buffer.from('From: ann@customer.example\r\n\r\nhi!\r\n'))).not.toBe(id(bare));
  });
});
