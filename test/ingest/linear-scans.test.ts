/**
 * Every scan over a message is linear in its size, whatever its shape. Two kinds of proof, no
 * clocks: step counters (doubling the input at most doubles the work), and inputs of a few MB that
 * finish in well under a second when linear but would take minutes (far past the test timeout)
 * on the quadratic scans these replaced.
 */
import { describe, expect, it } from 'vitest';
import { MailroomError } from '../../src/kernel/errors.js';
import { parseEmail } from '../../src/ingest/parse-email.js';
import { scanMimeShape, type ScanMeter } from '../../src/ingest/mime-scan.js';
import { extractBouncedMessageIds } from '../../src/ingest/dsn-parser.js';
import { robotSignalsFromHeaders } from '../../src/ingest/robot-signals.js';

const MB = 1024 * 1024;
const HEAD = 'From: Pat <pat@customer.example>\r\nTo: support@acme.example\r\nSubject: hi\r\nMessage-ID: <p@customer.example>\r\n';

/** `levels` nested multiparts, each with a signature line (`-- `) that is not a delimiter. */
function nestedMultiparts(levels: number): Buffer {
  const out: string[] = [HEAD];
  for (let i = 0; i < levels; i++) out.push(`Content-Type: multipart/mixed; boundary="b${i}"\r\n\r\n-- \r\n--b${i}\r\n`);
  out.push('Content-Type: text/plain\r\n\r\nhi\r\n');
  for (let i = levels - 1; i >= 0; i--) out.push(`--b${i}--\r\n`);
  return Buffer.from(out.join(''), 'latin1');
}

/** `count` attached messages nested in one another, then lines that look like delimiters. */
function nestedMessages(count: number): Buffer {
  const inner = 'Content-Type: message/rfc822\r\n\r\n'.repeat(count);
  return Buffer.from(`${HEAD}Content-Type: multipart/mixed; boundary="r"\r\n\r\n--r\r\n${inner}${'-- \r\n'.repeat(count)}--r--\r\n`, 'latin1');
}

/** A delivery report whose body is `count` `message/rfc822` markers with no blank line between them. */
function markerReport(count: number, tail = ''): string {
  return (
    `${HEAD}Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n--r\r\nContent-Type: text/plain\r\n\r\n` +
    'Content-Type: message/rfc822\r\n'.repeat(count) +
    tail +
    '\r\n--r--\r\n'
  );
}

function steps(run: (meter: ScanMeter) => unknown): number {
  const meter: ScanMeter = { steps: 0 };
  run(meter);
  return meter.steps;
}

describe('scanMimeShape is linear', () => {
  it('doubling nested multiparts at most doubles the steps (the old scan compared each line with every open boundary)', () => {
    const small = steps((m) => scanMimeShape(nestedMultiparts(2_000), m));
    const large = steps((m) => scanMimeShape(nestedMultiparts(4_000), m));
    expect(small).toBeGreaterThan(2_000);
    expect(large / small).toBeLessThan(2.2);
  });

  it('doubling nested attached messages at most doubles the steps', () => {
    const small = steps((m) => scanMimeShape(nestedMessages(5_000), m));
    const large = steps((m) => scanMimeShape(nestedMessages(10_000), m));
    expect(small).toBeGreaterThan(5_000);
    expect(large / small).toBeLessThan(2.2);
  });

  it('quarantines 4 MB of nested multiparts with the limit named (minutes on the quadratic scan)', async () => {
    const raw = nestedMultiparts(60_000);
    expect(raw.length).toBeGreaterThan(4 * MB);
    expect(scanMimeShape(raw).depth).toBe(60_000);
    const err = await parseEmail(raw).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MailroomError);
    expect(err).toMatchObject({ code: 'EMAIL_MALFORMED', message: 'MIME nesting 60000 deep, over the limit of 20' });
  });

  it('keeps the shape of a message with many delimiter-like lines right', () => {
    const raw = Buffer.from(`${HEAD}Content-Type: multipart/mixed; boundary="a"\r\n\r\n--a\r\nContent-Type: text/plain\r\n\r\n${'--b\r\n--a-\r\n'.repeat(1000)}--a--\r\n`);
    expect(scanMimeShape(raw)).toEqual({ headerLines: 5, depth: 1, unterminated: false, unknownEncoding: null, encodingFixes: [], unclosed: false, nodes: 2, largestAttachmentBytes: 0 });
  });
});

