import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { dkimSignature, type SignOptions } from '../../src/eval/mta-stamp.js';
import { loadAccounts } from '../../src/store/accounts.js';
import { parseEmail } from '../../src/ingest/parse-email.js';
import { verificationInput } from '../../src/ingest/triage.js';
import { aligned, needsLocalCheck, verifySender, type VerificationPolicy } from '../../src/ingest/sender-verification.js';
import { countFromMailboxes } from '../../src/ingest/auth-facts.js';
import { parseAuthenticationResults } from '../../src/ingest/authentication-results.js';
import { Sender } from '../../src/model/trusted-context.js';
import { EXAMPLE_CONFIG_FILE } from '../fixtures/examples.js';

const OURS = 'mx.acme.example';
const FROM = 'dana.whitfield@brightleaf.example';
const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));
const DATE = 'Mon, 02 Nov 2026 14:14:28 +0000';
const NOW = Date.parse(DATE) + 60_000;

const POLICY: VerificationPolicy = {
  profile: 'generic',
  authservId: OURS,
  receivedBy: undefined,
  trustedSenders: [],
  ourAddresses: ['support@acme.example', 'billing@acme.example'],
  maxAgeMs: 14 * 86_400_000,
};

interface MailShape {
  from?: string;
  to?: string;
  /** Header lines of the customer's message after From/To (default Subject, Date, Message-ID, MIME-Version, Content-Type). */
  headers?: string[];
  body?: string;
  /** How the customer's domain signs it (false: not signed). `{b}` in the results below stands for its b= start. */
  sign?: false | Partial<SignOptions>;
  /** Header lines a sender added after signing, before our MTA (they stand below our Received line). */
  prepended?: string[];
  /** Authentication-Results values our MTA wrote, above its Received line. */
  ours?: string[];
  /** Authentication-Results values below our Received line (a sender wrote them). */
  below?: string[];
  /** Our MTA's Received line (null: none). */
  received?: string | null;
  /** Trace header lines above everything (what the mailbox host adds after our MTA). */
  top?: string[];
  /** Text a sender appended to the body after signing. */
  appended?: string;
}

