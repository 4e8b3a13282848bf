import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmailId } from '../../src/kernel/ids.js';
import { email, startRig, type Rig } from '../etiquette/instance.js';

/**
 * Limits an attacker cannot spend for others, seen from outside: mail in through submitEmail, the
 * whole pipeline on a real Redis, replies counted at a real SMTP server.
 */

const SUBDOMAINS = 6;
const PER_SUBDOMAIN = 4;
const attackers = Array.from({ length: SUBDOMAINS * PER_SUBDOMAIN }, (_, i) => `bot+${i}@s${i % SUBDOMAINS}.evil.example`);
const CUSTOMER = 'ann@customer.example';

describe('an attacker with many subdomains and +tags floods replies (real Redis, real SMTP)', () => {
  let rig: Rig;
  const limits = { perSenderPerDay: 5, perDomainPerHour: 1000, perCasePerDay: 100, globalPerHour: 20, maxDomainShare: 0.5 };

  beforeAll(async () => {
    rig = await startRig([...attackers, CUSTOMER], { replyLimits: limits });
  });
  afterAll(async () => {
    await rig?.close();
  });

  it('takes at most its share of the global budget, and the next customer still gets a reply (before: all 20, and the customer none)', async () => {
    const { mailroom, smtp } = rig;
    const ids: EmailId[] = [];
    for (const [i, from] of attackers.entries()) {
      ids.push(await mailroom.submit(email({ From: from, To: 'support@acme.example', Subject: `Invoice ${i}`, 'Message-ID': `<flood-${i}@evil.example>` }, 'Invoice again please.')));
    }
    await mailroom.waitRest(ids);
    const toAttacker = smtp.messages.filter((m) => m.envelope.to.some((t) => t.endsWith('.evil.example'))).length;
    console.info(`[measure] ${attackers.length} emails from ${SUBDOMAINS} subdomains x ${PER_SUBDOMAIN} +tags: ${toAttacker} replies to the attacker (global budget ${limits.globalPerHour})`);
    expect(toAttacker).toBe(limits.globalPerHour * limits.maxDomainShare);
    const [customer] = await mailroom.waitRest([await mailroom.submit(email({ From: CUSTOMER, To: 'support@acme.example', Subject: 'My invoice', 'Message-ID': '<real-1@customer.example>' }, 'Where is my invoice?'))]);
    expect(customer?.state).toBe('completed');
    await smtp.waitFor(toAttacker + 1);
    expect(smtp.messages.filter((m) => m.envelope.to.includes(CUSTOMER))).toHaveLength(1);
  });
});

describe('Message-ID deduplication takes the sender and the message into account (real Redis, real SMTP)', () => {
  let rig: Rig;
  const PREDICTED = '<20261128.0001@customer.example>';
  const customerMail = email({ From: `Ann <${CUSTOMER}>`, To: 'support@acme.example', Subject: 'Refund', 'Message-ID': PREDICTED }, 'Where is my invoice?');

  beforeAll(async () => {
    rig = await startRig(['mallory@evil.example', CUSTOMER]);
  });
  afterAll(async () => {
    await rig?.close();
  });

  it('a guessed Message-ID sent first, from another sender or under a forged From, does not silence the customer (before: deduped)', async () => {
    const { mailroom, smtp } = rig;
    const fromOther = await mailroom.submit(email({ From: 'mallory@evil.example', To: 'support@acme.example', Subject: 'hi', 'Message-ID': PREDICTED }, 'hello'));
    const forged = await mailroom.submit(email({ From: CUSTOMER, To: 'support@acme.example', Subject: 'hi', 'Message-ID': PREDICTED }, 'hello again'));
    await mailroom.waitRest([fromOther, forged]);
    const real = await mailroom.submit(customerMail);
    expect(new Set([fromOther, forged, real]).size).toBe(3);
    const [rec] = await mailroom.waitRest([real]);
    expect(rec?.state).toBe('completed');
    const audit = await mailroom.app.audit.read(real);
    expect(audit.map((e) => e.type)).not.toContain('duplicate');
    await smtp.waitFor(3);
    expect(smtp.messages.filter((m) => m.envelope.to.includes(CUSTOMER))).toHaveLength(2);
  });

  it('the same message again (again as a file, with extra trace headers, with LF line ends) is a duplicate', async () => {
    const { mailroom, smtp } = rig;
    const before = smtp.messages.length;
    const first = await mailroom.submit(customerMail);
    const traced = await mailroom.submit(`Received: from relay.example by mx.acme.example; Sat, 28 Nov 2026 01:00:00 +0000\r\n${customerMail}`);
    const lf = await mailroom.submit(customerMail.replace(/\r\n/g, '\n'));
    expect(new Set([first, traced, lf]).size).toBe(1);
    const audit = await mailroom.app.audit.read(first);
    expect(audit.filter((e) => e.type === 'duplicate')).toHaveLength(3);
    await new Promise((r) => setTimeout(r, 300));
    expect(smtp.messages.length).toBe(before);
  });
});

