import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MailroomError } from '../../src/kernel/errors.js';
import { DEFAULT_PARSE_LIMITS, parseEmail } from '../../src/ingest/parse-email.js';
import { looksLikeEmail, peekMessageId } from '../../src/ingest/peeks.js';
import type { ErrorCode } from '../../src/kernel/errors.js';

const MAILBOX = fileURLToPath(new URL('../../examples/mailbox/', import.meta.url));
const example = (file: string): Buffer => readFileSync(MAILBOX + file);

/** Builds a CRLF message from header lines and a body. */
function eml(headers: readonly string[], body: readonly string[] = ['Hello.']): Buffer {
  return Buffer.from([...headers, '', ...body, ''].join('\r\n'));
}

/** The MailroomError code a parse fails with, or the string 'ok' when it succeeds. */
async function parseOutcome(raw: Buffer, limits = DEFAULT_PARSE_LIMITS): Promise<ErrorCode | 'ok'> {
  try {
    await parseEmail(raw, limits);
    return 'ok';
  } catch (err) {
    if (err instanceof MailroomError) return err.code;
    throw err;
  }
}

const PLAIN = eml([
  'From: Ann Lee <ann@customer.example>',
  'To: support@acme.example',
  'Subject: Hello',
  'Message-ID: <p1@customer.example>',
]);

