import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CapturedMessage } from '../harness/smtp-capture.js';
import { email, startInstance, type Instance } from '../etiquette/instance.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';
import { startSmtpCapture, type SmtpCapture } from '../harness/smtp-capture.js';
import type { EmailId } from '../../src/kernel/ids.js';

const A = 'support@a.example';
const B = 'support@b.example';
const VACATION = 'pat@vacation.example';
const NAIVE = 'bot@naive.example';

/** A scripted responder: given a message it received, the message it sends back (or none). */
type Responder = (received: CapturedMessage, n: number) => string | null;

/** A vacation responder that follows RFC 3834: marks its answer and threads it. */
const vacation: Responder = (m, n) =>
  email(
    {
      From: `Pat <${VACATION}>`,
      To: m.envelope.from,
      Subject: `Automatic reply: ${m.parsed.subject ?? ''}`,
      'Message-ID': `<vac-${n}@vacation.example>`,
      'In-Reply-To': m.parsed.messageId ?? '',
      References: m.parsed.messageId ?? '',
      'Auto-Submitted': 'auto-replied',
    },
    'I am out of the office until Monday.',
  );

/** The worst case: an auto-responder that announces nothing and threads nothing. */
const naive: Responder = (m, n) =>
  email(
    { From: `Bot <${NAIVE}>`, To: m.envelope.from, Subject: `Invoice question ${n}`, 'Message-ID': `<naive-${n}@naive.example>` },
    `Please send me invoice ${n} again.`,
  );

/**
 * Delivers what the SMTP server received to whoever owns the recipient address (a Mailroom or a
 * scripted responder), waits for Mailroom to settle, and repeats until nobody sends anything more.
 * Returns how many messages each address sent (Mailrooms through SMTP, responders directly).
 */
async function exchange(
  smtp: SmtpCapture,
  mailrooms: Record<string, Instance>,
  responders: Record<string, Responder>,
  maxRounds = 30,
): Promise<Record<string, number>> {
  let cursor = 0;
  let n = 0;
  const sent: Record<string, number> = {};
  for (let round = 0; round < maxRounds; round++) {
    const fresh = smtp.messages.slice(cursor);
    cursor = smtp.messages.length;
    if (fresh.length === 0) break;
    const pending = new Map<Instance, EmailId[]>();
    const deliver = async (to: string, raw: string, returnPath: string) => {
      const target = mailrooms[to];
      if (!target) throw new Error(`nobody owns ${to}`);
      // The delivering MTA's Return-Path, as a real mailbox would show it.
      const id = await target.submit(`Return-Path: <${returnPath}>\r\n${raw}`);
      pending.set(target, [...(pending.get(target) ?? []), id]);
    };
    for (const m of fresh) {
      for (const to of m.envelope.to) {
        const responder = responders[to];
        if (responder) {
          const answer = responder(m, n++);
          if (answer) {
            sent[to] = (sent[to] ?? 0) + 1;
            await deliver(m.envelope.from, answer, to);
          }
        } else {
          await deliver(to, m.raw, m.envelope.from);
        }
      }
    }
    for (const [instance, ids] of pending) await instance.waitRest(ids);
    if (round === maxRounds - 1) throw new Error('the exchange did not stop');
  }
  for (const m of smtp.messages) {
    const from = m.parsed.from?.value[0]?.address ?? '?';
    sent[from] = (sent[from] ?? 0) + 1;
  }
  return sent;
}

describe('mail loops stop (real Redis, real SMTP on loopback)', () => {
  let redis: TestRedis;
  let smtp: SmtpCapture;
  let a: Instance;
  let b: Instance;

  beforeAll(async () => {
    redis = await startTestRedis();
    smtp = await startSmtpCapture();
    const common = { redisUrl: redis.url, smtpUrl: smtp.url };
    a = await startInstance({
      ...common,
      prefix: redis.prefix(),
      overrides: {
        mailbox: { address: A, name: 'A Support' },
        trustedSenders: [B, VACATION, NAIVE],
        routes: [{ alias: A, category: 'billing' }],
      },
    });
    b = await startInstance({
      ...common,
      prefix: redis.prefix(),
      overrides: {
        mailbox: { address: B, name: 'B Support' },
        trustedSenders: [A],
        routes: [{ alias: B, category: 'billing' }],
      },
    });
  });
  afterEach(() => smtp.reset());
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await smtp?.close();
    await redis?.close();
  });

  it('two Mailrooms answering each other stop after at most one reply each', async () => {
    // Each receives a question from the other's address; each answers once, and neither
    // answers the other's answer.
    const toA = await a.submit(email({ From: B, To: A, Subject: 'Invoice copy', 'Message-ID': '<start-1@b.example>' }, 'Please send the invoice.'));
    const toB = await b.submit(email({ From: A, To: B, Subject: 'Invoice copy', 'Message-ID': '<start-2@a.example>' }, 'Please send the invoice.'));
    await a.waitRest([toA]);
    await b.waitRest([toB]);
    const sent = await exchange(smtp, { [A]: a, [B]: b }, {});
    expect(sent).toEqual({ [A]: 1, [B]: 1 });
  });

  it('Mailroom and an RFC 3834 vacation responder: one reply each, then silence', async () => {
    const first = await a.submit(email({ From: VACATION, To: A, Subject: 'Invoice copy', 'Message-ID': '<start-3@vacation.example>' }, 'Please send the invoice.'));
    await a.waitRest([first]);
    const sent = await exchange(smtp, { [A]: a }, { [VACATION]: vacation });
    expect(sent).toEqual({ [A]: 1, [VACATION]: 1 });
    // The vacation notice (and, from the first test, B's answer) came back to A as loops.
    const loops = (await a.app.ledger.list(100)).filter((r) => r.robot === 'loop');
    expect(loops.length).toBeGreaterThanOrEqual(2);
    for (const r of loops) expect(r).toMatchObject({ state: 'completed', reason: 'loop' });
  });

  it('an auto-responder that announces nothing is stopped by the per-sender limit', async () => {
    const first = await a.submit(email({ From: NAIVE, To: A, Subject: 'Invoice copy', 'Message-ID': '<start-4@naive.example>' }, 'Please send the invoice.'));
    await a.waitRest([first]);
    const sent = await exchange(smtp, { [A]: a }, { [NAIVE]: naive });
    const limit = a.app.config.replyLimits.perSenderPerDay;
    expect(sent[A]).toBe(limit);
    expect(sent[NAIVE]).toBe(limit);
    const parked = (await a.app.ledger.list(200)).filter((r) => r.state === 'awaiting_approval');
    expect(parked).toHaveLength(1);
    expect(parked[0]?.reason).toContain('reply rate limit (sender)');
  });
});
