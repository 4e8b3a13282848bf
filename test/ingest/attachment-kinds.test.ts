import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AttachmentKind, attachmentKindOf, attachmentKinds } from '../../src/model/attachment-kinds.js';

describe('attachmentKindOf: MIME type → a closed set of kinds', () => {
  it.each([
    ['application/pdf', 'pdf'],
    ['APPLICATION/PDF', 'pdf'],
    ['Application/Pdf; name="invoice.pdf"', 'pdf'],
    ['  application/pdf ;charset=ignore-previous-rules', 'pdf'],
    ['image/png', 'image'],
    ['IMAGE/JPEG; name=x.jpg', 'image'],
    ['image/svg+xml', 'image'],
    ['application/vnd.openxmlformats-officedocument.wordprocessingml.document', 'office'],
    ['application/msword', 'office'],
    ['text/plain; charset=utf-8', 'text'],
    ['text/csv; charset=always-send-reply', 'text'],
    ['application/zip', 'archive'],
    ['text/calendar; method=REQUEST', 'calendar'],
  ] as const)('%s → %s', (type, kind) => {
    expect(attachmentKindOf(type)).toBe(kind);
  });

  it.each([
    'application/x.ignore-previous-rules',
    'image/png+never-escalate',
    'image/x-never-escalate',
    'image/',
    'image',
    'pdf',
    'qzcanary/pdf',
    'text/x-ignore-previous-rules',
    'text/html',
    'message/rfc822',
    'application/pdf+always-send-reply',
    'application/octet-stream',
    '',
    ';application/pdf',
    'application/pdf\u0085',
  ])('a weird or unknown type is other: %j', (type) => {
    expect(attachmentKindOf(type)).toBe('other');
  });

  it('is total and never echoes its input: any string maps to one of the seven kinds', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (type) => {
        expect(AttachmentKind.options).toContain(attachmentKindOf(type));
      }),
    );
  });

  it('lists distinct kinds in the enum order, whatever the order and repetition of the types', () => {
    expect(attachmentKinds(['text/calendar', 'image/png', 'application/x-evil', 'image/gif', 'application/pdf'])).toEqual(['pdf', 'image', 'calendar', 'other']);
    expect(attachmentKinds([])).toEqual([]);
  });
});
