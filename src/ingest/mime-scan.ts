// The line scan of a message's MIME structure before any decoding: header lines, nesting depth,
// parts, decoded sizes, and the transfer-encoding tokens to mend (with the mending). parseEmail
// checks limits on its result before mailparser sees the message.
/** What a cheap line scan learns about a message's structure, before any decoding. */
export interface MimeShape {
  /** Header fields (unfolded) in the top-level header. */
  headerLines: number;
  /** Deepest nesting of multiparts and attached messages (a single-part message is 0). */
  depth: number;
  /** A multipart whose closing boundary never comes and that has no part at all. */
  unterminated: boolean;
  /** The first Content-Transfer-Encoding no decoder knows, if any (it is mended, see encodingFixes). */
  unknownEncoding: string | null;
  /** Where a non-standard Content-Transfer-Encoding value sits, and the known encoding it means. */
  encodingFixes: EncodingFix[];
  /** A multipart with parts whose closing boundary never comes (a truncated message). */
  unclosed: boolean;
  /** MIME nodes: the message, every part and every attached message. */
  nodes: number;
  /**
   * The largest part that is not an inline text body, in decoded bytes at least (base64 counted as
   * 3/4 of its characters, quoted-printable as 1/3): known before mailparser decodes anything.
   */
  largestAttachmentBytes: number;
}

/** A leaf part being read: how its body decodes and how many body characters it has so far. */
interface LeafPart {
  encoding: string | undefined;
  attachment: boolean;
  chars: number;
}

/** The fewest bytes a body of `chars` characters decodes to in `encoding`. */
function decodedAtLeast(part: LeafPart): number {
  if (part.encoding === 'base64') return Math.max(0, Math.floor((part.chars * 3) / 4) - 2);
  if (part.encoding === 'quoted-printable') return Math.floor(part.chars / 3);
  return part.chars;
}

/** Most MIME nodes a message may have: mailsplit (under mailparser) refuses more than 1000. */
export const MAX_MIME_NODES = 1000;

const KNOWN_ENCODINGS = new Set(['7bit', '8bit', 'binary', 'base64', 'quoted-printable', 'uuencode', 'x-uuencode']);

/** A byte range of the raw message (a header value) and what to put there instead. */
export interface EncodingFix {
  start: number;
  end: number;
  value: string;
}

/**
 * The known encoding a non-standard Content-Transfer-Encoding token means, the way mail libraries
 * read sloppy clients: spellings of base64 and quoted-printable decode as such, anything else
 * (`7-bit`, `8bits`, `plain`, `text/plain`, `none`, garbage) is taken as 8bit, i.e. not decoded.
 * Admits the spellings it knows; everything unrecognised gets the decoder that changes nothing.
 */
export function nearestEncoding(token: string): string {
  const t = (token.split(';')[0] ?? '').toLowerCase().replace(/["'\s]/g, '');
  if (KNOWN_ENCODINGS.has(t)) return t;
  if (/^(?:x-)?base-?64$/.test(t) || t === 'b64') return 'base64';
  if (/^(?:x-)?(?:quoted(?:-?printable)?|qp|quotedprintable)$/.test(t)) return 'quoted-printable';
  if (/^7-?bits?$/.test(t)) return '7bit';
  if (/^x-?uue?(?:ncode)?$/.test(t) || t === 'uue') return 'x-uuencode';
  return '8bit';
}

/** `raw` with each fix's range replaced by its value (ranges in order, not overlapping). */
export function applyFixes(raw: Buffer, fixes: readonly EncodingFix[]): Buffer {
  const pieces: Buffer[] = [];
  let at = 0;
  for (const f of fixes) {
    pieces.push(raw.subarray(at, f.start), Buffer.from(f.value, 'latin1'));
    at = f.end;
  }
  pieces.push(raw.subarray(at));
  return Buffer.concat(pieces);
}

const BOUNDARY = /boundary\s*=\s*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))/i;

/** Counts the steps a scan takes (lines read, container entries pushed or popped), so tests can show it is linear. */
export interface ScanMeter {
  steps: number;
}

/** Longest boundary the scan recognises (RFC 2046 allows 70; the BOUNDARY pattern takes 200). */
const MAX_BOUNDARY = 200;

/**
 * Scans the raw message line by line, tracking open multipart boundaries and attached messages,
 * so nesting depth and header count are known without building the MIME tree.
 *
 * Linear in the size of the message whatever its shape: every line is read once, a delimiter
 * line is looked up in a map from boundary to the open containers that use it (not compared with
 * every open container), every container is pushed and popped at most once, and a part's header
 * is sliced out once instead of being built up line by line.
 */
