import { createHash, createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';

/**
 * What a receiving MTA would have done to a message before it reached the mailbox, for the
 * examples, the eval corpus and the tests: a DKIM signature by the sender's domain (RFC 6376,
 * relaxed/relaxed, ed25519-sha256 of RFC 8463) and, above our MTA's Received line, the
 * Authentication-Results it writes. Synchronous and deterministic, so fixtures built from it are
 * byte-stable. The key is a published test key for the fictional `.example` domains: its
 * public half (`EXAMPLE_DKIM.record`) is what a test's DNS serves.
 */

/** PKCS#8 DER of an Ed25519 private key is this prefix and the 32-byte seed. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export interface DkimKey {
  selector: string;
  privateKey: KeyObject;
  /** The TXT record value for `<selector>._domainkey.<domain>`. */
  record: string;
}

/** An Ed25519 DKIM key made from a seed phrase (the same phrase, the same key). */
export function dkimKeyFromSeed(phrase: string, selector: string): DkimKey {
  const seed = createHash('sha256').update(phrase).digest();
  const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return { selector, privateKey, record: `v=DKIM1; k=ed25519; p=${spki.subarray(spki.length - 32).toString('base64')}` };
}

/** The test key the examples and the eval sign with; a secret of nobody's. */
export const EXAMPLE_DKIM: DkimKey = dkimKeyFromSeed('mailroom example DKIM key: fictional domains only', 'mailroom-example');

/** The header fields the stamp signs, each oversigned once (listed one time more than present) so none can be added. */
export const SIGNED_HEADERS = ['from', 'to', 'cc', 'subject', 'date', 'message-id', 'mime-version', 'content-type', 'content-transfer-encoding', 'reply-to', 'in-reply-to', 'references'];

export interface RawField {
  name: string;
  /** The whole field as it stands, folded lines included (joined by the message's line end), without the final one. */
  raw: string;
}

/** A message's header fields in order, its line end (CRLF if it has any, else LF) and its body. */
export function splitHeaderFields(raw: string): { eol: string; fields: RawField[]; body: string } {
  const eol = raw.includes('\r\n') ? '\r\n' : '\n';
  const m = /\r?\n\r?\n/.exec(raw);
  const head = m ? raw.slice(0, m.index) : raw;
  const body = m ? raw.slice(m.index + m[0].length) : '';
  const fields: RawField[] = [];
  for (const line of head.split(/\r?\n/)) {
    const last = fields[fields.length - 1];
    if (/^[ \t]/.test(line) && last) last.raw += `${eol}${line}`;
    else fields.push({ name: line.slice(0, Math.max(0, line.indexOf(':'))).trim().toLowerCase(), raw: line });
  }
  return { eol, fields, body };
}

function relaxedHeader(field: string): string {
  const colon = field.indexOf(':');
  const name = field.slice(0, colon).trim().toLowerCase();
  const value = field
    .slice(colon + 1)
    .replace(/\r?\n(?=[ \t])/g, '')
    .replace(/[ \t]+/g, ' ')
    .trim();
  return `${name}:${value}`;
}

function relaxedBody(body: string): string {
  const lines = body.split(/\r?\n/).map((l) => l.replace(/[ \t]+/g, ' ').replace(/ $/, ''));
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.length === 0 ? '' : `${lines.join('\r\n')}\r\n`;
}

/** Folds a tag list for the header, breaking only between tags and inside b=/bh= values. */
function fold(tags: string): string {
  return tags.replace(/; /g, ';\r\n\t');
}

export interface SignOptions {
  domain: string;
  key?: DkimKey;
  /** Header names to sign in this order (default SIGNED_HEADERS, each present one once plus once more). */
  headers?: readonly string[];
  /** `l=`: sign only this many canonical body bytes. */
  bodyLength?: number;
  /** `t=` in seconds (default none). */
  time?: number;
  /** `x=` in seconds (default none). */
  expires?: number;
}

