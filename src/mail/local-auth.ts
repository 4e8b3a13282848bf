import { Resolver } from 'node:dns/promises';
import type { LocalAuthResult } from '../model/verification.js';

/** A DNS lookup as mailauth calls it: TXT answers are arrays of strings per record. */
export type DnsResolver = (name: string, rrtype: string) => Promise<string[][] | string[]>;

/** Checks DKIM signatures and DMARC alignment of a raw message ourselves. */
export type LocalSenderCheck = (raw: Buffer) => Promise<LocalAuthResult>;

/**
 * mailauth, loaded on the first local check: about 25 MB of RSS in a process (its DNS, DKIM,
 * DMARC, ARC, BIMI and SPF code and data) that most mail never needs, since a mailbox's own
 * Authentication-Results usually decide and only DKIM-signed mail without them comes here.
 */
const mailauth = () => import('mailauth');

/** How long a local check may take (DNS included) before it counts as a temporary error. */
const CHECK_TIMEOUT_MS = 10_000;

/**
 * Builds the local check on mailauth. ARC, BIMI and SPF are off: we read mail from a mailbox, so
 * the connecting IP is unknown and only DKIM-based DMARC alignment is meaningful. The resolver is
 * pluggable so tests plant keys; by default mailauth uses the system's DNS.
 */
export function createLocalSenderCheck(options: { resolver?: DnsResolver; mta: string; timeoutMs?: number }): LocalSenderCheck {
  const timeoutMs = options.timeoutMs ?? CHECK_TIMEOUT_MS;
  return async (raw) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    try {
      const { authenticate } = await mailauth();
      const res = await Promise.race([
        authenticate(raw, {
          ...(options.resolver ? { resolver: options.resolver } : {}),
          mta: options.mta,
          trustReceived: false,
          disableArc: true,
          disableBimi: true,
          // RFC 8301: rsa-sha1 signatures must not count as valid (SHA-1 collisions are practical).
          rejectRsaSha1: true,
        }),
        timeout,
      ]);
      if (res === 'timeout') return { dmarc: { result: 'temperror', headerFrom: '', unsignedBytes: 0 }, dkim: [] };
      const dkim = res.dkim.results.map((r) => ({
        domain: String(r.signingDomain ?? ''),
        selector: String(r.selector ?? ''),
        b: String(r.signature ?? '').replace(/\s+/g, '').slice(0, 64),
        result: String(r.status?.result ?? 'none'),
        unsignedBytes: unsignedBytes(r.status?.underSized, r.canonBodyLengthTotal, r.canonBodyLength),
      }));
      const dmarc = res.dmarc
        ? {
            result: String(res.dmarc.status?.result ?? 'none'),
            headerFrom: String(res.dmarc.status?.header?.from ?? res.dmarc.domain ?? ''),
            unsignedBytes: unsignedBytes(res.dmarc.alignment?.dkim?.underSized),
          }
        : null;
      return { dmarc, dkim };
    } finally {
      clearTimeout(timer);
    }
  };
}

/**
 * Body bytes a signature leaves unsigned (an `l=` tag shorter than the body): mailauth's
 * `underSized`, or the difference of the canonical body lengths it reports, whichever is larger.
 */
function unsignedBytes(underSized: unknown, total?: unknown, signed?: unknown): number {
  const fromLengths = typeof total === 'number' && typeof signed === 'number' ? total - signed : 0;
  const reported = typeof underSized === 'number' ? underSized : 0;
  const n = Math.max(reported, fromLengths);
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}

/**
 * A resolver that asks the given DNS servers (`host` or `host:port`, IPv6 in brackets) instead of
 * the system's: for a mailbox host whose own resolver is not the one its MTA trusts, or a test.
 */
export function serversResolver(servers: readonly string[], timeoutMs = 5_000): DnsResolver {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
  resolver.setServers([...servers]);
  return async (name, rrtype) => {
    if (rrtype === 'TXT') return resolver.resolveTxt(name);
    if (rrtype === 'A') return resolver.resolve4(name);
    if (rrtype === 'AAAA') return resolver.resolve6(name);
    // DKIM keys and DMARC records are TXT; the checks that ask for more (SPF, BIMI) are off.
    throw Object.assign(new Error(`no ${rrtype} lookups for the local check`), { code: 'ENOTIMP' });
  };
}
