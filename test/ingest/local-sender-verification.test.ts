import { authenticate } from 'mailauth';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLocalSenderCheck } from '../../src/mail/local-auth.js';
import { parseEmail } from '../../src/ingest/parse-email.js';
import { needsLocalCheck, verifySender, type VerificationPolicy } from '../../src/ingest/sender-verification.js';
import { dkimWorld } from '../harness/mail.js';

const policy: VerificationPolicy = {
  profile: 'generic',
  authservId: 'mx.acme.example',
  receivedBy: undefined,
  trustedSenders: [],
  ourAddresses: ['support@acme.example'],
  // The signers here date their mail now or on a fixed day: the Date window has tests of its own.
  maxAgeMs: null,
};

/** The verification input of a raw message, as ingest builds it. */
async function inputOf(raw: Buffer) {
  const parsed = await parseEmail(raw);
  return { fromAddresses: parsed.facts.fromAddresses, facts: parsed.facts.auth, policy };
}

/** Our MTA's Received line, which the Authentication-Results it writes stand above. */
const OUR_HOP = 'Received: from mail.customer.example (mail.customer.example [198.51.100.7])\r\n\tby mx.acme.example (Postfix) with ESMTPS id 1A2B\r\n\tfor <support@acme.example>; Tue, 24 Nov 2026 10:00:05 +0000\r\n';

describe('verifySender (Authentication-Results)', () => {
  const plainMail = Buffer.from('From: <kenji@orbit.example>\r\nTo: support@acme.example\r\nSubject: hi\r\nMessage-ID: <o@orbit.example>\r\n\r\nhello\r\n');

  it('ignores results from a foreign authserv-id, however good they look', async () => {
    const raw = Buffer.concat([Buffer.from(`Authentication-Results: mx.evil.example; dkim=pass header.d=orbit.example; dmarc=pass header.from=orbit.example\r\n${OUR_HOP}`), plainMail]);
    expect(verifySender({ ...(await inputOf(raw)), now: Date.now() })).toEqual({ verified: false, reason: 'no Authentication-Results from our authserv-id' });
  });

  it('a trusted mailbox verifies its senders; a local check is not needed there, nor for unsigned mail, nor where our results count', async () => {
    const input = await inputOf(plainMail);
    expect(verifySender({ ...input, trustedMailbox: true, now: Date.now() })).toMatchObject({ verified: true, method: 'trusted-mailbox' });
    expect(needsLocalCheck({ ...input, trustedMailbox: true })).toBe(false);
    expect(needsLocalCheck(input)).toBe(false);
  });
});

