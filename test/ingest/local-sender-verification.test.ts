import { describe, expect, it } from 'vitest';
import { createLocalSenderCheck, hasDkimSignature } from '../../src/ingest/local-auth.js';
import { parseEmail } from '../../src/ingest/parse-email.js';
import { needsLocalCheck, verifySender, type VerificationInput } from '../../src/ingest/sender-verification.js';
import { dkimWorld } from '../harness/mail.js';

const base: VerificationInput = {
  fromAddresses: ['kenji@orbit.example'],
  authResults: [],
  authservId: 'mx.acme.example',
  trustedSenders: [],
};

describe('verifySender (Authentication-Results)', () => {
  it('ignores results from a foreign authserv-id, however good they look', () => {
    const sender = verifySender({
      ...base,
      authResults: ['mx.evil.example; spf=pass smtp.mailfrom=orbit.example; dkim=pass header.d=orbit.example; dmarc=pass header.from=orbit.example'],
    });
    expect(sender).toEqual({ verified: false, reason: 'no Authentication-Results from our authserv-id' });
  });

  it('believes the topmost result of our own authserv-id', () => {
    const sender = verifySender({
      ...base,
      authResults: ['mx.acme.example; dkim=pass header.d=orbit.example; dmarc=pass header.from=orbit.example', 'mx.acme.example; dmarc=fail'],
    });
    expect(sender).toEqual({ verified: true, address: 'kenji@orbit.example', method: 'dmarc' });
  });

  it('a trusted mailbox verifies its senders; a local check is not needed there', () => {
    expect(verifySender({ ...base, trustedMailbox: true })).toMatchObject({ verified: true, method: 'trusted-mailbox' });
    expect(needsLocalCheck({ ...base, trustedMailbox: true }, true)).toBe(false);
    expect(needsLocalCheck(base, false)).toBe(false);
    expect(needsLocalCheck(base, true)).toBe(true);
    expect(needsLocalCheck({ ...base, authResults: ['mx.acme.example; dmarc=fail'] }, true)).toBe(false);
  });
});

describe('local DKIM/DMARC check (mailauth, planted DNS)', () => {
  const world = dkimWorld('customer.example');
  const check = createLocalSenderCheck({ resolver: world.resolver, mta: 'mx.acme.example' });

  async function verify(raw: Buffer) {
    const parsed = await parseEmail(raw);
    const input: VerificationInput = { ...base, fromAddresses: parsed.facts.fromAddresses, authResults: parsed.facts.authResults };
    const signed = hasDkimSignature(parsed.facts.headerLines);
    const local = needsLocalCheck(input, signed) ? await check(raw) : undefined;
    return verifySender({ ...input, local });
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
    expect(verifySender({ ...base, fromAddresses: ['alice@customer.example'], local }).verified).toBe(false);
  });
});
