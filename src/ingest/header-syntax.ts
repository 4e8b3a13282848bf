/**
 * RFC 5322 lexical helpers shared by the robot detector and its MIME adapter: unfolding and
 * comment removal. Pure string functions, linear in their input, that never throw.
 */

/** RFC 5322 unfolding: a line break followed by whitespace is not part of the value. */
export function unfold(value: string): string {
  return value.replace(/\r?\n(?=[ \t])/g, '').replace(/[\r\n]+/g, ' ');
}

/**
 * Removes RFC 5322 comments (nested, with quoted-pairs) outside quoted strings, so that
 * `auto-replied (vacation)` and `auto-replied` compare equal. An unclosed comment swallows the
 * rest, which is what a strict parser would do as well.
 */
export function stripComments(value: string): string {
  // Kept text is collected as slices of the input, not character by character, so a long value
  // costs one pass and one copy.
  const kept: string[] = [];
  let from = 0;
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value.charCodeAt(i);
    if (ch === 92 /* \\ */ && (quoted || depth > 0)) {
      i++;
    } else if (quoted) {
      if (ch === 34 /* " */) quoted = false;
    } else if (ch === 40 /* ( */) {
      if (depth === 0) kept.push(value.slice(from, i));
      depth++;
    } else if (ch === 41 /* ) */ && depth > 0) {
      depth--;
      // A comment separates tokens like whitespace does.
      if (depth === 0) {
        kept.push(' ');
        from = i + 1;
      }
    } else if (depth === 0 && ch === 34) {
      quoted = true;
    }
  }
  if (depth === 0) kept.push(value.slice(from));
  return kept.join('');
}