describe('local DKIM/DMARC check (mailauth, planted DNS)', () => {
  const world = dkimWorld('customer.example');
  const check = createLocalSenderCheck({ resolver: world.resolver, mta: 'mx.acme.example' });

  async function verify(raw: Buffer) {
    const input = await inputOf(raw);
    const local = needsLocalCheck(input) ? await check(raw) : undefined;
    return verifySender({ ...input, local, now: Date.now() });
  }

  const mail = { from: 'Alice <alice@customer.example>', subject: 'Invoice', text: 'Please resend my invoice.', messageId: '<dkim-1@customer.example>' };

  it('verifies a validly signed, DMARC-aligned message', async () => {
    const raw = await world.sign(mail);
    expect(await verify(raw)).toEqual({ verified: true, address: 'alice@customer.example', method: 'dmarc' });
  });

  it('does not verify the same message with a changed body', async () => {
    const raw = (await world.sign(mail)).toString('latin1').replace('Please resend my invoice.', 'Please resend ALL invoices.');
    const sender = await verify(Buffer.from(raw, 'latin1'));
    expect(sender.verified).toBe(false);
    expect(sender).toMatchObject({ reason: 'local check: dmarc=fail' });
  });

  it('does not verify the same message with a spoofed From', async () => {
    world.plant('_dmarc.bank.example', 'v=DMARC1; p=reject');
    const raw = (await world.sign(mail)).toString('latin1').replace('alice@customer.example', 'ceo@bank.example');
    const sender = await verify(Buffer.from(raw, 'latin1'));
    expect(sender.verified).toBe(false);
  });

  it('does not verify a signature by a domain that is not the From domain', async () => {
    const other = dkimWorld('relay.example');
    const raw = await other.sign({ ...mail, from: 'alice@customer.example' });
    const local = await createLocalSenderCheck({ resolver: other.resolver, mta: 'mx.acme.example' })(raw);
    expect(local.dkim.some((d) => d.result === 'pass' && d.domain === 'relay.example')).toBe(true);
    expect(verifySender({ ...(await inputOf(raw)), local, now: Date.now() }).verified).toBe(false);
  });

  /** A plain message by alice@customer.example, CRLF, as an MTA would receive it. */
  const plain = (body: string) =>
    Buffer.from(
      ['From: Alice <alice@customer.example>', 'To: support@acme.example', 'Subject: Invoice', 'Message-ID: <dkim-l@customer.example>', 'Date: Tue, 24 Nov 2026 10:00:00 +0000', '', body].join('\r\n'),
    );
  const signedBody = 'Please resend my invoice.\r\n\r\nThanks, Alice\r\n';
  const appended = '\r\nP.S. Our bank details changed: send refunds to the account below.\r\n';

  it('an l= signature over a message with unsigned text appended is no pass (mailauth says dkim and dmarc pass)', async () => {
    // l= the whole body at signing time: the signature itself is fine.
    const signed = await world.signRaw(plain(signedBody), { bodyLength: 1_000_000 });
    expect(signed.toString('latin1')).toMatch(/; l=\d+;/);
    expect(await verify(signed)).toEqual({ verified: true, address: 'alice@customer.example', method: 'dmarc' });
    const tampered = Buffer.concat([signed, Buffer.from(appended)]);
    const local = await check(tampered);
    expect(local.dmarc).toMatchObject({ result: 'pass', headerFrom: 'customer.example' });
    expect(local.dmarc?.unsignedBytes).toBeGreaterThan(0);
    expect(local.dkim).toMatchObject([{ domain: 'customer.example', result: 'pass', unsignedBytes: local.dmarc?.unsignedBytes }]);
    expect(await verify(tampered)).toEqual({ verified: false, reason: 'local check: DKIM signs only part of the body (l=)' });
  });

  it('the Authentication-Results mailauth writes for that message does not verify it either', async () => {
    const tampered = Buffer.concat([await world.signRaw(plain(signedBody), { bodyLength: 1_000_000 }), Buffer.from(appended)]);
    const res = await authenticate(tampered, { resolver: world.resolver, mta: 'mx.acme.example', trustReceived: false, disableArc: true, disableBimi: true });
    const header = /^Authentication-Results:\s*(.*(?:\r\n[ \t].*)*)/im.exec(res.headers)?.[1] ?? '';
    expect(header).toMatch(/^mx\.acme\.example;/);
    expect(header).toMatch(/dkim=pass/);
    expect(header).toMatch(/dmarc=pass/);
    // As our MTA would deliver it: its header above its Received line. The verdict comes from the
    // DKIM-Signature's own l= (mailauth's "undersized" comment is not what decides).
    const delivered = Buffer.concat([Buffer.from(`Authentication-Results: ${header.replace(/\(undersized[^)]*\)/g, '')}\r\n${OUR_HOP}`), tampered]);
    const sender = verifySender({ ...(await inputOf(delivered)), now: Date.now() });
    expect(sender).toEqual({ verified: false, reason: 'DKIM signs only part of the body (l=)' });
  });

  it('verifies a From on a subdomain of the signer: mailauth 5+ reports header.from as the From domain itself', async () => {
    const raw = await world.sign({ ...mail, from: 'Alice <alice@billing.customer.example>', messageId: '<dkim-sub@customer.example>' });
    const local = await check(raw);
    expect(local.dmarc).toMatchObject({ result: 'pass', headerFrom: 'billing.customer.example', unsignedBytes: 0 });
    expect(await verify(raw)).toEqual({ verified: true, address: 'alice@billing.customer.example', method: 'dmarc' });
  });

  it('an rsa-sha1 signature is no pass (RFC 8301; mailauth counts it unless told not to)', async () => {
    const raw = await world.signRaw(plain(signedBody), { algorithm: 'rsa-sha1' });
    expect(raw.toString('latin1')).toMatch(/a=rsa-sha1/);
    const local = await check(raw);
    expect(local.dkim.map((d) => d.result)).toEqual(['policy']);
    expect((await verify(raw)).verified).toBe(false);
    expect(await verify(await world.signRaw(plain(signedBody), { algorithm: 'rsa-sha256' }))).toMatchObject({ verified: true, method: 'dmarc' });
  });

  describe('console', () => {
    afterEach(() => vi.restoreAllMocks());

    it('mailauth writes nothing to stdout or the console, even for an l= longer than the body (4.13.3 printed TOTAL … EXPECTING …)', async () => {
      const signed = await world.signRaw(plain(signedBody), { bodyLength: 1_000_000 });
      const truncated = Buffer.from(signed.toString('latin1').replace('Thanks, Alice\r\n', ''), 'latin1');
      const written: string[] = [];
      const capture = (...args: unknown[]) => void written.push(args.map(String).join(' '));
      vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => (capture(chunk), true));
      for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const) vi.spyOn(console, level).mockImplementation(capture);
      const sender = await verify(truncated);
      vi.restoreAllMocks();
      expect(written).toEqual([]);
      expect(sender.verified).toBe(false);
    });
  });
});
