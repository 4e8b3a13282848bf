/**
 * The hostile corpus: malformed and abusive messages generated from a seed, so every run (a test,
 * the bench, a bug report) sees exactly the same bytes. Each message carries a unique Message-ID
 * (no two are deduplicated), the body canary and, where the shape allows, a sender that passes
 * DMARC at our authserv-id with a customer account, so that an automatic reply could be sent and
 * any header injection would have an outbound message to land in.
 */
import { gzipSync } from 'node:zlib';
import { stampAsOurMta } from '../../src/eval/mta-stamp.js';

/** Planted in every subject and body: must never appear in a log line at the default level. */
export const TEXT_CANARY = 'HOSTILECANARY5T';
/** What an injection tries to add as a header of our outbound mail (a name and an address). */
export const INJECTED_HEADER = 'X-Injected-Canary';
export const INJECTED_DOMAIN = 'inject-canary.example';

/** The shapes the generator makes; a message's `kind` says which. */
export const HOSTILE_KINDS = [
  'broken-boundary',
  'truncated',
  'bad-charset',
  'deep-nesting',
  'header-flood',
  'nul-bytes',
  'inject-subject',
  'inject-name',
  'inject-raw-cr',
  'overlong-line',
  'archive-bomb',
  'invalid-date',
  'bad-encoding',
  'many-attachments',
  'many-parts',
  'bad-from',
  'garbage',
  'hostile-names',
  'encoded-word-flood',
  'bad-content-type',
] as const;
export type HostileKind = (typeof HOSTILE_KINDS)[number];

export interface HostileMessage {
  /** `NNNN-kind.eml`: sorts in generation order. */
  name: string;
  kind: HostileKind;
  raw: Buffer;
}

/** A small deterministic PRNG (mulberry32): the same seed gives the same corpus everywhere. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The verified customer of examples/accounts (so replies can go out) and its DMARC pass from our authserv-id. */
const SENDER = 'dana.whitfield@brightleaf.example';
const AUTH = '\u0000stamp';

/**
 * The message our MTA would deliver: a first line AUTH stands for brightleaf.example's DKIM
 * signature and our Received and Authentication-Results (src/eval/mta-stamp.ts) over the rest.
 */
