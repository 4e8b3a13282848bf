/**
 * Adapter from mailparser's raw header lines to the robot detector's {@link RobotSignals}: the
 * From address, the envelope sender and the decoded subject, read so that a display name or a
 * comment cannot stand in for an address. RFC 2047 encoded-words are decoded by libmime, the
 * decoder mailparser itself uses for `parsed.subject`, so both paths read a subject alike.
 */
import libmime from 'libmime';
import { z } from 'zod';
import { stripComments, unfold } from '../mail/header-syntax.js';
import type { HeaderField, RobotSignals } from './robot-detector.js';

/** What the adapter cannot (or should not) take from raw header lines. */
export const RobotSignalExtras = z.object({
  /** Parsed From address (e.g. `parsed.from?.value[0]?.address`); else taken from the From line. */
  from: z.string().nullable().optional(),
  /** Envelope sender if the source knows it; else the topmost `Return-Path`, else null. */
  envelopeFrom: z.string().nullable().optional(),
  /** Decoded subject (e.g. `parsed.subject`); else the Subject line, RFC 2047-decoded here. */
  subject: z.string().nullable().optional(),
});
export type RobotSignalExtras = z.infer<typeof RobotSignalExtras>;

/** The value part of a raw `Key: value` line, unfolded and trimmed. */
function lineValue(line: string): string {
  const colon = line.indexOf(':');
  return colon < 0 ? '' : unfold(line.slice(colon + 1)).trim();
}

/** The first address in a From value, lowercased; quoted display names cannot fake it. */
function firstAddress(value: string): string | null {
  const cleaned = stripComments(value).replace(/"(?:[^"\\]|\\.)*"/g, '');
  const angle = /<([^<>\s]+)>/.exec(cleaned);
  if (angle?.[1]) return angle[1].toLowerCase();
  // Prefer a token with an @; a bare `MAILER-DAEMON` is the only common address without one.
  // Matches start only where a token starts, so a long token without an @ is read once, not
  // once from each of its characters.
  const bare = /(?<![^\s<>(),;:"])[^\s<>(),;:"@]+@[^\s<>(),;:"]+/.exec(cleaned) ?? /[^\s<>(),;:"]+/.exec(cleaned);
  return bare ? bare[0].toLowerCase() : null;
}

/** `<>` → `''`, `<a@b>` → `a@b`; the null sender is the interesting case. */
function envelopeAddress(value: string): string {
  const cleaned = stripComments(value).trim();
  const angle = /<([^<>]*)>/.exec(cleaned);
  return (angle ? (angle[1] ?? '') : cleaned).trim().toLowerCase();
}

/**
 * Builds {@link RobotSignals} from mailparser's `parsed.headerLines` (each `line` is the raw
 * `Key: value`, possibly folded). Pass `extra.from` and `extra.subject` from the parsed message
 * when available; otherwise they are read from the header lines. Without `extra.envelopeFrom`
 * the topmost `Return-Path` (written by the final delivering MTA) stands in for the envelope
 * sender — forgeable on undelivered .eml files, which is fine for a privilege-removing signal.
 */
export function robotSignalsFromHeaders(
  lines: ReadonlyArray<{ key: string; line: string }>,
  extra: RobotSignalExtras = {},
): RobotSignals {
  const headers: HeaderField[] = lines.map(({ key, line }) => {
    const name = key.trim() !== '' ? key : line.slice(0, Math.max(0, line.indexOf(':')));
    return { key: name.trim().toLowerCase(), value: lineValue(line) };
  });
  const first = (key: string): string | undefined => headers.find((h) => h.key === key)?.value;

  const fromLine = first('from');
  const from = extra.from !== undefined ? extra.from : fromLine !== undefined ? firstAddress(fromLine) : null;

  const returnPath = first('return-path');
  const envelopeFrom =
    extra.envelopeFrom !== undefined
      ? extra.envelopeFrom
      : returnPath !== undefined
        ? envelopeAddress(returnPath)
        : null;

  const subjectLine = first('subject');
  const subject =
    extra.subject !== undefined
      ? extra.subject
      : subjectLine !== undefined
        ? // libmime does not throw on bad input: an unknown charset decodes as UTF-8 and a broken
          // word stays as written, which at worst weakens the subject rule.
          libmime.decodeWords(subjectLine)
        : null;

  return {
    headers,
    from: from === null ? null : from.trim().toLowerCase(),
    envelopeFrom,
    // RFC 2045 §5.2: a message without Content-Type is text/plain.
    contentType: first('content-type') ?? 'text/plain',
    subject,
  };
}
