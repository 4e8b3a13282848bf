import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { authenticate } from 'mailauth';
import { describe, expect, it } from 'vitest';
import { EXAMPLE_DKIM } from '../../src/eval/mta-stamp.js';
import { EXAMPLE_MAILBOX, restampExample } from '../harness/restamp-examples.js';

const files = readdirSync(EXAMPLE_MAILBOX).filter((f) => f.endsWith('.eml')).sort();

/** DNS for the example domains: the published example key under its selector, DMARC p=reject. */
async function exampleDns(name: string, rrtype: string): Promise<string[][]> {
  if (rrtype === 'TXT' && name.toLowerCase().startsWith(`${EXAMPLE_DKIM.selector}._domainkey.`)) return [[EXAMPLE_DKIM.record]];
  if (rrtype === 'TXT' && name.toLowerCase().startsWith('_dmarc.')) return [['v=DMARC1; p=reject']];
  throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
}

describe('examples/mailbox is stamped the way our MTA delivers mail', () => {
  it('every example is as test/harness/restamp-examples.ts writes it (run it after editing an example)', () => {
    const stale = files.filter((f) => {
      const text = readFileSync(path.join(EXAMPLE_MAILBOX, f), 'latin1');
      return restampExample(text) !== text;
    });
    expect(stale).toEqual([]);
  });

  it("every signature our MTA's header calls a pass is a real one: mailauth verifies it against the example key", async () => {
    const signed = files.filter((f) => readFileSync(path.join(EXAMPLE_MAILBOX, f), 'latin1').includes(`s=${EXAMPLE_DKIM.selector};`));
    expect(signed.length).toBeGreaterThanOrEqual(25);
    for (const f of signed) {
      const res = await authenticate(readFileSync(path.join(EXAMPLE_MAILBOX, f)), { resolver: exampleDns, mta: 'mx.acme.example', trustReceived: false, disableArc: true, disableBimi: true });
      const mine = res.dkim.results.find((r) => r.selector === EXAMPLE_DKIM.selector);
      expect(mine?.status?.result, f).toBe('pass');
    }
  });
});
