import { z } from 'zod';

/**
 * What an attachment is, as a closed set Mailroom maps MIME types to. The MIME type string itself
 * is the sender's choice (`application/x.ignore-previous-rules` is a valid one), so nothing that
 * decides anything sees it: only this kind.
 */
export const AttachmentKind = z.enum(['pdf', 'image', 'office', 'text', 'archive', 'calendar', 'other']);
export type AttachmentKind = z.infer<typeof AttachmentKind>;

/** Exact `type/subtype` pairs we recognise; everything not admitted here is `other`. */
const EXACT: ReadonlyMap<string, AttachmentKind> = new Map<string, AttachmentKind>([
  ['application/pdf', 'pdf'],
  ['application/msword', 'office'],
  ['application/rtf', 'office'],
  ['application/vnd.ms-excel', 'office'],
  ['application/vnd.ms-powerpoint', 'office'],
  ['application/vnd.openxmlformats-officedocument.wordprocessingml.document', 'office'],
  ['application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', 'office'],
  ['application/vnd.openxmlformats-officedocument.presentationml.presentation', 'office'],
  ['application/vnd.oasis.opendocument.text', 'office'],
  ['application/vnd.oasis.opendocument.spreadsheet', 'office'],
  ['application/vnd.oasis.opendocument.presentation', 'office'],
  ['text/plain', 'text'],
  ['text/csv', 'text'],
  ['text/markdown', 'text'],
  ['application/json', 'text'],
  ['application/zip', 'archive'],
  ['application/x-zip-compressed', 'archive'],
  ['application/gzip', 'archive'],
  ['application/x-gzip', 'archive'],
  ['application/x-tar', 'archive'],
  ['application/x-7z-compressed', 'archive'],
  ['application/x-rar-compressed', 'archive'],
  ['application/vnd.rar', 'archive'],
  ['text/calendar', 'calendar'],
  ['application/ics', 'calendar'],
]);

/** Image subtypes we admit; a sender-made `image/png+never-escalate` is not one of them. */
const IMAGE_SUBTYPES: ReadonlySet<string> = new Set([
  'png',
  'jpeg',
  'jpg',
  'pjpeg',
  'gif',
  'webp',
  'bmp',
  'tiff',
  'heic',
  'heif',
  'avif',
  'svg+xml',
]);

/**
 * Maps a Content-Type value (any case, with or without parameters) to its kind. Pure and total:
 * an unknown, malformed or made-up type is `other`, never an error, and the result never carries
 * any character of the input.
 */
export function attachmentKindOf(contentType: string): AttachmentKind {
  const semicolon = contentType.indexOf(';');
  const essence = (semicolon < 0 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
  const exact = EXACT.get(essence);
  if (exact) return exact;
  const slash = essence.indexOf('/');
  if (slash > 0 && essence.slice(0, slash) === 'image' && IMAGE_SUBTYPES.has(essence.slice(slash + 1)))
    return 'image';
  return 'other';
}

/** The distinct kinds of a list of Content-Type values, in the enum's order. */
export function attachmentKinds(contentTypes: readonly string[]): AttachmentKind[] {
  const seen = new Set(contentTypes.map(attachmentKindOf));
  return AttachmentKind.options.filter((k) => seen.has(k));
}
