/**
 * RFC 5322 lexical helpers shared by the robot detector, its MIME adapter and sender
 * verification: unfolding, comment removal, address case. Pure string functions, linear in their
 * input, that never throw.
 */

/**
 * Lowercases the ASCII letters of an address and nothing else. `toLowerCase` also folds some
 * other letters into ASCII (U+212A KELVIN SIGN becomes `k`), so an address a sender chose,
 * `\u212Aate@example.com`, would compare equal to `kate@example.com`: another person's trusted
 * address or account, behind any MTA rule that compares the bytes.
 */
export function lowerAscii(value: string): string {
  return value.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

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
