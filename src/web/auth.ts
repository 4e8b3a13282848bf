import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config/config.js';

export interface Reviewer {
  name: string;
  password: string;
}

/** Who may use the web server, and whether the password was generated for this run. */
export interface WebAuth {
  readonly reviewers: readonly Reviewer[];
  /** True when no reviewer was configured: one password was generated, and the server stays on loopback. */
  readonly generated: boolean;
}

/** The configured reviewers, or one `admin` with a fresh random password when none is configured. */
export function webAuthFor(config: Pick<Config, 'approval'>): WebAuth {
  if (config.approval.reviewers.length) return { reviewers: config.approval.reviewers, generated: false };
  return { reviewers: [{ name: 'admin', password: randomBytes(18).toString('base64url') }], generated: true };
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * The reviewer an `Authorization: Basic …` header names, or null. Every reviewer is compared in
 * constant time, so timing tells nothing about which names exist.
 */
export function authenticate(auth: WebAuth, header: string | undefined): string | null {
  const m = header ? /^Basic ([A-Za-z0-9+/=]{1,1024})$/i.exec(header.trim()) : null;
  if (!m?.[1]) return null;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 1) return null;
  const name = digest(decoded.slice(0, colon));
  const password = digest(decoded.slice(colon + 1));
  let found: string | null = null;
  for (const r of auth.reviewers) {
    const ok = timingSafeEqual(name, digest(r.name)) && timingSafeEqual(password, digest(r.password));
    if (ok) found = r.name;
  }
  return found;
}

/** Whether a listen address is loopback only. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
