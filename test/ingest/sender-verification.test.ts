import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { loadAccounts } from '../../src/ingest/accounts.js';
import { parseEmail } from '../../src/ingest/parse-email.js';
import { verificationInput } from '../../src/ingest/triage.js';
import { aligned, countFromMailboxes, parseAuthenticationResults, verifySender } from '../../src/ingest/sender-verification.js';
import { Sender } from '../../src/ingest/trusted-context.js';
import type { VerificationInput } from '../../src/ingest/sender-verification.js';
import { EXAMPLE_CONFIG_FILE } from '../fixtures/examples.js';

const OURS = 'mx.acme.example';
const FROM = 'dana.whitfield@brightleaf.example';
const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

function verify(authResults: string[], over: Partial<VerificationInput> = {}): Sender {
  const result = verifySender({
    fromAddresses: [FROM],
    fromMailboxes: 1,
    authResults,
    authservId: OURS,
    trustedSenders: [],
    ...over,
  });
  // Whatever the answer, it must fit the TrustedContext schema it is stored in.
  expect(Sender.safeParse(result).success).toBe(true);
  return result;
}

describe('parseAuthenticationResults', () => {
  it('reads the authserv-id, methods, results and properties', () => {
    expect(
      parseAuthenticationResults(
        'mx.acme.example;\r\n\tspf=pass smtp.mailfrom=dana@brightleaf.example;\r\n\tdkim=pass header.d=BrightLeaf.example;\r\n\tdmarc=pass header.from=brightleaf.example',
      ),
    ).toEqual({
      authservId: 'mx.acme.example',
      results: [
        { method: 'spf', result: 'pass', props: { 'smtp.mailfrom': 'dana@brightleaf.example' }, comments: [] },
        { method: 'dkim', result: 'pass', props: { 'header.d': 'brightleaf.example' }, comments: [] },
        { method: 'dmarc', result: 'pass', props: { 'header.from': 'brightleaf.example' }, comments: [] },
      ],
    });
  });

  it('keeps comments apart from the properties, including nested ones and a version after the authserv-id', () => {
    const parsed = parseAuthenticationResults(
      'MX.Acme.Example 1 (Postfix (v3)); dkim=pass (2048-bit key; unprotected) header.d=brightleaf.example (signed) ; dmarc=fail (p=reject dis=none) header.from=brightleaf.example',
    );
    expect(parsed?.authservId).toBe('mx.acme.example');
    expect(parsed?.results).toEqual([
      { method: 'dkim', result: 'pass', props: { 'header.d': 'brightleaf.example' }, comments: ['2048-bit key; unprotected', 'signed'] },
      { method: 'dmarc', result: 'fail', props: { 'header.from': 'brightleaf.example' }, comments: ['p=reject dis=none'] },
    ]);
  });

  it('a result written inside a comment does not count', () => {
    const parsed = parseAuthenticationResults(
      'mx.acme.example; dmarc=fail (; dmarc=pass header.from=brightleaf.example) header.from=brightleaf.example',
    );
    expect(parsed?.results.map((r) => `${r.method}=${r.result}`)).toEqual(['dmarc=fail']);
  });

  it('answers null without an authserv-id and skips unparseable parts', () => {
    expect(parseAuthenticationResults('')).toBeNull();
    expect(parseAuthenticationResults('   ; dmarc=pass')).toBeNull();
    expect(parseAuthenticationResults('mx.acme.example; none')?.results).toEqual([]);
    expect(
      parseAuthenticationResults('mx.acme.example; garbage; dkim=pass header.d=x.example')?.results,
    ).toHaveLength(1);
  });
});

describe('aligned', () => {
  it('is relaxed alignment toward parents only', () => {
    expect(aligned('brightleaf.example', 'brightleaf.example')).toBe(true);
    expect(aligned('mail.brightleaf.example', 'brightleaf.example')).toBe(true);
    expect(aligned('brightleaf.example', 'evilbrightleaf.example')).toBe(false);
    expect(aligned('evilbrightleaf.example', 'brightleaf.example')).toBe(false);
    expect(aligned('brightleaf.example', 'brightleaf.example.evil.example')).toBe(false);
  });
});