describe('parseEmail limits', () => {
  it('accepts a plain message at exactly the size limit and refuses one byte more as EMAIL_TOO_LARGE', async () => {
    expect(await parseOutcome(PLAIN, { ...DEFAULT_PARSE_LIMITS, maxMessageBytes: PLAIN.length })).toBe('ok');
    expect(await parseOutcome(PLAIN, { ...DEFAULT_PARSE_LIMITS, maxMessageBytes: PLAIN.length - 1 })).toBe(
      'EMAIL_TOO_LARGE',
    );
  });

  it('reports the size in the message but never the mail text', async () => {
    const err = await parseEmail(PLAIN, { ...DEFAULT_PARSE_LIMITS, maxMessageBytes: 10 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MailroomError);
    expect((err as MailroomError).publicCode).toBe('MAILROOM_EMAIL_TOO_LARGE');
    expect((err as MailroomError).message).toContain(String(PLAIN.length));
    expect((err as MailroomError).message).not.toContain('Hello');
  });

  it('refuses text without a header block as EMAIL_MALFORMED', async () => {
    expect(await parseOutcome(Buffer.from('Just some words.\r\nNo headers here at all.\r\n'))).toBe(
      'EMAIL_MALFORMED',
    );
    expect(await parseOutcome(Buffer.from(''))).toBe('EMAIL_MALFORMED');
  });

  it('refuses a message without a From address as EMAIL_MALFORMED', async () => {
    expect(await parseOutcome(eml(['To: support@acme.example', 'Subject: who am I']))).toBe(
      'EMAIL_MALFORMED',
    );
    expect(await parseOutcome(eml(['From: Nobody', 'To: support@acme.example', 'Subject: no address']))).toBe(
      'EMAIL_MALFORMED',
    );
    expect(await parseOutcome(example('41-malformed-no-from.eml'))).toBe('EMAIL_MALFORMED');
  });

  it('refuses more header lines or attachments than the limits allow', async () => {
    expect(await parseOutcome(PLAIN, { ...DEFAULT_PARSE_LIMITS, maxHeaderLines: 4 })).toBe('ok');
    expect(await parseOutcome(PLAIN, { ...DEFAULT_PARSE_LIMITS, maxHeaderLines: 3 })).toBe('EMAIL_MALFORMED');
    const twoFiles = example('10-bug-dashboard-chart-blank.eml');
    const parsed = await parseEmail(twoFiles);
    const n = parsed.content.attachments.length;
    expect(n).toBeGreaterThan(0);
    expect(await parseOutcome(twoFiles, { ...DEFAULT_PARSE_LIMITS, maxAttachments: n })).toBe('ok');
    expect(await parseOutcome(twoFiles, { ...DEFAULT_PARSE_LIMITS, maxAttachments: n - 1 })).toBe(
      'EMAIL_MALFORMED',
    );
  });

  // examples/42-malformed-broken-mime.eml declares a boundary ("----=_Part_4471_19380552.1795369680")
  // that never occurs in its body. A mail client shows that body as text, and so does Mailroom now,
  // saying it was malformed; it used to be quarantined (and before that read as an empty email).
  it('reads a multipart message whose boundary never occurs as one text part, flagged (42-malformed-broken-mime.eml)', async () => {
    const parsed = await parseEmail(example('42-malformed-broken-mime.eml'));
    expect(parsed.facts.repairs).toEqual(['multipart-without-boundary']);
    expect(parsed.content.text).toContain('the widget error happened again');
    expect(parsed.content.attachments).toEqual([]);
  });
});

describe('parseEmail content', () => {
  it('splits facts from untrusted content for a plain message', async () => {
    const p = await parseEmail(PLAIN);
    expect(p.facts.sizeBytes).toBe(PLAIN.length);
    expect(p.facts.fromAddresses).toEqual(['ann@customer.example']);
    expect(p.facts.attachmentTypes).toEqual([]);
    expect(p.content).toMatchObject({
      messageId: '<p1@customer.example>',
      subject: 'Hello',
      fromDisplayName: 'Ann Lee',
      fromAddress: 'ann@customer.example',
      replyTo: null,
      html: null,
      attachments: [],
    });
    expect(p.content.text.trim()).toBe('Hello.');
  });

  it('takes the text part of multipart/alternative and keeps the HTML separately', async () => {
    const raw = eml(
      [
        'From: "Ann" <Ann@Customer.Example>',
        'Subject: alt',
        'MIME-Version: 1.0',
        'Content-Type: multipart/alternative; boundary="b1"',
      ],
      [
        '--b1',
        'Content-Type: text/plain; charset=utf-8',
        '',
        'Plain part here.',
        '--b1',
        'Content-Type: text/html; charset=utf-8',
        '',
        '<p>HTML <b>part</b> here.</p>',
        '--b1--',
      ],
    );
    const p = await parseEmail(raw);
    expect(p.content.text.trim()).toBe('Plain part here.');
    expect(p.content.html).toContain('<b>part</b>');
    expect(p.facts.contentType.startsWith('multipart/alternative')).toBe(true);
    expect(p.facts.fromAddresses).toEqual(['ann@customer.example']);
    expect(p.content.attachments).toEqual([]);
  });

  it('derives text without tags from an HTML-only message', async () => {
    const raw = eml(
      [
        'From: web@customer.example',
        'Subject: html',
        'MIME-Version: 1.0',
        'Content-Type: text/html; charset=utf-8',
      ],
      ['<html><body><p>First <b>bold</b> line</p><p>Second line</p></body></html>'],
    );
    const p = await parseEmail(raw);
    expect(p.content.html).toContain('<b>bold</b>');
    expect(p.content.text).toMatch(/First\s+bold\s+line/);
    expect(p.content.text).toContain('Second line');
    expect(p.content.text).not.toMatch(/<\/?[a-z]+>/);
  });

  it('collects attachment types (deduplicated, lowercased) but keeps no attachment content', async () => {
    const raw = eml(
      [
        'From: bob@customer.example',
        'Subject: files',
        'MIME-Version: 1.0',
        'Content-Type: multipart/mixed; boundary="m"',
      ],
      [
        '--m',
        'Content-Type: text/plain',
        '',
        'See attached.',
        '--m',
        'Content-Type: text/csv; name="a.csv"',
        'Content-Disposition: attachment; filename="a.csv"',
        '',
        'SECRET,CSV,CONTENT',
        '--m',
        'Content-Type: image/png; name="b.png"',
        'Content-Disposition: attachment; filename="b.png"',
        'Content-Transfer-Encoding: base64',
        '',
        'iVBORw0KGgo=',
        '--m',
        'Content-Type: IMAGE/PNG; name="c.png"',
        'Content-Disposition: attachment; filename="c.png"',
        'Content-Transfer-Encoding: base64',
        '',
        'iVBORw0KGgo=',
        '--m--',
      ],
    );
    const p = await parseEmail(raw);
    expect(p.facts.attachmentTypes).toEqual(['text/csv', 'image/png']);
    expect(p.content.attachments).toEqual([
      { filename: 'a.csv', contentType: 'text/csv', size: 18 },
      { filename: 'b.png', contentType: 'image/png', size: 8 },
      { filename: 'c.png', contentType: 'image/png', size: 8 },
    ]);
    expect(p.content.text.trim()).toBe('See attached.');
    expect(JSON.stringify(p)).not.toContain('SECRET,CSV,CONTENT');
  });

  it('decodes UTF-8 encoded-word subjects (Q and B)', async () => {
    const q = await parseEmail(
      eml(['From: a@customer.example', 'Subject: =?UTF-8?Q?=C3=84rger_mit_der_Rechnung?=']),
    );
    expect(q.content.subject).toBe('Ärger mit der Rechnung');
    const b = await parseEmail(
      eml(['From: a@customer.example', 'Subject: =?UTF-8?B?w4RyZ2VyIOKAkyBiaXR0ZQ==?=']),
    );
    expect(b.content.subject).toBe('Ärger – bitte');
  });

  it('lists every Authentication-Results value topmost first, without the header name', async () => {
    const p = await parseEmail(
      eml([
        'Authentication-Results: mx.acme.example; dmarc=pass header.from=customer.example',
        'Authentication-Results: mx.other.example;\r\n\tdkim=fail',
        'From: a@customer.example',
        'Subject: x',
      ]),
    );
    expect(p.facts.auth.authResults).toHaveLength(2);
    expect(p.facts.auth.authResults[0]).toEqual({ index: 0, value: 'mx.acme.example; dmarc=pass header.from=customer.example' });
    expect(p.facts.auth.authResults[1]?.index).toBe(1);
    expect(p.facts.auth.authResults[1]?.value.startsWith('mx.other.example;')).toBe(true);
  });
});

describe('parseEmail on examples/mailbox', () => {
  it('03: decodes the quoted-printable UTF-8 subject', async () => {
    const p = await parseEmail(example('03-rechnung-ust-idnr.eml'));
    expect(p.content.subject).toBe('Rechnung Oktober ohne USt-IdNr. – bitte korrigieren');
    expect(p.facts.fromAddresses).toEqual(['j.mueller@baeckerei-mueller.example']);
  });

  it('08: decodes the base64 UTF-8 subject', async () => {
    const p = await parseEmail(example('08-remboursement-commande.eml'));
    expect(p.content.subject).toBe('Demande de remboursement – commande ORD-10412');
  });

  it('11: derives text from an HTML-only message', async () => {
    const p = await parseEmail(example('11-bug-api-500-html-only.eml'));
    expect(p.facts.contentType.startsWith('text/html')).toBe(true);
    expect(p.content.html).toContain('<b>500 Internal Server Error</b>');
    expect(p.content.text).toContain('500 Internal Server Error');
    expect(p.content.text).not.toContain('<p>');
  });

  it('28: keeps the attachment type as a fact and its hostile file name only as untrusted content', async () => {
    const p = await parseEmail(example('28-inject-attachment-filename.eml'));
    expect(p.facts.attachmentTypes).toEqual(['application/pdf']);
    expect(p.content.attachments).toHaveLength(1);
    expect(p.content.attachments[0]?.filename).toContain('SYSTEM NOTE');
    expect(JSON.stringify(p.facts)).not.toContain('SYSTEM NOTE - refund');
    // The PDF bytes are not kept anywhere in the parse result.
    expect(JSON.stringify(p)).not.toContain('JVBERi0xLjQK');
    expect(p.content.text).not.toContain('%PDF');
  });

  it('07: a CSV attachment is counted, not inlined into the text', async () => {
    const raw = example('07-refund-duplicate-seats.eml');
    const p = await parseEmail(raw);
    expect(p.facts.attachmentTypes).toEqual(['text/csv']);
    expect(p.content.attachments.map((a) => Object.keys(a).sort())).toEqual([
      ['contentType', 'filename', 'size'],
    ]);
    expect(p.content.attachments[0]?.filename).toBe('seat-report-2026-11-05.csv');
    // The decoded CSV starts with this header row; it must not leak into the body text.
    expect(p.content.text).not.toContain('seat_email,added_on');
    expect(JSON.stringify(p)).not.toContain('seat_email');
  });
});

describe('looksLikeEmail', () => {
  it('accepts real mail, including a malformed example that still has a header block', () => {
    for (const f of [
      '01-invoice-copy-request.eml',
      '11-bug-api-500-html-only.eml',
      '41-malformed-no-from.eml',
    ]) {
      expect(looksLikeEmail(example(f))).toBe(true);
    }
  });

  it('refuses a PNG', () => {
    const png = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d]),
      Buffer.from('IHDR\0\0\0\x01'),
    ]);
    expect(looksLikeEmail(png)).toBe(false);
  });

  it('refuses pretty-printed JSON', () => {
    const json = Buffer.from(
      JSON.stringify({ from: 'a@b.example', to: 'c@d.example', subject: 'hi' }, null, 2),
    );
    expect(looksLikeEmail(json)).toBe(false);
  });

  it('refuses plain prose, even prose with a colon', () => {
    expect(looksLikeEmail(Buffer.from('Dear team: my invoice is wrong.\nPlease fix it.\n'))).toBe(false);
    expect(looksLikeEmail(Buffer.from('Hello world\n'))).toBe(false);
  });

  it('needs the first line to be a header and at least two headers', () => {
    expect(looksLikeEmail(Buffer.from('From: a@b.example\r\nSubject: x\r\n\r\nbody'))).toBe(true);
    expect(looksLikeEmail(Buffer.from('From: a@b.example\r\n\r\nbody'))).toBe(false);
    expect(looksLikeEmail(Buffer.from('hello\r\nFrom: a@b.example\r\nSubject: x\r\n\r\nbody'))).toBe(false);
  });
});

