import { describe, expect, it } from 'vitest';
import { parseEmail } from '../../src/ingest/parse-email.js';
import { scanMimeShape } from '../../src/ingest/mime-scan.js';

const head = ['From: Pat <pat@customer.example>', 'To: support@acme.example', 'Subject: hi', 'Message-ID: <p@customer.example>', 'MIME-Version: 1.0'];
const nested = (depth: number): string[] =>
  depth === 0
    ? ['Content-Type: text/plain', '', 'inside', '']
    : [`Content-Type: multipart/mixed; boundary="b${depth}"`, '', `--b${depth}`, ...nested(depth - 1), `--b${depth}--`, ''];
const mail = (lines: string[]) => Buffer.from([...head, ...lines].join('\r\n'));

describe('scanMimeShape and parse limits', () => {
  it('measures nesting, counting an attached message as a level', () => {
    expect(scanMimeShape(mail(['Content-Type: text/plain', '', 'hello'])).depth).toBe(0);
    expect(scanMimeShape(mail(nested(3))).depth).toBe(3);
    const attached = mail([
      'Content-Type: multipart/mixed; boundary="outer"',
      '',
      '--outer',
      'Content-Type: message/rfc822',
      '',
      'From: someone@else.example',
      'Subject: inner',
      ...nested(2),
      '--outer--',
      '',
    ]);
    expect(scanMimeShape(attached)).toMatchObject({ depth: 4, unterminated: false });
  });

  it('counts top-level header fields, not folded lines or part headers', () => {
    const shape = scanMimeShape(mail(['X-Long: a', '  continued', ...nested(1)]));
    expect(shape.headerLines).toBe(head.length + 2);
  });

  it('refuses what is over the limits, with the reason', async () => {
    await expect(parseEmail(mail(nested(6)), { maxMessageBytes: 1e6, maxAttachments: 5, maxHeaderLines: 100, maxMimeDepth: 5 })).rejects.toThrow(
      /MIME nesting 6 deep, over the limit of 5/,
    );
    const flood = mail([...Array.from({ length: 120 }, (_, i) => `X-H${i}: v`), 'Content-Type: text/plain', '', 'x']);
    await expect(parseEmail(flood, { maxMessageBytes: 1e6, maxAttachments: 5, maxHeaderLines: 100 })).rejects.toThrow(/over the limit of 100/);
    await expect(parseEmail(mail(['Subject: x\u0000y', '', 'text']))).rejects.toThrow(/a NUL byte in the header/);
    // An encoding no decoder knows is read as 8bit (not decoded), as mail libraries do.
    await expect(parseEmail(mail(['Content-Transfer-Encoding: rot13', '', 'uryyb']))).resolves.toMatchObject({ content: { text: 'uryyb' }, facts: { repairs: ['transfer-encoding'] } });
    await expect(parseEmail(mail(nested(3)))).resolves.toMatchObject({ facts: { fromAddresses: ['pat@customer.example'] } });
  });
});
