import { randomBytes } from 'node:crypto';
import { stampAsOurMta } from '../../src/eval/mta-stamp.js';

export interface TestMail {
  from: string;
  displayName?: string;
  subject: string;
  text: string;
  /** Verified senders' mail is signed by their domain and carries our MTA's (mx.acme.example) DMARC pass above its Received line. */
  verified?: boolean;
  attachmentName?: string;
  /** Quoted history appended to the body, as a reply would carry it. */
  quoted?: string;
  messageId?: string;
  extraHeaders?: Record<string, string>;
}

/** A raw RFC 5322 message for tests, built from parts (multipart when there is an attachment). */
export function buildMail(mail: TestMail): { raw: string; messageId: string } {
  const messageId = mail.messageId ?? `<${randomBytes(8).toString('hex')}@${mail.from.split('@')[1] ?? 'example.org'}>`;
  const domain = mail.from.split('@')[1] ?? '';
  const headers = [
    `From: ${mail.displayName ? `"${mail.displayName.replace(/"/g, '')}" ` : ''}<${mail.from}>`,
    'To: support@acme.example',
    `Subject: ${mail.subject}`,
    `Message-ID: ${messageId}`,
    'Date: Tue, 24 Nov 2026 10:00:00 +0000',
    'MIME-Version: 1.0',
    ...Object.entries(mail.extraHeaders ?? {}).map(([k, v]) => `${k}: ${v}`),
  ];
  const deliver = (raw: string) => ({ raw: mail.verified ? stampAsOurMta(raw, { authservId: 'mx.acme.example', recipient: 'support@acme.example', signingDomain: domain }) : raw, messageId });
  const body = mail.quoted ? `${mail.text}\n\nOn Mon, 23 Nov 2026, Support wrote:\n${mail.quoted.split('\n').map((l) => `> ${l}`).join('\n')}\n` : `${mail.text}\n`;
  if (!mail.attachmentName) {
    return deliver([...headers, 'Content-Type: text/plain; charset=utf-8', '', body].join('\r\n'));
  }
  const boundary = `b_${randomBytes(6).toString('hex')}`;
  const raw = [
    ...headers,
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    '',
    body,
    `--${boundary}`,
    `Content-Type: application/pdf; name="${mail.attachmentName}"`,
    `Content-Disposition: attachment; filename="${mail.attachmentName}"`,
    'Content-Transfer-Encoding: base64',
    '',
    Buffer.from('%PDF-1.4 test').toString('base64'),
    `--${boundary}--`,
    '',
  ].join('\r\n');
  return deliver(raw);
}

/** A message (header lines and body, or its text) as our MTA mx.acme.example delivers it from a verified sender: signed by the From domain, our Received line and our Authentication-Results above it. */
export function stamped(message: string | readonly string[]): string {
  const text = typeof message === 'string' ? message : message.join('\r\n');
  return stampAsOurMta(text, { authservId: 'mx.acme.example', recipient: 'support@acme.example' });
}
