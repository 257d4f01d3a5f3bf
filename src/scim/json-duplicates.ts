/**
 * Duplicate member names in a JSON request body. `JSON.parse` keeps the last of `{"userName":"a","userName":"b"}`
 * silently (RFC 8259 §4: names SHOULD be unique, behaviour otherwise unpredictable), so an IdP bug or a
 * smuggling attempt would be stored as whatever the last one says. SCIM attribute names are case-insensitive
 * (RFC 7643 §2.1), so `userName` and `USERNAME` in one object are the same attribute twice, too.
 *
 * One linear pass over text that `JSON.parse` has already accepted: the scanner only tracks strings,
 * braces, brackets, colons and commas, so it does not re-validate the grammar.
 */

/** Where a duplicate was found: the member name (as written, unescaped) and its offset in the text. */
export interface DuplicateMember {
  name: string;
  at: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;

/**
 * The first member name that occurs twice (case-insensitively) in one object of `text`, at any depth;
 * undefined if none. `text` must be valid JSON (call after `JSON.parse` succeeded).
 */
export function findDuplicateMember(text: string): DuplicateMember | undefined {
  // One entry per open object or array: the names seen so far (null for an array).
  const stack: (Set<string> | null)[] = [];
  let expectName = false; // the next string in the current object is a member name
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const start = i;
      let escaped = false;
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === QUOTE) break;
        if (d === BACKSLASH) {
          escaped = true;
          i++; // skip the escaped character (`\"`, `\\`, `\u…` — the hex digits are plain characters)
        }
      }
      if (expectName) {
        const raw = text.slice(start + 1, i);
        // `"user\u004eame"` is `userName`: decode escapes (rare) through JSON itself.
        const name = escaped ? (JSON.parse(text.slice(start, i + 1)) as string) : raw;
        const key = name.toLowerCase();
        const seen = stack[stack.length - 1]!;
        if (seen.has(key)) return { name, at: start };
        seen.add(key);
        expectName = false;
      }
    } else if (c === OPEN_OBJECT) {
      stack.push(new Set());
      expectName = true;
    } else if (c === OPEN_ARRAY) {
      stack.push(null);
      expectName = false;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      stack.pop();
      expectName = false;
    } else if (c === COMMA) {
      expectName = stack[stack.length - 1] != null;
    }
  }
  return undefined;
}