/** A message as it reaches the mailbox, built in the order MTAs prepend: top, ours, Received, prepended, signature, message. */
function mail(shape: MailShape = {}): Buffer {
  const from = shape.from ?? `Dana Whitfield <${FROM}>`;
  const headers = shape.headers ?? ['Subject: Invoice', `Date: ${DATE}`, '<sv-1@brightleaf.example>'.replace(/^/, 'Message-ID: '), 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8'];
  const message = [`From: ${from}`, `To: ${shape.to ?? 'support@acme.example'}`, ...headers, '', shape.body ?? 'Please resend my invoice.', ''].join('\r\n');
  const domain = /@([a-z0-9.-]+)>?$/i.exec(from)?.[1]?.toLowerCase() ?? 'brightleaf.example';
  const signature = shape.sign === false ? null : dkimSignature(message, { domain, ...shape.sign });
  const b = signature ? (/b=([A-Za-z0-9+/=]{8})[A-Za-z0-9+/=]*$/.exec(signature)?.[1] ?? '') : '';
  const ar = (v: string) => `Authentication-Results: ${v.replace(/\{b\}/g, b)}`;
  const received = shape.received === undefined ? `Received: from mail.brightleaf.example (mail.brightleaf.example [198.51.100.23])\r\n\tby ${OURS} (Postfix) with ESMTPS id 4A1B2C\r\n\tfor <support@acme.example>; ${DATE}` : shape.received;
  return Buffer.from(
    [
      ...(shape.top ?? []),
      ...(shape.ours ?? []).map(ar),
      ...(received === null ? [] : [received]),
      ...(shape.below ?? []).map(ar),
      ...(shape.prepended ?? []),
      ...(signature ? [signature] : []),
      message + (shape.appended ?? ''),
    ].join('\r\n'),
  );
}

const PASS = `${OURS}; dkim=pass header.d=brightleaf.example header.s=mailroom-example header.b={b}; spf=pass smtp.mailfrom=${FROM}; dmarc=pass header.from=brightleaf.example`;

async function verify(raw: Buffer, policy: Partial<VerificationPolicy> = {}, now = NOW): Promise<Sender> {
  const parsed = await parseEmail(raw);
  const result = verifySender({ fromAddresses: parsed.facts.fromAddresses, facts: parsed.facts.auth, policy: { ...POLICY, ...policy }, now });
  // Whatever the answer, it must fit the TrustedContext schema it is stored in.
  expect(Sender.safeParse(result).success).toBe(true);
  return result;
}

const verified = { verified: true, address: FROM, method: 'dmarc' };

describe('parseAuthenticationResults', () => {
  it('reads the authserv-id, methods, results and properties', () => {
    const r = parseAuthenticationResults(`${OURS}; spf=pass smtp.mailfrom=a@b.example; dkim=pass header.d=B.example header.b=AbCd1234; dmarc=pass header.from=b.example`);
    expect(r?.authservId).toBe(OURS);
    expect(r?.results.map((x) => `${x.method}=${x.result}`)).toEqual(['spf=pass', 'dkim=pass', 'dmarc=pass']);
    // Values compare case-insensitively, but header.b is base64 and keeps its case.
    expect(r?.results[1]?.props).toEqual({ 'header.d': 'b.example', 'header.b': 'AbCd1234' });
  });

  it('keeps comments apart from the properties, including nested ones and a version after the authserv-id', () => {
    const r = parseAuthenticationResults(`${OURS} 1; dkim=pass (good (really)) header.d=b.example`);
    expect(r?.authservId).toBe(OURS);
    expect(r?.results[0]?.comments).toEqual(['good (really)']);
  });

  it('a result written inside a comment does not count', () => {
    const r = parseAuthenticationResults(`${OURS}; dkim=fail (dmarc=pass header.from=b.example) header.d=b.example`);
    expect(r?.results.map((x) => x.method)).toEqual(['dkim']);
  });

  it('reads the id-less form Microsoft 365 writes as results with an empty authserv-id', () => {
    const r = parseAuthenticationResults('spf=pass (sender IP is 198.51.100.23) smtp.mailfrom=b.example; dkim=pass (signature was verified) header.d=b.example;dmarc=pass action=none header.from=b.example;compauth=pass reason=100');
    expect(r?.authservId).toBe('');
    expect(r?.results.map((x) => `${x.method}=${x.result}`)).toEqual(['spf=pass', 'dkim=pass', 'dmarc=pass', 'compauth=pass']);
  });

  it('answers null for an empty header and skips unparseable parts', () => {
    expect(parseAuthenticationResults('   ')).toBeNull();
    expect(parseAuthenticationResults(`${OURS}; garbage; dkim=pass`)?.results).toHaveLength(1);
  });
});

describe('aligned', () => {
  it('is relaxed alignment toward parents only', () => {
    expect(aligned('mail.b.example', 'b.example')).toBe(true);
    expect(aligned('b.example', 'b.example')).toBe(true);
    expect(aligned('b.example', 'mail.b.example')).toBe(false);
    expect(aligned('evilb.example', 'b.example')).toBe(false);
  });
});

describe('verifySender: our MTA\'s results', () => {
  it('dmarc=pass above our MTA\'s Received, naming a signature that covers what the readers see, verifies by DMARC', async () => {
    expect(await verify(mail({ ours: [PASS] }))).toEqual(verified);
  });

  it('matches our authserv-id case-insensitively and lowercases the address', async () => {
    const raw = mail({ from: 'Dana <Dana.Whitfield@BrightLeaf.example>', ours: [PASS.replace(OURS, 'MX.ACME.EXAMPLE')] });
    expect(await verify(raw, { authservId: 'Mx.Acme.Example' })).toEqual(verified);
  });

  it('ignores a passing header from a foreign authserv-id, or one that merely contains ours', async () => {
    for (const id of ['mx.evil.example', 'mx.acme.example.evil.example', 'evil-mx.acme.example']) {
      expect((await verify(mail({ ours: [PASS.replace(OURS, id)] }))).verified, id).toBe(false);
    }
  });

  it('dmarc=fail leaves the sender unverified, even with a passing aligned DKIM', async () => {
    expect(await verify(mail({ ours: [PASS.replace('dmarc=pass', 'dmarc=fail')] }))).toEqual({ verified: false, reason: 'dmarc=fail' });
  });

  it('dmarc=pass for another From domain does not verify this From, aligned DKIM or not', async () => {
    expect(await verify(mail({ ours: [PASS.replace('header.from=brightleaf.example', 'header.from=evil.example')] }))).toEqual({ verified: false, reason: 'DMARC evaluated another From domain' });
  });

  it('an aligned DKIM pass (the From on a subdomain of the signer) verifies by DKIM; an unaligned one does not', async () => {
    const sub = 'dana@eu.brightleaf.example';
    const raw = mail({ from: `<${sub}>`, sign: { domain: 'brightleaf.example' }, ours: [`${OURS}; dkim=pass header.d=brightleaf.example header.b={b}`] });
    expect(await verify(raw)).toEqual({ verified: true, address: sub, method: 'dkim' });
    const other = mail({ sign: { domain: 'esp.example' }, ours: [`${OURS}; dkim=pass header.d=esp.example header.b={b}`] });
    expect(await verify(other)).toEqual({ verified: false, reason: 'no aligned DMARC or DKIM pass' });
  });

  it('an aligned pass counts even when an unaligned one is listed first', async () => {
    expect(await verify(mail({ ours: [`${OURS}; dkim=pass header.d=esp.example; dkim=pass header.d=brightleaf.example header.b={b}`] }))).toMatchObject({ verified: true, method: 'dkim' });
  });

  it('a DMARC pass on SPF alone binds no content and does not verify', async () => {
    const raw = mail({ sign: false, ours: [`${OURS}; dkim=none; spf=pass smtp.mailfrom=${FROM}; dmarc=pass header.from=brightleaf.example`] });
    expect(await verify(raw)).toEqual({ verified: false, reason: 'DMARC passed on SPF alone: no signature binds the content' });
  });

  it('a DKIM pass whose header.b names no signature of the message does not verify', async () => {
    expect(await verify(mail({ ours: [PASS.replace('header.b={b}', 'header.b=ZZZZZZZZ')] }))).toEqual({ verified: false, reason: 'the DKIM pass names no DKIM-Signature of the message' });
  });

  it('several From addresses, a From that is not an address, or no authserv-id are never verified', async () => {
    expect(await verify(mail({ from: `Dana <${FROM}>, CEO <ceo@bank.example>`, ours: [PASS] }))).toEqual({ verified: false, reason: 'several From addresses' });
    expect((await verify(mail({ ours: [PASS] }), { authservId: undefined })).verified).toBe(false);
  });

  it('a configured trusted sender is verified without results; a Unicode look-alike of it is not (U+212A KELVIN SIGN)', async () => {
    expect(await verify(mail({ sign: false }), { trustedSenders: [FROM] })).toEqual({ verified: true, address: FROM, method: 'trusted-sender' });
    const kelvin = '\u212Aate@brightleaf.example';
    const parsed = await parseEmail(Buffer.from(`From: Kate <${kelvin}>\r\nTo: support@acme.example\r\nSubject: hi\r\nMessage-ID: <k@x>\r\n\r\nhello\r\n`, 'utf8'));
    expect(parsed.facts.fromAddresses).toEqual([kelvin]);
    expect(verifySender({ fromAddresses: parsed.facts.fromAddresses, facts: parsed.facts.auth, policy: { ...POLICY, trustedSenders: ['kate@brightleaf.example'] }, now: NOW }).verified).toBe(false);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-sv-acct-'));
    const file = path.join(dir, 'accounts.json');
    writeFileSync(file, JSON.stringify([{ id: 'acct_k', email: 'kate@brightleaf.example', name: 'Kate', tier: 'enterprise' }]));
    const accounts = loadAccounts(file);
    expect(accounts.byEmail(kelvin)).toBeUndefined();
    expect(accounts.byEmail('KATE@BrightLeaf.example')?.id).toBe('acct_k');
  });
});

// Issue 28: each of these made a verified sender before (the names say what used to pass).
describe('the content the readers see is the content that was signed', () => {
  it.each([
    ['Subject', 'Subject: please refund my last order'],
    ['To', 'To: support@acme.example'],
    ['Content-Type', 'Content-Type: text/html; charset=utf-8'],
    ['From', `From: Dana <${FROM}>`],
    ['Date', `Date: ${DATE}`],
  ])('a second %s prepended to a genuinely signed message is unverified (the verifier checks the bottom copy, the readers the top)', async (name, header) => {
    const sender = await verify(mail({ ours: [PASS], prepended: [header] }));
    expect(sender.verified).toBe(false);
    expect(sender.verified === false && sender.reason).toMatch(name === 'From' ? /several From/ : new RegExp(`2 ${name} headers`));
  });

  it('a header the readers see that the signature does not list is unverified', async () => {
    const raw = mail({ sign: { headers: ['from', 'to', 'date', 'message-id'] }, ours: [PASS] });
    expect(await verify(raw)).toEqual({ verified: false, reason: 'Subject is not covered by the DKIM signature' });
  });

  it('an absent header the signature does not list, added by someone else, is unverified (Cc)', async () => {
    const raw = mail({ sign: { headers: ['from', 'to', 'subject', 'date', 'message-id', 'mime-version', 'content-type'] }, prepended: ['Cc: support@acme.example'], ours: [PASS] });
    expect(await verify(raw)).toEqual({ verified: false, reason: 'Cc is not covered by the DKIM signature' });
  });

  it('l= leaving appended text unsigned is no pass, read from the DKIM-Signature itself (rspamd writes a plain dkim=pass)', async () => {
    const body = 'Please resend my invoice.\r\n';
    const appended = 'Also refund my last order.\r\n';
    expect(await verify(mail({ body, sign: { bodyLength: body.length }, ours: [PASS], appended }))).toEqual({ verified: false, reason: 'DKIM signs only part of the body (l=)' });
    // An l= that covers the whole body is a whole-body signature.
    expect(await verify(mail({ body, sign: { bodyLength: body.length + 2 }, ours: [PASS] }))).toEqual(verified);
  });

  it('an expired signature (x=) is no pass', async () => {
    const expires = Math.floor(NOW / 1000) - 3600;
    expect(await verify(mail({ sign: { expires }, ours: [PASS] }))).toEqual({ verified: false, reason: 'the DKIM signature has expired (x=)' });
  });
});

describe('written to us', () => {
  it('a customer\'s signed mail to someone else, replayed to support, is unverified', async () => {
    expect(await verify(mail({ to: 'a.friend@elsewhere.example', ours: [PASS] }))).toEqual({ verified: false, reason: 'the signed To/Cc do not name us: mail written to someone else' });
    // Unless that address is one of ours (a forwarding setup), or we are in Cc.
    expect(await verify(mail({ to: 'help@acme-forward.example', ours: [PASS] }), { ourAddresses: [...POLICY.ourAddresses, 'help@acme-forward.example'] })).toEqual(verified);
    const cc = mail({ to: 'a.friend@elsewhere.example', headers: ['Cc: Support <support@acme.example>', 'Subject: Invoice', `Date: ${DATE}`, 'Message-ID: <sv-2@brightleaf.example>'], ours: [PASS] });
    expect(await verify(cc)).toEqual(verified);
    // A route alias is ours too.
    expect(await verify(mail({ to: 'billing@acme.example', ours: [PASS] }))).toEqual(verified);
  });

  it('a signed Date older than the window before our MTA received it is a replay; the window can be turned off', async () => {
    const old = 'Mon, 05 Oct 2026 09:00:00 +0000';
    const raw = mail({ headers: ['Subject: Invoice', `Date: ${old}`, 'Message-ID: <sv-3@brightleaf.example>'], ours: [PASS] });
    expect(await verify(raw)).toEqual({ verified: false, reason: 'the signed Date is older than the window: a replay' });
    expect(await verify(raw, { maxAgeMs: null })).toEqual(verified);
    // Our MTA's Received date decides, not the clock of the worker (a backlog processed later is no replay).
    expect(await verify(mail({ ours: [PASS] }), {}, NOW + 60 * 86_400_000)).toEqual(verified);
    expect(await verify(mail({ headers: ['Subject: Invoice', 'Message-ID: <sv-4@brightleaf.example>'], ours: [PASS] }))).toEqual({ verified: false, reason: 'no signed Date: its age cannot be told' });
  });
});

describe('an Authentication-Results counts only if our MTA wrote it', () => {
  const forged = `${OURS}; dkim=pass header.d=brightleaf.example; dmarc=pass header.from=brightleaf.example`;

  it('a forged header below our Received (milter down, or a client it skips) is not believed, and the local check still runs', async () => {
    const unsigned = mail({ sign: false, below: [forged] });
    expect(await verify(unsigned)).toEqual({ verified: false, reason: 'Authentication-Results of ours below our Received: inboundResultsRemoved is off' });
    const attackerSigned = mail({ from: `Dana <${FROM}>`, sign: { domain: 'evil.example' }, below: [`${OURS}; dkim=pass header.d=brightleaf.example header.b={b}; dmarc=pass header.from=brightleaf.example`] });
    const parsed = await parseEmail(attackerSigned);
    expect(verifySender({ fromAddresses: parsed.facts.fromAddresses, facts: parsed.facts.auth, policy: POLICY, now: NOW }).verified).toBe(false);
    expect(needsLocalCheck({ fromAddresses: parsed.facts.fromAddresses, facts: parsed.facts.auth, policy: POLICY })).toBe(true);
  });

  it("without inboundResultsRemoved, the milter's genuine header directly below our Received (where Postfix puts rspamd's) does not count either", async () => {
    const raw = mail({ below: [PASS] });
    expect(await verify(raw, { profile: 'rspamd' })).toEqual({ verified: false, reason: 'Authentication-Results of ours below our Received: inboundResultsRemoved is off' });
    const parsed = await parseEmail(raw);
    expect(needsLocalCheck({ fromAddresses: parsed.facts.fromAddresses, facts: parsed.facts.auth, policy: { ...POLICY, profile: 'rspamd' } })).toBe(true);
  });

  it('the topmost of ours above the hop counts, not one further down', async () => {
    expect(await verify(mail({ ours: [PASS.replace('dmarc=pass', 'dmarc=fail'), PASS] }))).toEqual({ verified: false, reason: 'dmarc=fail' });
  });

  it('without our Received line, or with another host at the last SMTP hop, nothing is believed', async () => {
    expect(await verify(mail({ ours: [PASS], received: null }))).toEqual({ verified: false, reason: "no Received line of our MTA: its Authentication-Results cannot be placed" });
    const theirs = 'Received: from x.example by mx.evil.example with ESMTP id 1; ' + DATE;
    expect(await verify(mail({ ours: [PASS], received: theirs }))).toEqual({ verified: false, reason: 'the last SMTP hop is not our MTA (mx.acme.example)' });
    // Dovecot's LMTP hop above ours is delivery, not the SMTP hand-off.
    const lmtp = `Received: from ${OURS} by ${OURS} with LMTP id abc; ${DATE}`;
    expect(await verify(mail({ top: ['Return-Path: <dana@brightleaf.example>', 'Delivered-To: support@acme.example', lmtp], ours: [PASS] }))).toEqual(verified);
    // A `with ESMTP` inside a comment is no SMTP hop.
    const fake = `Received: from evil (helo with ESMTP) by ${OURS} with LMTP; ${DATE}`;
    expect(await verify(mail({ top: [fake], ours: [PASS] }))).toEqual(verified);
  });

  describe('with inboundResultsRemoved (our MTA deletes every sender-written Authentication-Results)', () => {
    const removed = { profile: 'rspamd', inboundResultsRemoved: true } as const;
    // The customer's own relay (a laptop submitting to it), below our hop: its own Received line.
    const twoHops = `Received: from mail.brightleaf.example (mail.brightleaf.example [198.51.100.23])\r\n\tby ${OURS} (Postfix) with ESMTPS id 4A1B2C\r\n\tfor <support@acme.example>; ${DATE}\r\nReceived: from laptop.brightleaf.example by mail.brightleaf.example with ESMTPSA id 77; ${DATE}`;

    it('a header of ours directly below our Received counts, and spares the local check', async () => {
      const raw = mail({ below: [PASS] });
      expect(await verify(raw, removed)).toEqual(verified);
      const parsed = await parseEmail(raw);
      expect(needsLocalCheck({ fromAddresses: parsed.facts.fromAddresses, facts: parsed.facts.auth, policy: { ...POLICY, ...removed } })).toBe(false);
      // Every self-run profile reads it; a provider profile keeps its topmost rule.
      expect(await verify(raw, { ...removed, profile: 'generic' })).toEqual(verified);
      expect((await verify(raw, { ...removed, profile: 'gmail' })).verified).toBe(false);
    });

    it('one below a second, lower Received line never counts: it was written before an earlier hop', async () => {
      const raw = mail({ received: twoHops, below: [PASS] });
      expect(await verify(raw, removed)).toEqual({ verified: false, reason: 'Authentication-Results of our id stand only below an earlier hop: sender-written' });
      expect((await verify(raw)).verified).toBe(false);
    });

    it('the topmost that counts decides, and results are not combined with a header below the next Received', async () => {
      expect(await verify(mail({ below: [PASS.replace('dmarc=pass', 'dmarc=fail'), PASS] }), removed)).toEqual({ verified: false, reason: 'dmarc=fail' });
      // Above the hop still counts, and first.
      expect(await verify(mail({ ours: [PASS.replace('dmarc=pass', 'dmarc=fail')], below: [PASS] }), removed)).toEqual({ verified: false, reason: 'dmarc=fail' });
      // OpenDMARC's header directly below our Received, OpenDKIM's (as a sender would place it) below the customer's relay: not read together.
      const dkimOnly = `${OURS}; dkim=pass header.d=brightleaf.example header.s=mailroom-example header.b={b}`;
      const dmarcOnly = `Authentication-Results: ${OURS}; dmarc=pass header.from=brightleaf.example`;
      const received = twoHops.replace('\r\nReceived:', `\r\n${dmarcOnly}\r\nReceived:`);
      expect((await verify(mail({ received, below: [dkimOnly] }), { ...removed, profile: 'opendkim-opendmarc' })).verified).toBe(false);
      expect(await verify(mail({ received: twoHops.replace('\r\nReceived:', `\r\n${dmarcOnly}\r\nReceived:`).replace(/\r\nReceived: from laptop[^]*$/, ''), below: [dkimOnly] }), { ...removed, profile: 'opendkim-opendmarc' })).toEqual(verified);
    });

    it('OpenDKIM and OpenDMARC headers directly below our Received are read together, as above it', async () => {
      const dkim = `${OURS}; dkim=pass (2048-bit key; unprotected) header.d=brightleaf.example header.i=@brightleaf.example header.s=mailroom-example header.b={b}`;
      const dmarc = `${OURS}; dmarc=pass (p=reject dis=none) header.from=brightleaf.example`;
      expect(await verify(mail({ below: [dmarc, dkim] }), { profile: 'opendkim-opendmarc', inboundResultsRemoved: true })).toEqual(verified);
      expect(await verify(mail({ below: [dmarc, dmarc, dkim] }), { profile: 'opendkim-opendmarc', inboundResultsRemoved: true })).toEqual({ verified: false, reason: 'two Authentication-Results of ours report the same method' });
      expect((await verify(mail({ below: [dmarc, dkim] }), { profile: 'opendkim-opendmarc' })).verified).toBe(false);
    });

    it('is a promise about the MTA: without the header_checks rule a forged header on that spot is believed', async () => {
      // What an attacker sends through a client rspamd skips: a signature of its own for the customer's d= and s=, and our id's A-R naming it.
      const forgedOnSpot = mail({ sign: {}, below: [PASS] });
      expect(await verify(forgedOnSpot, removed)).toEqual(verified);
      expect((await verify(forgedOnSpot)).verified).toBe(false);
    });
  });

  it('receivedBy names our MTA\'s host where it differs from the authserv-id', async () => {
    const raw = mail({ ours: [PASS], received: `Received: from mail.brightleaf.example by smtp-in.acme.example (Postfix) with ESMTPS id 1; ${DATE}` });
    expect((await verify(raw)).verified).toBe(false);
    expect(await verify(raw, { receivedBy: 'smtp-in.acme.example' })).toEqual(verified);
  });
});

describe('recorded Authentication-Results of mail providers and milters', () => {
  it('rspamd (one header, header.d/s/b)', async () => {
    const rspamd = `${OURS}; dkim=pass header.d=brightleaf.example header.s=mailroom-example header.b={b}; spf=pass (${OURS}: domain of ${FROM} designates 198.51.100.23 as permitted sender) smtp.mailfrom=${FROM}; dmarc=pass (policy=reject) header.from=brightleaf.example`;
    expect(await verify(mail({ ours: [rspamd] }), { profile: 'rspamd' })).toEqual(verified);
  });

  it('OpenDKIM and OpenDMARC (two headers of our id above the hop, read together; a second DMARC header is refused)', async () => {
    const dkim = `${OURS}; dkim=pass (2048-bit key; unprotected) header.d=brightleaf.example header.i=@brightleaf.example header.a=ed25519-sha256 header.s=mailroom-example header.b={b}`;
    const dmarc = `${OURS}; dmarc=pass (p=reject dis=none) header.from=brightleaf.example`;
    const top = ['DMARC-Filter: OpenDMARC Filter v1.4.2 mx.acme.example 4A1B2C3D4E'];
    expect(await verify(mail({ top, ours: [dmarc, dkim] }), { profile: 'opendkim-opendmarc' })).toEqual(verified);
    // The generic profile reads one header only: DMARC's, with no DKIM beside it.
    expect((await verify(mail({ ours: [dmarc, dkim] }), { profile: 'generic' })).verified).toBe(false);
    expect(await verify(mail({ ours: [dmarc, dkim, dmarc.replace('pass', 'fail')] }), { profile: 'opendkim-opendmarc' })).toEqual({ verified: false, reason: 'two Authentication-Results of ours report the same method' });
  });

  const gmailTrace = (b: string) => [
    'Delivered-To: support@acme.example',
    `Received: by 2002:a05:7000:1234:b0:5f1:abcd:ef01 with SMTP id x12csp1234567mab;\r\n        ${DATE}`,
    'ARC-Authentication-Results: i=1; mx.google.com; dkim=pass header.i=@brightleaf.example; dmarc=pass header.from=brightleaf.example',
    `Return-Path: <${FROM}>`,
    `Received: from mail.brightleaf.example (mail.brightleaf.example. [198.51.100.23])\r\n        by mx.google.com with ESMTPS id a1b2c3\r\n        for <support@acme.example>; ${DATE}`,
    `Received-SPF: pass (google.com: domain of ${FROM} designates 198.51.100.23 as permitted sender) client-ip=198.51.100.23;`,
    `Authentication-Results: mx.google.com;\r\n       dkim=pass header.i=@brightleaf.example header.s=mailroom-example header.b=${b};\r\n       spf=pass (google.com: domain of ${FROM} designates 198.51.100.23 as permitted sender) smtp.mailfrom=${FROM};\r\n       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=brightleaf.example`,
  ];

  it('Gmail (mx.google.com, header.i instead of header.d, below its own Received)', async () => {
    // Ed25519 signatures are deterministic: the same message signs to the same b=.
    const b = /\bb=([A-Za-z0-9+/=]{8})/.exec(mail({ received: null }).toString().split('DKIM-Signature:')[1]?.split('bh=')[1] ?? '')?.[1] ?? '';
    const raw = mail({ received: null, top: gmailTrace(b) });
    expect(await verify(raw, { profile: 'gmail', authservId: undefined })).toEqual(verified);
    // A sender's own mx.google.com header below Gmail's does not count, nor does Gmail's profile trust another provider's.
    const forged = mail({ received: null, sign: false, top: gmailTrace('AAAAAAAA') });
    expect((await verify(forged, { profile: 'gmail' })).verified).toBe(false);
    expect((await verify(raw, { profile: 'microsoft365' })).verified).toBe(false);
  });

  it('Microsoft 365 (no authserv-id, trusted by position as the topmost header)', async () => {
    const m365 = 'spf=pass (sender IP is 198.51.100.23)\r\n smtp.mailfrom=brightleaf.example; dkim=pass (signature was verified)\r\n header.d=brightleaf.example;dmarc=pass action=none\r\n header.from=brightleaf.example;compauth=pass reason=100';
    const hop = `Received: from mail.brightleaf.example (198.51.100.23) by AM4PEPF00027A5F.mail.protection.outlook.com (10.167.16.73) with Microsoft SMTP Server (version=TLS1_3) id 15.20.8293.7 via Frontend Transport; ${DATE}`;
    const raw = mail({ received: hop, top: [`Authentication-Results: ${m365}`] });
    expect(await verify(raw, { profile: 'microsoft365', authservId: undefined })).toEqual(verified);
    // Under the generic profile the id-less header is no one's.
    expect((await verify(raw, { profile: 'generic' })).verified).toBe(false);
    // The topmost header is the provider's or nothing: an unparseable one does not hand over to the next.
    const garbled = mail({ received: hop, top: ['Authentication-Results: ;;;', `Authentication-Results: ${m365}`] });
    expect(await verify(garbled, { profile: 'microsoft365' })).toEqual({ verified: false, reason: 'the topmost Authentication-Results does not parse' });
    // An id-less header below another provider's is not the topmost.
    const below = mail({ received: hop, top: [`Authentication-Results: mx.other.example; dmarc=none`, `Authentication-Results: ${m365}`] });
    expect((await verify(below, { profile: 'microsoft365' })).verified).toBe(false);
  });

  it('Fastmail (mx*.messagingengine.com, with its x- methods)', async () => {
    const fm = `mx6.messagingengine.com;\r\n    dkim=pass (256-bit ed25519 key) header.d=brightleaf.example header.i=@brightleaf.example header.b={b} header.a=ed25519-sha256 header.s=mailroom-example x-bits=256;\r\n    dmarc=pass policy.published-domain-policy=reject (p=reject,d=none,d.eval=none) policy.policy-from=p header.from=brightleaf.example;\r\n    iprev=pass smtp.remote-ip=198.51.100.23 (mail.brightleaf.example);\r\n    spf=pass smtp.mailfrom=${FROM} smtp.helo=mail.brightleaf.example;\r\n    x-aligned-from=pass (Address match);\r\n    x-me-sender=none`;
    const raw = mail({ ours: [fm], received: `Received: from mail.brightleaf.example (mail.brightleaf.example [198.51.100.23]) by mx6.messagingengine.com (Postfix) with ESMTPS; ${DATE}` });
    expect(await verify(raw, { profile: 'fastmail', authservId: undefined })).toEqual(verified);
  });
});

describe('the From as the readers see it', () => {
  const config = loadConfig({ env: { MAILROOM_DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'mailroom-sv-')) }, configPath: EXAMPLE_CONFIG_FILE });
  const source = { kind: 'file', path: 'test.eml' } as const;

  /** Verifies a raw message the way ingest does: parseEmail, then the configured verification input. */
  async function verifyRaw(raw: Buffer): Promise<Sender> {
    return verifySender({ ...verificationInput(config, await parseEmail(raw), source), now: NOW });
  }

  it('a second From header leaves the sender unverified (mailparser kept only the first, which passed)', async () => {
    expect(await verifyRaw(mail({ ours: [PASS] }))).toMatchObject({ verified: true, method: 'dmarc' });
    expect(await verifyRaw(mail({ ours: [PASS], prepended: ['From: CEO <ceo@bank.example>'] }))).toEqual({ verified: false, reason: 'several From addresses' });
  });

  it('a From naming a group or an entry without an address besides the mailbox is unverified (only the mailbox was kept)', async () => {
    for (const from of [`Board: ceo@bank.example;, ${FROM}`, `${FROM}, Accounts Payable`, `<${FROM}>, <>`]) {
      expect(await verifyRaw(mail({ from, ours: [PASS] })), from).toEqual({ verified: false, reason: 'several From addresses' });
    }
  });

  it('countFromMailboxes counts every From field and every entry, groups by their members', () => {
    const lines = (...values: string[]) => values.map((v) => ({ key: 'from', line: `From: ${v}` }));
    expect(countFromMailboxes(lines(FROM))).toBe(1);
    expect(countFromMailboxes(lines(`"Whitfield, Dana" <${FROM}>`))).toBe(1);
    expect(countFromMailboxes(lines(FROM, FROM))).toBe(2);
    expect(countFromMailboxes(lines('Team: a@x.example, b@x.example;'))).toBe(2);
    expect(countFromMailboxes(lines('undisclosed-recipients:;'))).toBe(1);
    expect(countFromMailboxes(lines(''))).toBe(1);
    expect(countFromMailboxes([{ key: 'sender', line: `Sender: ${FROM}` }])).toBe(0);
  });

  it('agrees with examples/expected.json on every well-formed example, under the examples\' config', async () => {
    const expected = JSON.parse(readFileSync(`${EXAMPLES}expected.json`, 'utf8')) as Record<string, { verified: boolean; malformed: boolean }>;
    const files = readdirSync(`${EXAMPLES}mailbox`).filter((f) => f.endsWith('.eml') && expected[f]?.malformed === false);
    expect(files.length).toBeGreaterThanOrEqual(40);
    const mismatches: string[] = [];
    for (const file of files) {
      const s = await verifyRaw(readFileSync(`${EXAMPLES}mailbox/${file}`));
      if (s.verified !== expected[file]?.verified) mismatches.push(`${file}: ${JSON.stringify(s)}`);
    }
    expect(mismatches).toEqual([]);
  });
});
