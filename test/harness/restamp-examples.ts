/**
 * Re-stamps examples/mailbox/*.eml the way our MTA (mx.acme.example) delivers mail: the sender's
 * DKIM signature (the published example key, src/eval/mta-stamp.ts), our Received line, and our
 * Authentication-Results above it naming that signature. Idempotent; what each example's checks
 * found (dkim, spf, dmarc) is read from its own Authentication-Results and kept.
 *
 *   npx tsx test/harness/restamp-examples.ts        # rewrite the files
 *
 * test/ingest/example-stamps.test.ts checks that every example is stamped as this script would.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { splitHeaderFields, stampAsOurMta, EXAMPLE_DKIM } from '../../src/eval/mta-stamp.js';
import { parseAuthenticationResults } from '../../src/ingest/authentication-results.js';

const AUTHSERV_ID = 'mx.acme.example';

/** The example as our MTA would deliver it (unchanged when our MTA wrote no Authentication-Results for it). */
export function restampExample(text: string): string {
  const { eol, fields, body } = splitHeaderFields(text);
  const ours = fields.find((f) => f.name === 'authentication-results' && f.raw.slice(f.raw.indexOf(':') + 1).trim().toLowerCase().startsWith(`${AUTHSERV_ID};`));
  const received = fields.find((f) => f.name === 'received' && new RegExp(`\\bby ${AUTHSERV_ID.replace(/\./g, '\\.')}\\b`).test(f.raw));
  if (!ours || !received) return text;
  const signature = fields.find((f) => f.name === 'dkim-signature' && f.raw.includes(`s=${EXAMPLE_DKIM.selector}`));
  const results = parseAuthenticationResults(ours.raw.slice(ours.raw.indexOf(':') + 1))?.results ?? [];
  const dkim = results.find((r) => r.method === 'dkim');
  const dmarc = results.find((r) => r.method === 'dmarc')?.result ?? 'none';
  const spf = results.find((r) => r.method === 'spf')?.result ?? 'none';
  const rest = fields.filter((f) => f !== ours && f !== received && f !== signature);
  const message = `${rest.map((f) => f.raw).join(eol)}${eol}${eol}${body}`;
  const recipient = /for <([^>]+)>/.exec(received.raw)?.[1] ?? 'support@acme.example';
  const signs = dkim?.result === 'pass' && dkim.props['header.d'];
  return stampAsOurMta(message, {
    authservId: AUTHSERV_ID,
    recipient,
    received: received.raw,
    signingDomain: signs ? (dkim.props['header.d'] ?? null) : null,
    results: { dkim: signs ? 'pass' : 'none', dmarc, spf },
  });
}

export const EXAMPLE_MAILBOX = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'mailbox');

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  let changed = 0;
  for (const name of readdirSync(EXAMPLE_MAILBOX).filter((f) => f.endsWith('.eml')).sort()) {
    const file = path.join(EXAMPLE_MAILBOX, name);
    const before = readFileSync(file, 'latin1');
    const after = restampExample(before);
    if (after !== before) {
      writeFileSync(file, after, 'latin1');
      changed += 1;
    }
  }
  console.log(`restamped ${changed} example(s)`);
}