describe('control characters in copied Message-IDs never reach outbound headers (real Redis, real SMTP)', () => {
  let rig: Rig;
  /** What an unfolded header block we send may not contain: C0, DEL, C1, U+2028/9. */
  const hasControl = (text: string): boolean =>
    [...text].some((ch) => {
      const n = ch.codePointAt(0) ?? 0;
      return n < 0x20 || (n >= 0x7f && n <= 0x9f) || n === 0x2028 || n === 0x2029;
    });
  const BAD: Record<string, string> = { nel: '\u0085', soh: '\x01', del: '\x7f', vt: '\x0b', cr: '\r', lsep: '\u2028', c1: '\u009b' };

  beforeAll(async () => {
    rig = await startRig([CUSTOMER], { replyLimits: { perSenderPerDay: 100, perDomainPerHour: 100, perCasePerDay: 100, globalPerHour: 100, maxDomainShare: 1 } });
  });
  afterAll(async () => {
    await rig?.close();
  });

  it('drops an In-Reply-To or Reference that holds one (before: NEL, SOH, DEL and C1 went out)', async () => {
    const { mailroom, smtp } = rig;
    const ids: EmailId[] = [];
    for (const [name, ch] of Object.entries(BAD)) {
      const headers = {
        From: CUSTOMER,
        To: 'support@acme.example',
        Subject: `Invoice ${name}`,
        'Message-ID': `<mid${ch}${name}@customer.example>`,
        References: `<good-${name}@customer.example> <ref${ch}${name}@customer.example>`,
      };
      ids.push(await mailroom.submit(email(headers, 'Where is my invoice?')));
    }
    const records = await mailroom.waitRest(ids);
    expect(records.map((r) => r.state)).toEqual(ids.map(() => 'completed'));
    const sent = await smtp.waitFor(ids.length);
    const leaked = sent.flatMap((m) => {
      const head = m.raw.slice(0, m.raw.search(/\r?\n\r?\n/));
      const unfolded = head.replace(/\r\n(?=[ \t])/g, '').split('\r\n').map((line) => line.replace(/\t/g, ' '));
      return unfolded.some(hasControl) || m.parsed.inReplyTo !== undefined ? [m.parsed.subject ?? '?'] : [];
    });
    console.info(`[measure] ${sent.length} replies to Message-IDs/References with a control character; ${leaked.length} carried one or threaded to it: ${leaked.join(', ')}`);
    expect(leaked).toEqual([]);
    for (const m of sent) {
      // The clean reference still threads the reply. (mailparser turns U+2028 into a space and
      // splits there; the pieces are plain ids the sender could have written anyway.)
      const refs = m.parsed.references;
      expect(Array.isArray(refs) ? refs : [refs]).toContainEqual(expect.stringMatching(/^<good-[a-z0-9]+@customer\.example>$/));
    }
  });
});