export function scanMimeShape(raw: Buffer, meter?: ScanMeter): MimeShape {
  const text = raw.toString('latin1');
  /** Open containers: a multipart's boundary, or null for an attached message/rfc822. */
  const stack: Array<{ boundary: string | null; parts: number }> = [];
  /** For each boundary, the stack positions of the open multiparts using it, innermost last. */
  const open = new Map<string, number[]>();
  let steps = 0;
  const pop = () => {
    const entry = stack.pop();
    steps += 1;
    if (entry?.boundary != null) {
      const at = open.get(entry.boundary);
      at?.pop();
      if (at?.length === 0) open.delete(entry.boundary);
    }
    return entry;
  };
  const topmost = (boundary: string): number => {
    const at = open.get(boundary);
    return at?.[at.length - 1] ?? -1;
  };
  let depth = 0;
  let topHeaderLines = 0;
  let inHeader = true;
  let top = true;
  let headerStart = 0;
  let unterminated = false;
  let unknownEncoding: string | null = null;
  let nodes = 1;
  const encodingFixes: EncodingFix[] = [];
  let leaf: LeafPart | null = null;
  let largestAttachmentBytes = 0;
  const endLeaf = () => {
    if (leaf?.attachment) largestAttachmentBytes = Math.max(largestAttachmentBytes, decodedAtLeast(leaf));
    leaf = null;
  };
  for (let pos = 0; pos <= text.length; ) {
    steps += 1;
    const nl = text.indexOf('\n', pos);
    const lineEnd = nl < 0 ? text.length : nl;
    const next = nl < 0 ? text.length + 1 : nl + 1;
    const contentEnd = lineEnd > pos && text.charCodeAt(lineEnd - 1) === 13 ? lineEnd - 1 : lineEnd;
    const lineStart = pos;
    pos = next;
    if (inHeader) {
      if (contentEnd === lineStart) {
        const header = text.slice(headerStart, lineStart);
        inHeader = false;
        top = false;
        const type = /(?:^|\n)content-type:[ \t]*([^;\s]+)([^\n]*(?:\n[ \t][^\n]*)*)/i.exec(header);
        const mediaType = type?.[1]?.toLowerCase() ?? 'text/plain';
        const cteMatch = /(?:^|\n)content-transfer-encoding:[ \t]*([^\r\n]*)/i.exec(header);
        let cte = cteMatch?.[1]?.trim().toLowerCase();
        if (cteMatch && cte !== undefined && !KNOWN_ENCODINGS.has(cte)) {
          unknownEncoding ??= cte.slice(0, 40);
          // The whole value (up to the line end) becomes the known token; latin1 offsets are byte offsets.
          const start = headerStart + cteMatch.index + cteMatch[0].length - (cteMatch[1]?.length ?? 0);
          cte = nearestEncoding(cte);
          encodingFixes.push({ start, end: headerStart + cteMatch.index + cteMatch[0].length, value: cte });
        }
        if (mediaType.startsWith('multipart/')) {
          const b = BOUNDARY.exec(type?.[2] ?? '');
          // Trailing spaces are not part of a boundary (RFC 2046 ends it with a non-space) and
          // delimiter lines are compared trimmed: senders that quote them anyway still match.
          const boundary = (b?.[1] ?? b?.[2])?.trimEnd();
          if (boundary) {
            const at = open.get(boundary);
            if (at) at.push(stack.length);
            else open.set(boundary, [stack.length]);
            stack.push({ boundary, parts: 0 });
          }
        } else if (mediaType === 'message/rfc822' || mediaType === 'message/global') {
          nodes += 1;
          stack.push({ boundary: null, parts: 0 });
          inHeader = true;
          headerStart = next;
        } else {
          const inlineText = (mediaType === 'text/plain' || mediaType === 'text/html') && !/(?:^|\n)content-disposition:[ \t]*attachment/i.test(header);
          leaf = { encoding: cte, attachment: !inlineText, chars: 0 };
        }
        depth = Math.max(depth, stack.length);
        continue;
      }
      const first = text.charCodeAt(lineStart);
      if (top && first !== 32 && first !== 9) topHeaderLines += 1;
      continue;
    }
    // A delimiter line is `--boundary` or `--boundary--`, optionally followed by whitespace.
    const isDelimiter = text.charCodeAt(lineStart) === 45 && text.charCodeAt(lineStart + 1) === 45 && contentEnd - lineStart <= MAX_BOUNDARY + 4 + 1024;
    if (!isDelimiter) {
      if (leaf) leaf.chars += contentEnd - lineStart;
      continue;
    }
    const trimmed = text.slice(lineStart, contentEnd).trimEnd();
    let asOpen = topmost(trimmed.slice(2));
    let asClose = trimmed.endsWith('--') ? topmost(trimmed.slice(2, -2)) : -1;
    if (asOpen < 0 && asClose < 0) {
      // RFC 2046 asks implementors to match a boundary at the start of the line: some clients
      // write text after it (`--b some words`). One more map lookup, so still linear.
      const token = /^--([^ \t]*)/.exec(trimmed)?.[1] ?? '';
      asOpen = topmost(token);
      asClose = token.endsWith('--') ? topmost(token.slice(0, -2)) : -1;
    }
    const at = Math.max(asOpen, asClose);
    if (at < 0) {
      if (leaf) leaf.chars += contentEnd - lineStart;
      continue;
    }
    endLeaf();
    const entry = stack[at];
    const closing = asClose === at && asOpen !== at;
    while (stack.length > at + 1) pop(); // anything opened inside ends with its parent's boundary
    if (closing) {
      // A closing delimiter with no part before it is an empty multipart: nothing to read, no harm.
      pop();
      // a closed container inside an attached message: the message ends with the outer boundary
      while (stack.length && stack[stack.length - 1]?.boundary === null) pop();
    } else {
      if (entry) entry.parts += 1;
      nodes += 1;
      inHeader = true;
      headerStart = next;
    }
  }
  endLeaf();
  if (stack.some((s) => s.boundary !== null && s.parts === 0)) unterminated = true;
  const unclosed = stack.some((s) => s.boundary !== null && s.parts > 0);
  if (meter) meter.steps += steps + stack.length;
  return { headerLines: topHeaderLines, depth, unterminated, unknownEncoding, encodingFixes, unclosed, nodes, largestAttachmentBytes };
}