describe('verifySender', () => {
  it('dmarc=pass from our authserv-id verifies the sender by DMARC', () => {
    expect(
      verify([
        `${OURS}; spf=pass; dkim=pass header.d=brightleaf.example; dmarc=pass header.from=brightleaf.example`,
      ]),
    ).toEqual({
      verified: true,
      address: FROM,
      method: 'dmarc',
    });
  });

  it('matches our authserv-id case-insensitively and lowercases the address', () => {
    const s = verify(['MX.ACME.EXAMPLE; dmarc=pass header.from=brightleaf.example'], {
      fromAddresses: ['Dana.Whitfield@BrightLeaf.example'],
      authservId: 'Mx.Acme.Example',
    });
    expect(s).toEqual({ verified: true, address: FROM, method: 'dmarc' });
  });

  it('ignores a passing header from a foreign authserv-id', () => {
    const s = verify([
      'mx.evil.example; dkim=pass header.d=brightleaf.example; dmarc=pass header.from=brightleaf.example',
    ]);
    expect(s.verified).toBe(false);
  });

  it('ignores an authserv-id that merely contains ours', () => {
    expect(verify(['mx.acme.example.evil.example; dmarc=pass header.from=brightleaf.example']).verified).toBe(
      false,
    );
    expect(verify(['evil-mx.acme.example; dmarc=pass header.from=brightleaf.example']).verified).toBe(false);
  });

  it('dmarc=fail leaves the sender unverified, even with a passing aligned DKIM', () => {
    const s = verify([
      `${OURS}; dkim=pass header.d=brightleaf.example; dmarc=fail header.from=brightleaf.example`,
    ]);
    expect(s).toEqual({ verified: false, reason: 'dmarc=fail' });
  });

  it('dmarc=pass for another From domain does not verify this From', () => {
    expect(verify([`${OURS}; dmarc=pass header.from=evil.example`]).verified).toBe(false);
  });

  it('an aligned DKIM pass (the From is a subdomain of the signer) verifies by DKIM', () => {
    const s = verify(
      [`${OURS}; dkim=pass header.d=brightleaf.example; dmarc=none header.from=mail.brightleaf.example`],
      {
        fromAddresses: ['dana@mail.brightleaf.example'],
      },
    );
    expect(s).toEqual({ verified: true, address: 'dana@mail.brightleaf.example', method: 'dkim' });
    expect(verify([`${OURS}; dkim=pass header.d=brightleaf.example`]).verified).toBe(true);
  });

  it('an unaligned DKIM pass does not verify', () => {
    expect(verify([`${OURS}; dkim=pass header.d=bulkmail-relay.example; dmarc=none`])).toEqual({
      verified: false,
      reason: 'no aligned DMARC or DKIM pass',
    });
    // A signer that is a subdomain of the From domain is not a parent of it.
    expect(verify([`${OURS}; dkim=pass header.d=evil.brightleaf.example.attacker.example`]).verified).toBe(
      false,
    );
    expect(verify([`${OURS}; dkim=fail header.d=brightleaf.example`]).verified).toBe(false);
  });

  // Regression (fixed): verifySender takes the *first* dkim=pass result and only then checks alignment, so a
  // message double-signed by its ESP (common: d=esp first, then the customer's own d=) and
  // without a DMARC pass is left unverified although an aligned signature passed.
  it('an aligned DKIM pass counts even when an unaligned signature is listed first', () => {
    const s = verify([
      `${OURS}; dkim=pass header.d=esp-mailer.example; dkim=pass header.d=brightleaf.example; dmarc=none`,
    ]);
    expect(s).toEqual({ verified: true, address: FROM, method: 'dkim' });
  });

  it('only the topmost header with our authserv-id counts', () => {
    // A forged "ours" lower down cannot upgrade a fail stamped by our MTA at the top.
    expect(
      verify([
        `${OURS}; dmarc=fail header.from=brightleaf.example`,
        `${OURS}; dmarc=pass header.from=brightleaf.example`,
      ]).verified,
    ).toBe(false);
    // Nor can one rescue a topmost header of ours that has no usable result.
    expect(verify([`${OURS}; none`, `${OURS}; dmarc=pass header.from=brightleaf.example`]).verified).toBe(
      false,
    );
    // Foreign headers above ours are skipped, ours still decides.
    expect(
      verify([`mx.evil.example; dmarc=fail`, `${OURS}; dmarc=pass header.from=brightleaf.example`]),
    ).toEqual({ verified: true, address: FROM, method: 'dmarc' });
  });

  it('unfolds and de-comments a real-looking header', () => {
    const s = verify([
      `${OURS} (Postfix);\r\n\tspf=pass (sender IP is 198.51.100.23) smtp.mailfrom=${FROM};\r\n\tdmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=brightleaf.example`,
    ]);
    expect(s).toEqual({ verified: true, address: FROM, method: 'dmarc' });
  });

  it('several From addresses are never verified, even with a passing DMARC', () => {
    const s = verify([`${OURS}; dmarc=pass header.from=brightleaf.example`], {
      fromAddresses: [FROM, 'boss@brightleaf.example'],
    });
    expect(s).toEqual({ verified: false, reason: 'several From addresses' });
    expect(verify([], { fromAddresses: [] })).toEqual({ verified: false, reason: 'no From address' });
  });

  it('a From that is not an address is never verified', () => {
    expect(verify([`${OURS}; dmarc=pass`], { fromAddresses: ['dana'] }).verified).toBe(false);
    expect(verify([`${OURS}; dmarc=pass`], { fromAddresses: ['a b@brightleaf.example'] }).verified).toBe(
      false,
    );
  });

  it('without a configured authserv-id nothing is believed', () => {
    expect(verify([`${OURS}; dmarc=pass header.from=brightleaf.example`], { authservId: undefined })).toEqual(
      {
        verified: false,
        reason: 'no authserv-id configured',
      },
    );
  });

  it('a configured trusted sender is verified without authentication results', () => {
    expect(verify([], { trustedSenders: [FROM] })).toEqual({
      verified: true,
      address: FROM,
      method: 'trusted-sender',
    });
    expect(verify([], { trustedSenders: [FROM], authservId: undefined }).verified).toBe(true);
    expect(verify([], { trustedSenders: ['someone.else@brightleaf.example'] }).verified).toBe(false);
    // Trust is per address: one trusted address among several From addresses is still refused.
    expect(verify([], { trustedSenders: [FROM], fromAddresses: [FROM, 'x@evil.example'] }).verified).toBe(
      false,
    );
  });

  it('agrees with examples/expected.json on every well-formed example', async () => {
    const expected = JSON.parse(readFileSync(`${EXAMPLES}expected.json`, 'utf8')) as Record<
      string,
      { verified: boolean; malformed: boolean }
    >;
    const files = readdirSync(`${EXAMPLES}mailbox`).filter(
      (f) => f.endsWith('.eml') && expected[f]?.malformed === false,
    );
    expect(files.length).toBeGreaterThanOrEqual(40);
    expect(files).not.toContain('41-malformed-no-from.eml');
    const mismatches: string[] = [];
    for (const file of files) {
      const parsed = await parseEmail(readFileSync(`${EXAMPLES}mailbox/${file}`));
      const s = verifySender({
        fromAddresses: parsed.facts.fromAddresses,
        fromMailboxes: countFromMailboxes(parsed.facts.headerLines),
        authResults: parsed.facts.authResults,
        authservId: OURS,
        trustedSenders: [],
      });
      if (s.verified !== expected[file]?.verified) mismatches.push(file);
    }
    expect(mismatches).toEqual([]);
  });
});

