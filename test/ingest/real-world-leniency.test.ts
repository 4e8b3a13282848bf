import { describe, expect, it } from 'vitest';
import { parseEmail } from '../../src/ingest/parse-email.js';
import { nearestEncoding } from '../../src/ingest/mime-scan.js';
import { looksLikeEmail } from '../../src/ingest/peeks.js';

const head = ['From: Pat <pat@customer.example>', 'To: support@acme.example', 'Subject: hi', 'Message-ID: <p@customer.example>'];
const mail = (lines: string[]) => Buffer.from(lines.join('\r\n'));

// The mbox line and the encoding cases were quarantined (or refused by the CLI) by the parser this
// branch started from; the truncated, undated and text-less cases pin behaviour that must stay.
describe('sloppy real-world mail is read, not quarantined', () => {
  it('a leading mbox "From " separator line is dropped, not taken as the start of the header', async () => {
    const raw = mail(['From pat@customer.example  Tue Nov 24 10:00:00 2026', ...head, '', 'hello']);
    expect(looksLikeEmail(raw)).toBe(true);
    const p = await parseEmail(raw);
    expect(p.content).toMatchObject({ fromAddress: 'pat@customer.example', subject: 'hi', text: 'hello' });
    expect(p.facts.repairs).toEqual(['mbox-from-line']);
    expect(p.facts.headerLines.map((h) => h.key)).not.toContain('from pat@customer.example');
  });

  it.each([
    ['quoted', 'caf=C3=A9 =\r\nau lait', 'café au lait'],
    ['QP', 'caf=C3=A9', 'café'],
    ['base-64', Buffer.from('hello b64').toString('base64'), 'hello b64'],
    ['"base64"', Buffer.from('quoted token').toString('base64'), 'quoted token'],
    ['7-bit', 'seven', 'seven'],
    ['8bits', 'caf\u00e9', 'café'],
    ['plain', 'just text', 'just text'],
    ['text/plain; charset=utf-8', 'a content type', 'a content type'],
    ['x-garbage', 'left as it is', 'left as it is'],
  ])('Content-Transfer-Encoding %j decodes as the nearest known encoding', async (token, body, text) => {
    const raw = Buffer.from([...head, 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', `Content-Transfer-Encoding: ${token}`, '', body].join('\r\n'), 'latin1');
    const p = await parseEmail(Buffer.from(raw.toString('latin1').replace('caf\u00e9', 'café'), token === '8bits' ? 'utf8' : 'latin1'));
    expect(p.content.text.trim()).toBe(text);
    expect(p.facts.repairs).toEqual(['transfer-encoding']);
  });

  it('maps tokens the way mail libraries do, and everything unknown to 8bit', () => {
    expect(['base64', 'BASE64', 'x-base64', 'b64'].map(nearestEncoding)).toEqual(['base64', 'base64', 'base64', 'base64']);
    expect(['quoted', 'qp', 'quotedprintable', 'quoted-printable'].map(nearestEncoding)).toEqual(Array(4).fill('quoted-printable'));
    expect(['7-bit', '7bits', '8bits', '8-bit', 'plain', 'none', 'binary'].map(nearestEncoding)).toEqual(['7bit', '7bit', '8bit', '8bit', '8bit', '8bit', 'binary']);
  });

  it('a non-standard encoding inside a part is mended too', async () => {
    const raw = mail([...head, 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b"', '', '--b', 'Content-Type: text/plain', 'Content-Transfer-Encoding: quoted', '', 'A=3DB', '--b', 'Content-Type: application/pdf; name="x.pdf"', 'Content-Transfer-Encoding: base-64', '', 'JVBERi0xLjQK', '--b--', '']);
    const p = await parseEmail(raw);
    expect(p.content.text.trim()).toBe('A=B');
    expect(p.content.attachments).toEqual([{ filename: 'x.pdf', contentType: 'application/pdf', size: 9 }]);
  });

  it('a truncated multipart (no closing boundary) keeps the parts that are there', async () => {
    const raw = mail([...head, 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b"', '', '--b', 'Content-Type: text/plain', '', 'first part', '--b', 'Content-Type: application/pdf', 'Content-Transfer-Encoding: base64', '', 'JVBERi0x']);
    const p = await parseEmail(raw);
    expect(p.content.text.trim()).toBe('first part');
    expect(p.content.attachments).toHaveLength(1);
    expect(p.facts.repairs).toEqual(['unclosed-multipart']);
  });

  it('a missing or unparseable Date, and a body with no text part, are fine', async () => {
    await expect(parseEmail(mail([...head, '', 'no date']))).resolves.toMatchObject({ content: { text: 'no date' } });
    await expect(parseEmail(mail([...head, 'Date: the day before yesterday', '', 'bad date']))).resolves.toMatchObject({ content: { text: 'bad date' } });
    const image = await parseEmail(mail([...head, 'MIME-Version: 1.0', 'Content-Type: image/png', 'Content-Transfer-Encoding: base64', '', 'iVBORw0KGgo=']));
    expect(image.content.text).toBe('');
    expect(image.facts.attachmentTypes).toEqual(['image/png']);
  });

  it('a boundary counts when it starts the line (RFC 2046), and an empty multipart is just empty', async () => {
    const words = mail([...head, 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b"', '', '--b  this text is ignored', 'Content-Type: text/plain', '', 'inside', '--b-- and so is this', '']);
    expect((await parseEmail(words)).facts.repairs).toBeUndefined();
    const empty = mail([...head, 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b"', '', 'a preamble and no part', '--b--', '']);
    await expect(parseEmail(empty)).resolves.toMatchObject({ content: { fromAddress: 'pat@customer.example' } });
  });

  it('obsolete header syntax and a NUL in the body still look like email', async () => {
    expect(looksLikeEmail(mail(['Subject : old style', 'From : pat@customer.example', '', 'x']))).toBe(true);
    expect(looksLikeEmail(mail([...head, '', 'a NUL \u0000 in the body']))).toBe(true);
    expect(looksLikeEmail(mail([...head.slice(0, 2), 'X-Bad: \u0000', '', 'x']))).toBe(false);
  });

  it('more parts than the MIME parser takes is refused by the scan, with the number', async () => {
    const parts = Array.from({ length: 1200 }, (_, i) => ['--p', 'Content-Type: text/plain', '', `part ${i}`]).flat();
    const raw = mail([...head, 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="p"', '', ...parts, '--p--', '']);
    await expect(parseEmail(raw)).rejects.toThrow('1201 MIME parts, over the limit of 1000');
  });

  it('still quarantines what cannot be handled, with the exact reason', async () => {
    await expect(parseEmail(mail(['To: support@acme.example', 'Subject: who?', '', 'x']))).rejects.toThrow(/no From address/);
  });

  it('a multipart whose boundary never occurs is read as one text part, as mail clients show it, and flagged', async () => {
    const parsed = await parseEmail(mail([...head, 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="gone"', '', 'no parts at all', '--other', 'Content-Type: text/plain', '', 'the text']));
    expect(parsed.facts.repairs).toEqual(['multipart-without-boundary']);
    expect(parsed.content.text).toBe('no parts at all\n--other\nContent-Type: text/plain\n\nthe text');
    // No boundary parameter at all: the same.
    const bare = await parseEmail(mail([...head, 'MIME-Version: 1.0', 'Content-Type: multipart/mixed', '', 'just text']));
    expect(bare.facts.repairs).toEqual(['multipart-without-boundary']);
    expect(bare.content.text).toBe('just text');
  });
});