/** The DKIM-Signature field (without line end) for `raw`, as `domain` would sign it. */
export function dkimSignature(raw: string, options: SignOptions): string {
  const key = options.key ?? EXAMPLE_DKIM;
  const { fields, body } = splitHeaderFields(raw);
  const h =
    options.headers ??
    SIGNED_HEADERS.flatMap((name) => {
      const n = fields.filter((f) => f.name === name).length;
      return n === 0 ? [] : Array.from({ length: n + 1 }, () => name);
    });
  let canonBody = relaxedBody(body);
  if (options.bodyLength !== undefined) canonBody = canonBody.slice(0, options.bodyLength);
  const bh = createHash('sha256').update(canonBody, 'latin1').digest('base64');
  const tags = [
    'v=1',
    'a=ed25519-sha256',
    'c=relaxed/relaxed',
    `d=${options.domain}`,
    `s=${key.selector}`,
    ...(options.time !== undefined ? [`t=${options.time}`] : []),
    ...(options.expires !== undefined ? [`x=${options.expires}`] : []),
    ...(options.bodyLength !== undefined ? [`l=${options.bodyLength}`] : []),
    `h=${h.join(':')}`,
    `bh=${bh}`,
    'b=',
  ].join('; ');
  // The bottom-most unused copy of each listed name is signed (RFC 6376 §5.4.2).
  const used = new Map<string, number>();
  const signedLines: string[] = [];
  for (const name of h) {
    const copies = fields.filter((f) => f.name === name);
    const taken = used.get(name) ?? 0;
    const field = copies[copies.length - 1 - taken];
    used.set(name, taken + 1);
    if (field) signedLines.push(`${relaxedHeader(field.raw)}\r\n`);
  }
  const unsigned = `DKIM-Signature: ${fold(tags)}`;
  const digest = createHash('sha256')
    .update(signedLines.join('') + relaxedHeader(unsigned), 'latin1')
    .digest();
  const b = sign(null, digest, key.privateKey).toString('base64');
  return `${unsigned}${b}`;
}

export interface StampOptions {
  /** Our MTA's authserv-id, also the `by` host of its Received line. */
  authservId: string;
  /** The envelope recipient our MTA records. */
  recipient: string;
  /** The domain that signs (default: the From domain); null: the message is not signed. */
  signingDomain?: string | null;
  /** When our MTA received it, for its Received line (default: the message's Date). */
  receivedAt?: string;
  /** Our MTA's Received field as it wrote it, folded with the message's line ends (default: one made up from the rest). */
  received?: string;
  /** What our MTA's checks found (default: everything passed; `none` for DKIM when unsigned). */
  results?: { dkim?: 'pass' | 'fail' | 'none'; dmarc?: string; spf?: string };
  sign?: Omit<SignOptions, 'domain'>;
  /** Header lines someone added to the signed message before handing it to our MTA (attack tests: they stand below our Received, above the signature). */
  addedAfterSigning?: readonly string[];
  /** Text someone appended to the signed body (attack tests for `l=`). */
  appendedAfterSigning?: string;
}

const fromDomainOf = (raw: string): string => /^from:[^\r\n]*@([A-Za-z0-9.-]+)/im.exec(raw)?.[1]?.toLowerCase() ?? 'example.invalid';
const dateOf = (raw: string): string => /^date:[ \t]*([^\r\n]+)/im.exec(raw)?.[1]?.trim() ?? 'Mon, 02 Nov 2026 14:14:34 +0000';

/**
 * The message as our MTA hands it to the mailbox: signed by the sender's domain, then our
 * Received line and, above it, our Authentication-Results naming that signature. The message's
 * own line ends are kept (the signature is computed on the CRLF form, as verifiers read it).
 */
export function stampAsOurMta(message: string, options: StampOptions): string {
  const eol = message.includes('\r\n') ? '\r\n' : '\n';
  const crlf = message.replace(/\r?\n/g, '\r\n');
  const from = fromDomainOf(crlf);
  const domain = options.signingDomain === undefined ? from : options.signingDomain;
  const signature = domain === null ? null : dkimSignature(crlf, { domain, ...options.sign });
  const b = signature ? (/b=([A-Za-z0-9+/=]{8})[A-Za-z0-9+/=]*$/.exec(signature)?.[1] ?? '') : '';
  const r = { dkim: domain === null ? 'none' : 'pass', dmarc: 'pass', spf: 'pass', ...options.results };
  const dkim = domain === null ? `dkim=${r.dkim}` : `dkim=${r.dkim} header.d=${domain} header.s=${(options.sign?.key ?? EXAMPLE_DKIM).selector} header.b=${b}`;
  const ar = [`Authentication-Results: ${options.authservId};`, `\t${dkim};`, `\tspf=${r.spf} smtp.mailfrom=${from};`, `\tdmarc=${r.dmarc} header.from=${from}`].join(eol);
  const received =
    options.received ??
    [`Received: from mail.${from} (mail.${from} [198.51.100.23])`, `\tby ${options.authservId} (Postfix) with ESMTPS`, `\tfor <${options.recipient}>; ${options.receivedAt ?? dateOf(crlf)}`].join(eol);
  const signed = signature ? `${signature.replace(/\r\n/g, eol)}${eol}` : '';
  const added = (options.addedAfterSigning ?? []).map((h) => `${h}${eol}`).join('');
  return `${ar}${eol}${received}${eol}${added}${signed}${message}${options.appendedAfterSigning ?? ''}`;
}