// Each of these was accepted before issue 15 closed it (the test names say what used to pass).
describe('verification that means what it says', () => {
  const config = loadConfig({ env: { MAILROOM_DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'mailroom-sv-')) }, configPath: EXAMPLE_CONFIG_FILE });
  const source = { kind: 'file', path: 'test.eml' } as const;
  const passing = `Authentication-Results: ${OURS}; dkim=pass header.d=brightleaf.example; dmarc=pass header.from=brightleaf.example`;

  /** Verifies a raw message the way ingest does: parseEmail, then the trusted verification input. */
  async function verifyRaw(headers: string[]): Promise<Sender> {
    const raw = Buffer.from([...headers, 'To: support@acme.example', 'Subject: Invoice', 'Message-ID: <sv-1@brightleaf.example>', '', 'Please resend my invoice.', ''].join('\r\n'));
    return verifySender(verificationInput(config, await parseEmail(raw), source));
  }

  it('a second From header leaves the sender unverified (mailparser kept only the first, which passed)', async () => {
    expect(await verifyRaw([passing, `From: Dana <${FROM}>`])).toMatchObject({ verified: true, method: 'dmarc' });
    expect(await verifyRaw([passing, `From: Dana <${FROM}>`, 'From: CEO <ceo@bank.example>'])).toEqual({ verified: false, reason: 'several From addresses' });
    expect(await verifyRaw([passing, 'From: CEO <ceo@bank.example>', `From: Dana <${FROM}>`]).then((s) => s.verified)).toBe(false);
  });

  it('a From naming a group or an entry without an address besides the mailbox is unverified (only the mailbox was kept)', async () => {
    for (const from of [`From: Board: ceo@bank.example;, ${FROM}`, `From: ${FROM}, Accounts Payable`, `From: <${FROM}>, <>`]) {
      expect(await verifyRaw([passing, from]), from).toEqual({ verified: false, reason: 'several From addresses' });
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

  it('dmarc=pass without header.from is not a DMARC pass (it was taken as naming the From domain)', () => {
    expect(verify([`${OURS}; dmarc=pass`])).toEqual({ verified: false, reason: 'no aligned DMARC or DKIM pass' });
    // An aligned whole-body DKIM pass still stands on its own.
    expect(verify([`${OURS}; dkim=pass header.d=brightleaf.example; dmarc=pass`])).toEqual({ verified: true, address: FROM, method: 'dkim' });
  });

  it('dmarc=pass naming another domain leaves the sender unverified, aligned DKIM or not (DKIM used to decide)', () => {
    expect(verify([`${OURS}; dkim=pass header.d=brightleaf.example; dmarc=pass header.from=evil.example`])).toEqual({
      verified: false,
      reason: 'DMARC evaluated another From domain',
    });
  });

  it('a DKIM pass our MTA marks as undersized (l=) is no pass, nor a DMARC pass that rests on it (both verified)', () => {
    const undersized = 'dkim=pass (undersized signature: 58 bytes unsigned) header.d=brightleaf.example header.s=s1';
    expect(verify([`${OURS}; ${undersized}; dmarc=pass header.from=brightleaf.example`])).toEqual({ verified: false, reason: 'DKIM signs only part of the body (l=)' });
    expect(verify([`${OURS}; ${undersized}; dmarc=none header.from=brightleaf.example`])).toEqual({ verified: false, reason: 'DKIM signs only part of the body (l=)' });
    // DMARC resting on a whole-body signature or on aligned SPF still passes.
    expect(verify([`${OURS}; ${undersized}; dkim=pass header.d=brightleaf.example; dmarc=pass header.from=brightleaf.example`])).toMatchObject({ verified: true, method: 'dmarc' });
    expect(verify([`${OURS}; spf=pass smtp.mailfrom=bounce@brightleaf.example; ${undersized}; dmarc=pass header.from=brightleaf.example`])).toMatchObject({ verified: true, method: 'dmarc' });
    // The comment counts only on its own entry: an undersized unaligned signature does not spoil an aligned one.
    expect(verify([`${OURS}; dkim=pass (undersized signature: 9 bytes unsigned) header.d=esp.example; dkim=pass header.d=brightleaf.example`])).toMatchObject({ verified: true, method: 'dkim' });
  });

  it('a From spelt with a Unicode letter that lowercases to ASCII is not a trusted sender nor its account (U+212A KELVIN SIGN used to fold to k)', async () => {
    const kate = 'kate@brightleaf.example';
    const kelvin = '\u212Aate@brightleaf.example';
    // An MTA rule guarding the trusted address compares the bytes: this From is not that address.
    const parsed = await parseEmail(Buffer.from(`From: Kate <${kelvin}>\r\nTo: support@acme.example\r\nSubject: hi\r\nMessage-ID: <k@x>\r\n\r\nhello\r\n`, 'utf8'));
    expect(parsed.facts.fromAddresses).toEqual([kelvin]);
    const sender = verify([], { fromAddresses: parsed.facts.fromAddresses, trustedSenders: [kate] });
    expect(sender.verified).toBe(false);
    // Verified some other way (its own domain's DKIM, say), the address still reaches no other account.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-sv-acct-'));
    const file = path.join(dir, 'accounts.json');
    writeFileSync(file, JSON.stringify([{ id: 'acct_k', email: kate, name: 'Kate', tier: 'enterprise' }]));
    const accounts = loadAccounts(file);
    expect(accounts.byEmail(kelvin)).toBeUndefined();
    expect(accounts.byEmail('KATE@BrightLeaf.example')?.id).toBe('acct_k');
    // ASCII case still folds where it always did.
    expect(verify([], { fromAddresses: ['Kate@BrightLeaf.example'], trustedSenders: [kate] })).toMatchObject({ verified: true, address: kate });
  });
});