function delivered(text: string): Buffer {
  if (!text.startsWith(`${AUTH}\r\n`)) return Buffer.from(text, 'utf8');
  const stamped = stampAsOurMta(text.slice(AUTH.length + 2), { authservId: 'mx.acme.example', recipient: 'support@acme.example', signingDomain: 'brightleaf.example' });
  return Buffer.from(stamped, 'utf8');
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
/** An RFC 2047 encoded word: decoders turn it into any characters, CR and LF included. */
const encodedWord = (s: string) => `=?utf-8?B?${b64(s)}?=`;
function wrap76(s: string): string {
  const rows: string[] = [];
  for (let at = 0; at < s.length; at += 76) rows.push(s.slice(at, at + 76));
  return rows.join('\r\n');
}

/** The injections a sender tries in a subject or a display name. */
const INJECTIONS = [
  `Invoice\r\n${INJECTED_HEADER}: 1\r\nBcc: victim@${INJECTED_DOMAIN}`,
  `Invoice\nTo: victim@${INJECTED_DOMAIN}`,
  `Invoice\r\n\r\n${INJECTED_HEADER}: body-split`,
  `Invoice\rCc: victim@${INJECTED_DOMAIN}`,
  `Invoice\u2028${INJECTED_HEADER}: 1`,
  `Invoice%0d%0a${INJECTED_HEADER}: 1`,
];

/**
 * Generates `count` small hostile messages (each under about 2 MB) and `large` big ones (25 MiB
 * attachments, a 20 MB line), from `seed`.
 */
let bombCache: Buffer | undefined;

export function hostileCorpus({ seed, count, large = 0 }: { seed: number; count: number; large?: number }): HostileMessage[] {
  const rnd = prng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const out: HostileMessage[] = [];

  for (let i = 0; i < count; i++) {
    const kind = HOSTILE_KINDS[i % HOSTILE_KINDS.length] ?? 'garbage';
    const id = `<h${seed}-${i}@brightleaf.example>`;
    const head = (subject = `Invoice question ${TEXT_CANARY}`, from = `Dana Whitfield <${SENDER}>`) => [
      AUTH,
      `From: ${from}`,
      'To: support@acme.example',
      `Subject: ${subject}`,
      `Message-ID: ${id}`,
      'Date: Tue, 24 Nov 2026 10:00:00 +0000',
      'MIME-Version: 1.0',
    ];
    const text = `Hello, please send me a copy of my invoice. ${TEXT_CANARY}`;
    let lines: string[];
    let raw: Buffer | null = null;
    switch (kind) {
      case 'broken-boundary': {
        const b = `b${i}`;
        const variants = [
          [`Content-Type: multipart/mixed; boundary="${b}"`, '', `--${b}x`, 'Content-Type: text/plain', '', text, `--${b}--`],
          [`Content-Type: multipart/mixed; boundary=`, '', `--`, text, `----`],
          [`Content-Type: multipart/mixed; boundary="${'x'.repeat(int(70, 5000))}"`, '', `--${'x'.repeat(70)}`, '', text],
          [`Content-Type: multipart/mixed; boundary="${b}"; boundary="other"`, '', '--other', 'Content-Type: text/plain', '', text, `--${b}`, '', text, '--other--'],
          [`Content-Type: multipart/alternative; boundary="${b}"`, '', ...Array.from({ length: int(1, 50) }, () => `--${b}`), '', text],
        ];
        lines = [...head(), ...pick(variants)];
        break;
      }
      case 'truncated': {
        const b = `t${i}`;
        const full = [...head(), `Content-Type: multipart/mixed; boundary="${b}"`, '', `--${b}`, 'Content-Type: text/plain', '', text, `--${b}`, 'Content-Type: application/pdf', 'Content-Transfer-Encoding: base64', '', wrap76(b64('%PDF-1.4 '.repeat(200))), `--${b}--`, ''].join('\r\n');
        raw = Buffer.from(full.slice(0, int(Math.floor(full.length / 3), full.length - 1)), 'latin1');
        lines = [];
        break;
      }
      case 'bad-charset': {
        const charset = pick(['x-no-such-charset', 'utf-7', 'utf-8"; x="', '', 'ISO-2022-JP-3', 'windows-99999', `${TEXT_CANARY}\u00ff`, 'utf-16le']);
        const body = pick([text, `${text} \u00ff\u00fe\u0000\u00c3\u0028 invalid`, `+ZeVnLIqe- ${text}`]);
        lines = [...head(encodedWord(`Invoice ${TEXT_CANARY}`).replace('utf-8', pick(['x-bogus', 'utf-8', 'utf-7']))), `Content-Type: text/plain; charset="${charset}"`, 'Content-Transfer-Encoding: 8bit', '', body];
        raw = Buffer.from(lines.join('\r\n'), 'latin1');
        break;
      }
      case 'deep-nesting': {
        const depth = pick([int(3, 19), int(21, 60), int(200, 2000)]);
        const open: string[] = [];
        const close: string[] = [];
        for (let d = 0; d < depth; d++) {
          if (d % 2 === 0) {
            open.push(`Content-Type: multipart/mixed; boundary="n${d}"`, '', `--n${d}`);
            close.unshift(`--n${d}--`);
          } else {
            open.push('Content-Type: message/rfc822', '', `From: x${d}@inner.example`, `Subject: inner ${TEXT_CANARY}`);
          }
        }
        lines = [...head(), ...open, 'Content-Type: text/plain', '', text, ...close];
        break;
      }
      case 'header-flood': {
        const n = pick([501, 2000, 10_000]);
        lines = [...head(), ...Array.from({ length: n }, (_, k) => `X-Flood-${k}: ${TEXT_CANARY}`), 'Content-Type: text/plain', '', text];
        break;
      }
      case 'nul-bytes': {
        const where = pick(['header', 'body', 'name']);
        lines =
          where === 'header'
            ? [...head(`Invoice\u0000 ${TEXT_CANARY}`), 'Content-Type: text/plain', '', text]
            : where === 'name'
              ? [...head(undefined, `"Dana\u0000Whitfield" <${SENDER}>`), 'Content-Type: text/plain', '', text]
              : [...head(), 'Content-Type: text/plain', '', `${text}\u0000\u0000 after NUL`];
        raw = Buffer.from(lines.join('\r\n'), 'latin1');
        break;
      }
      case 'inject-subject':
        lines = [...head(encodedWord(`${pick(INJECTIONS)} ${TEXT_CANARY}`)), 'Content-Type: text/plain', '', text];
        break;
      case 'inject-name':
        lines = [...head(undefined, `${encodedWord(`Dana ${pick(INJECTIONS)}`)} <${SENDER}>`), 'Content-Type: text/plain', '', text];
        break;
      case 'inject-raw-cr': {
        // Bare CRs, and injections in the ids we thread replies with.
        lines = [
          AUTH,
          `From: Dana Whitfield <${SENDER}>`,
          'To: support@acme.example',
          `Subject: Invoice\r${INJECTED_HEADER}: 1 ${TEXT_CANARY}`,
          `Message-ID: <h${seed}-${i}\r${INJECTED_HEADER}:1@brightleaf.example>`,
          `References: <a@b>\r\n ${encodedWord(`\r\n${INJECTED_HEADER}: 1`)}`,
          `In-Reply-To: ${encodedWord(`<x@y>\r\nBcc: victim@${INJECTED_DOMAIN}`)}`,
          'Content-Type: text/plain',
          '',
          text,
        ];
        break;
      }
      case 'overlong-line': {
        const len = pick([10_000, 200_000, 1_500_000]);
        lines = [...head(`Invoice ${'s'.repeat(pick([998, 20_000]))} ${TEXT_CANARY}`), 'Content-Type: text/plain', '', `${text} ${'y'.repeat(len)}`];
        break;
      }
      case 'archive-bomb': {
        // Compressed to about 50 KB, 50 MiB when unpacked: Mailroom must never unpack it.
        bombCache ??= gzipSync(Buffer.alloc(50 * 1024 * 1024, 0), { level: 9 });
        const bomb = bombCache;
        const name = pick(['invoice.zip', 'logs.tar.gz', 'report.gz', 'a.zip.zip']);
        lines = [...head(), 'Content-Type: multipart/mixed; boundary="bomb"', '', '--bomb', 'Content-Type: text/plain', '', text, '--bomb', `Content-Type: ${pick(['application/gzip', 'application/zip', 'application/x-gzip'])}; name="${name}"`, `Content-Disposition: attachment; filename="${name}"`, 'Content-Transfer-Encoding: base64', '', wrap76(bomb.toString('base64')), '--bomb--', ''];
        break;
      }
      case 'invalid-date': {
        const date = pick(['', 'yesterday', 'Mon, 31 Feb 2026 25:61:61 +9999', 'Tue, 24 Nov 99999 10:00:00 +0000', '-1', '0000-00-00T00:00:00Z', `${TEXT_CANARY}`, 'Thu, 01 Jan 1970 00:00:00 -2400']);
        lines = head().map((l) => (l.startsWith('Date:') ? `Date: ${date}` : l));
        lines.push('Content-Type: text/plain', '', text);
        break;
      }
      case 'bad-encoding': {
        const variant = pick(['base64', 'quoted-printable', 'x-uuencode', 'base65', '8bits']);
        const body = variant === 'base64' ? `!!!${b64(text)}@@@=====\r\n${'%'.repeat(100)}` : variant === 'quoted-printable' ? `=ZZ=4=\r\n${text}=` : `begin 644\r\n${text}`;
        lines = [...head(), 'Content-Type: text/plain; charset=utf-8', `Content-Transfer-Encoding: ${variant}`, '', body];
        break;
      }
      case 'many-attachments': {
        const n = pick([10, 51, 300]);
        lines = [...head(), 'Content-Type: multipart/mixed; boundary="many"', '', '--many', 'Content-Type: text/plain', '', text];
        for (let k = 0; k < n; k++) lines.push('--many', `Content-Type: application/octet-stream; name="a${k}.bin"`, 'Content-Disposition: attachment', '', `bytes ${k}`);
        lines.push('--many--', '');
        break;
      }
      case 'many-parts': {
        const n = pick([100, 2000, 10_000]);
        lines = [...head(), 'Content-Type: multipart/alternative; boundary="p"', ''];
        for (let k = 0; k < n; k++) lines.push('--p', 'Content-Type: text/plain', '', `${k} ${TEXT_CANARY}`);
        lines.push('--p--', '');
        break;
      }
      case 'bad-from': {
        const from = pick(['', '<>', '@@@', `"${TEXT_CANARY}" <a@b@c>`, 'undisclosed-recipients:;', `${'a'.repeat(5000)}@example.com`, `=?utf-8?B?${b64(`x@${INJECTED_DOMAIN}`)}?=`]);
        lines = [...head(undefined, from), 'Content-Type: text/plain', '', text];
        break;
      }
      case 'garbage': {
        const n = int(1, 4096);
        const bytes = Buffer.alloc(n);
        for (let k = 0; k < n; k++) bytes[k] = Math.floor(rnd() * 256);
        raw = pick([bytes, Buffer.concat([Buffer.from(`From: ${SENDER}\r\nMessage-ID: ${id}\r\n`), bytes]), Buffer.from(`Message-ID: ${id}\r\n\r\n`)]);
        lines = [];
        break;
      }
      case 'hostile-names': {
        const name = pick([`..\\..\\etc\\passwd`, `invoice.pdf\r\n${INJECTED_HEADER}: 1`, `${'n'.repeat(5000)}.pdf`, encodedWord(`a\r\nb ${TEXT_CANARY}.pdf`), '', '"']);
        const type = pick(['application/pdf', `application/${TEXT_CANARY}`, 'text/html; charset=utf-8', '../../x', 'image/svg+xml']);
        lines = [...head(), 'Content-Type: multipart/mixed; boundary="n"', '', '--n', 'Content-Type: text/plain', '', text, '--n', `Content-Type: ${type}; name="${name}"`, `Content-Disposition: attachment; filename="${name}"`, `Content-ID: <${TEXT_CANARY}\r\n ${INJECTED_HEADER}>`, '', 'data', '--n--', ''];
        break;
      }
      case 'encoded-word-flood': {
        const words = Array.from({ length: pick([100, 5000]) }, () => encodedWord(`w ${TEXT_CANARY}`)).join(' ');
        lines = [...head(words), 'Content-Type: text/plain', '', text];
        break;
      }
      case 'bad-content-type': {
        const ct = pick(['', ';;;', 'text', 'multipart', 'multipart/mixed', 'message/rfc822', `${'a'.repeat(10_000)}/b`, 'text/plain; charset', 'text/html']);
        lines = [...head(), `Content-Type: ${ct}`, '', ct === 'text/html' ? `<html><body>${'<div>'.repeat(20_000)}${text}</body></html>` : text];
        break;
      }
    }
    out.push({ name: `${String(i).padStart(4, '0')}-${kind}.eml`, kind, raw: raw ?? delivered(lines.join('\r\n')) });
  }

  // The large ones: a 25 MiB attachment (over the message limit), a 9 MiB one (within every limit)
  // and a 20 MB single line.
  const bigs: Array<{ kind: HostileKind; build: () => Buffer }> = [
    { kind: 'overlong-line', build: () => bigAttachment(seed, 'big25', 25 * 1024 * 1024) },
    { kind: 'overlong-line', build: () => bigAttachment(seed, 'big9', 9 * 1024 * 1024) },
    { kind: 'overlong-line', build: () => delivered(`${AUTH}\r\nFrom: <${SENDER}>\r\nSubject: long ${TEXT_CANARY}\r\nMessage-ID: <big20-${seed}@brightleaf.example>\r\n\r\n${'z'.repeat(20_000_000)}\r\n`) },
  ];
  for (let k = 0; k < Math.min(large, bigs.length); k++) {
    const big = bigs[k];
    if (big) out.push({ name: `${String(count + k).padStart(4, '0')}-large-${k}.eml`, kind: big.kind, raw: big.build() });
  }
  return out;
}

function bigAttachment(seed: number, tag: string, bytes: number): Buffer {
  const data = Buffer.alloc(bytes, 0x41).toString('base64');
  return delivered(
    [
      AUTH,
      `From: <${SENDER}>`,
      `Subject: big ${TEXT_CANARY}`,
      `Message-ID: <${tag}-${seed}@brightleaf.example>`,
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="big"',
      '',
      '--big',
      'Content-Type: text/plain',
      '',
      'see attached',
      '--big',
      'Content-Type: application/pdf; name="scan.pdf"',
      'Content-Transfer-Encoding: base64',
      '',
      wrap76(data),
      '--big--',
      '',
    ].join('\r\n'),
  );
}