describe('attachment sizes known from the scan', () => {
  const withAttachment = (bytes: number, text: string) =>
    Buffer.from(
      `${HEAD}Content-Type: multipart/mixed; boundary="a"\r\n\r\n--a\r\nContent-Type: text/plain\r\n\r\n${text}\r\n` +
        `--a\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n${(Buffer.alloc(bytes, 7).toString('base64').match(/.{1,76}/g) ?? []).join('\r\n')}\r\n--a--\r\n`,
    );

  it('estimates a base64 attachment from below, and leaves the inline text out', () => {
    const shape = scanMimeShape(withAttachment(120_000, 'x'.repeat(500_000)));
    expect(shape.largestAttachmentBytes).toBeGreaterThan(119_990);
    expect(shape.largestAttachmentBytes).toBeLessThanOrEqual(120_000);
  });

  it('quarantines an over-limit attachment with the limit named', async () => {
    const err = await parseEmail(withAttachment(120_000, 'see attached'), { maxMessageBytes: 1e6, maxAttachments: 5, maxHeaderLines: 100, maxAttachmentBytes: 50_000 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EMAIL_TOO_LARGE', message: expect.stringMatching(/^an attachment of 11\d{4} bytes, over the limit of 50000$/) });
  });
});

describe('bounce Message-ID extraction is linear', () => {
  it('doubling the message/rfc822 markers at most doubles the steps (the old one re-split the rest of the report per marker)', () => {
    const small = steps((m) => extractBouncedMessageIds(markerReport(5_000), m));
    const large = steps((m) => extractBouncedMessageIds(markerReport(10_000), m));
    expect(small).toBeGreaterThan(5_000);
    expect(large / small).toBeLessThan(2.2);
  });

  it('reads 4 MB of markers and still finds the embedded Message-ID (minutes on the quadratic scan)', () => {
    const report = markerReport(140_000, '\r\nMessage-ID: <r7.step-send@acme.example>\r\n');
    expect(report.length).toBeGreaterThan(4 * MB);
    expect(extractBouncedMessageIds(report)).toEqual(['<r7.step-send@acme.example>']);
  });

  it('reads one embedded header block once however many markers point at it', () => {
    const block = Array.from({ length: 2_000 }, (_, i) => `X-F${i}: v`).join('\r\n');
    const small = steps((m) => extractBouncedMessageIds(markerReport(2_000, `\r\n${block}\r\n`), m));
    const large = steps((m) => extractBouncedMessageIds(markerReport(4_000, `\r\n${block}\r\n${block}\r\n`), m));
    expect(large / small).toBeLessThan(2.2);
  });
});

describe('robot signals read long header values in linear time', () => {
  it('a 2 MB From value with no address in it (the old address pattern restarted at every character)', () => {
    const signals = robotSignalsFromHeaders([{ key: 'from', line: `From: ${'a'.repeat(2 * MB)}` }]);
    expect(signals.from).toBe('a'.repeat(2 * MB));
  });

  it('a 2 MB From value made of comments and quotes', () => {
    const signals = robotSignalsFromHeaders([{ key: 'from', line: `From: ${'(x) "y" '.repeat(MB / 4)}<pat@customer.example>` }]);
    expect(signals.from).toBe('pat@customer.example');
  });
});

describe('HTML-only mail too large for mailparser to convert', () => {
  it('turns 3 MB of unclosed "<" into text in linear time (the old tag pattern scanned to the end from every "<")', async () => {
    const raw = Buffer.from(`${HEAD}Content-Type: text/html\r\n\r\n<p>hello</p>${'<'.repeat(3 * MB)}\r\n`, 'latin1');
    const parsed = await parseEmail(raw);
    expect(parsed.content.text.startsWith('hello')).toBe(true);
  });
});