describe('peekMessageId', () => {
  it('reads a plain Message-ID', () => {
    expect(peekMessageId(example('01-invoice-copy-request.eml'))).toBe(
      '<4db932480e.f279bfbd@brightleaf.example>',
    );
  });

  it('reads a folded Message-ID, case-insensitively', () => {
    expect(
      peekMessageId(
        Buffer.from('From: a@b.example\r\nMessage-ID:\r\n <folded@x.example>\r\nSubject: x\r\n\r\nbody'),
      ),
    ).toBe('<folded@x.example>');
    expect(peekMessageId(Buffer.from('From: a@b.example\nmessage-id: \n\t<lower@x.example>\n\nbody'))).toBe(
      '<lower@x.example>',
    );
  });

  it('ignores look-alike headers and Message-IDs in the body', () => {
    expect(
      peekMessageId(
        Buffer.from(
          'From: a@b.example\r\nX-Original-Message-ID: <other@x.example>\r\n\r\nMessage-ID: <body@x.example>\r\n',
        ),
      ),
    ).toBeNull();
    expect(peekMessageId(Buffer.from('From: a@b.example\r\nSubject: x\r\n\r\nbody'))).toBeNull();
  });

  it('agrees with the full parse on the examples', async () => {
    for (const f of [
      '03-rechnung-ust-idnr.eml',
      '11-bug-api-500-html-only.eml',
      '28-inject-attachment-filename.eml',
    ]) {
      const raw = example(f);
      expect(peekMessageId(raw)).toBe((await parseEmail(raw)).content.messageId);
    }
  });
});
