import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReplyLimits } from '../../src/config/config.js';
import { createRedis, type Redis } from '../../src/queues/connection.js';
import { redisKeys } from '../../src/queues/keys.js';
import { describeRefusal, domainCeiling, normalizeAddress, recipientDomain, registrableDomain, reserveReply } from '../../src/tools/reply-rate-limit.js';
import { startTestRedis, type TestRedis } from '../harness/redis.js';

const HOUR = 3_600_000;

describe('reply rate limits (real Redis)', () => {
  let server: TestRedis;
  let redis: Redis;
  beforeAll(async () => {
    server = await startTestRedis();
    redis = createRedis(server.url, 'rate-test');
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.close();
  });

  const limits: ReplyLimits = { perSenderPerDay: 3, perDomainPerHour: 5, perCasePerDay: 100, globalPerHour: 8, maxDomainShare: 1 };
  const reserve = (keys: ReturnType<typeof redisKeys>, key: string, to: string, nowMs = Date.now(), l = limits) =>
    reserveReply(redis, keys, { idempotencyKey: key, recipient: to, limits: l, nowMs });

  it('allows N replies per sender, then names the sender limit', async () => {
    const keys = redisKeys(server.prefix());
    for (let i = 0; i < 3; i++) expect(await reserve(keys, `p.s${i}`, 'Ann@Customer.example')).toEqual({ ok: true, alreadyReserved: false });
    const refused = await reserve(keys, 'p.s3', 'ann@customer.example');
    expect(refused).toEqual({ ok: false, limit: 'sender', max: 3, windowMs: 24 * HOUR });
    if (!refused.ok) expect(describeRefusal(refused)).toBe('reply rate limit (sender): 3 automatic replies to this sender per 24 h already sent');
  });

  it('does not count a retried step twice', async () => {
    const keys = redisKeys(server.prefix());
    expect(await reserve(keys, 'plan.send', 'bo@customer.example')).toEqual({ ok: true, alreadyReserved: false });
    for (let i = 0; i < 5; i++) expect(await reserve(keys, 'plan.send', 'bo@customer.example')).toEqual({ ok: true, alreadyReserved: true });
    expect(await redis.zcard(keys.replyRate('sender', 'bo@customer.example'))).toBe(1);
    expect(await redis.zcard(keys.replyRate('global', 'all'))).toBe(1);
  });

  it('limits per recipient domain and globally', async () => {
    const keys = redisKeys(server.prefix());
    for (let i = 0; i < 5; i++) expect((await reserve(keys, `d${i}`, `u${i}@big.example`)).ok).toBe(true);
    expect(await reserve(keys, 'd5', 'u5@BIG.example')).toMatchObject({ ok: false, limit: 'domain', max: 5 });
    for (let i = 0; i < 3; i++) expect((await reserve(keys, `g${i}`, `u@other${i}.example`)).ok).toBe(true);
    expect(await reserve(keys, 'g3', 'u@other3.example')).toMatchObject({ ok: false, limit: 'global', max: 8 });
    // A refused reply consumed nothing.
    expect(await redis.zcard(keys.replyRate('global', 'all'))).toBe(8);
  });

  it('forgets replies once they leave the rolling window', async () => {
    const keys = redisKeys(server.prefix());
    const t0 = Date.now();
    for (let i = 0; i < 3; i++) expect((await reserve(keys, `w${i}`, 'cy@customer.example', t0)).ok).toBe(true);
    expect((await reserve(keys, 'w3', 'cy@customer.example', t0 + 23 * HOUR)).ok).toBe(false);
    expect((await reserve(keys, 'w4', 'cy@customer.example', t0 + 24 * HOUR + 1)).ok).toBe(true);
  });

  it('is atomic: 200 concurrent reservations for one sender take exactly N slots', async () => {
    const keys = redisKeys(server.prefix());
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => reserve(keys, `c${i}`, 'flood@customer.example', Date.now(), { ...limits, perDomainPerHour: 1000, globalPerHour: 1000 })));
    expect(results.filter((r) => r.ok)).toHaveLength(3);
    expect(results.filter((r) => !r.ok && r.limit === 'sender')).toHaveLength(197);
  });

  it('a limit of 0 refuses every automatic reply', async () => {
    const keys = redisKeys(server.prefix());
    expect(await reserve(keys, 'z', 'dee@customer.example', Date.now(), { ...limits, perSenderPerDay: 0 })).toMatchObject({ ok: false, limit: 'sender', max: 0 });
  });

  it('takes the domain from the last @', () => {
    expect(recipientDomain('"a@b"@Example.COM')).toBe('example.com');
  });

  it('normalises an address to the mailbox it reaches', () => {
    const table: Array<[string, string]> = [
      ['Ann@Customer.Example', 'ann@customer.example'],
      ['ann+invoices@customer.example', 'ann@customer.example'],
      ['ann+a+b@customer.example.', 'ann@customer.example'],
      ['ann@bücher.example', 'ann@xn--bcher-kva.example'],
      ['A.n.N+x@GoogleMail.com', 'ann@gmail.com'],
      // Dots matter elsewhere, and so do hyphens: different people, different quotas.
      ['a.nn@customer.example', 'a.nn@customer.example'],
      ['ann-b@customer.example', 'ann-b@customer.example'],
    ];
    for (const [raw, want] of table) expect(normalizeAddress(raw), raw).toBe(want);
  });

  it('groups recipient domains by registrable domain (public suffix list)', () => {
    const table: Array<[string, string]> = [
      ['u@evil.example', 'evil.example'],
      ['u@a.b.c.Evil.Example', 'evil.example'],
      ['u@mail.shop.co.uk', 'shop.co.uk'],
      ['u@x.bücher.example', 'xn--bcher-kva.example'],
      // Private-section suffixes are not honoured: anyone can make names under them.
      ['u@someone.github.io', 'github.io'],
      ['u@[192.0.2.1]', '[192.0.2.1]'],
    ];
    for (const [raw, want] of table) expect(registrableDomain(raw), raw).toBe(want);
  });

  it('subdomains and +tags share one quota (before: each spelling had its own)', async () => {
    const keys = redisKeys(server.prefix());
    const wide = { ...limits, perDomainPerHour: 1000, globalPerHour: 1000 };
    const tags = ['ann+1@customer.example', 'ANN+2@Customer.Example', 'ann+3@customer.example.', 'ann@customer.example'];
    const byTag = [];
    for (const [i, to] of tags.entries()) byTag.push((await reserve(keys, `t${i}`, to, Date.now(), wide)).ok);
    expect(byTag).toEqual([true, true, true, false]);
    const bySub = [];
    for (let i = 0; i < 8; i++) bySub.push(await reserve(keys, `sub${i}`, `bot@s${i}.evil.example`, Date.now(), { ...limits, perSenderPerDay: 100, globalPerHour: 1000 }));
    expect(bySub.filter((r) => r.ok)).toHaveLength(5);
    expect(bySub[5]).toEqual({ ok: false, limit: 'domain', max: 5, windowMs: HOUR });
  });

  it('one domain takes at most maxDomainShare of the global budget; another domain still gets a reply', async () => {
    const keys = redisKeys(server.prefix());
    const shared: ReplyLimits = { perSenderPerDay: 100, perDomainPerHour: 1000, perCasePerDay: 100, globalPerHour: 10, maxDomainShare: 0.5 };
    expect(domainCeiling(shared)).toBe(5);
    const flood = [];
    for (let i = 0; i < 20; i++) flood.push(await reserve(keys, `f${i}`, `bot${i}@evil.example`, Date.now(), shared));
    expect(flood.filter((r) => r.ok)).toHaveLength(5);
    expect(flood[5]).toMatchObject({ ok: false, limit: 'domain', max: 5 });
    expect(await reserve(keys, 'customer', 'ann@customer.example', Date.now(), shared)).toEqual({ ok: true, alreadyReserved: false });
    expect(domainCeiling({ ...shared, perDomainPerHour: 3 })).toBe(3);
  });
});
