/**
 * Preload for `mailroom` child processes in tests (`node --import tsx --import <this file> …`):
 * DNS lookups through `dns.promises.resolve` (what mailauth uses without a resolver of its own)
 * answer TXT records from MAILROOM_TEST_DNS (JSON: name → value) and ENOTFOUND for anything else,
 * so a child checks DKIM against keys the test planted and never asks a real resolver.
 */
import dns from 'node:dns';
import { z } from 'zod';

const records = new Map(Object.entries(z.record(z.string(), z.string()).parse(JSON.parse(process.env.MAILROOM_TEST_DNS ?? '{}'))));

async function planted(name: string, rrtype = 'A'): Promise<string[][]> {
  const value = rrtype === 'TXT' ? records.get(name.toLowerCase()) : undefined;
  if (value !== undefined) return [[value]];
  throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
}

Object.defineProperty(dns.promises, 'resolve', { value: planted, writable: true, configurable: true });
