/**
 * Literal text inside SQL patterns and ranges: LIKE and GLOB escaping, the upper bound of a prefix
 * range, and FTS5 trigram phrases. Pure string functions, used by compile.ts.
 */

/**
 * The FTS5 query for "contains `needle`" on a trigram index: one phrase string, `"` doubled inside
 * (https://sqlite.org/fts5.html#fts5_strings). `undefined` when the index cannot answer it: under
 * 3 characters (code points) there is no trigram, so FTS5 would match nothing.
 */
export function trigramPhrase(needle: string): string | undefined {
  if (Array.from(needle).length < 3) return undefined;
  return `"${needle.replaceAll('"', '""')}"`;
}

/** LIKE wildcards `%` `_` and the escape character itself, escaped with `\` (used with ESCAPE '\'). */
export function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, "\\$&");
}

/** GLOB wildcards `*` `?` `[` as one-character classes (`[*]`), the only escape GLOB has. */
export function escapeGlob(value: string): string {
  return value.replace(/[*?[]/g, "[$&]");
}

/**
 * The least string greater than every string starting with `prefix` (code-point order, which is
 * SQLite's BINARY order for UTF-8): the last incrementable code point + 1. `undefined` if none.
 */
export function prefixUpperBound(prefix: string): string | undefined {
  const cps = Array.from(prefix, (c) => c.codePointAt(0)!);
  for (let i = cps.length - 1; i >= 0; i--) {
    const cp = cps[i]!;
    if (cp >= 0x10ffff) continue;
    const next = cp + 1 === 0xd800 ? 0xe000 : cp + 1;
    return String.fromCodePoint(...cps.slice(0, i), next);
  }
  return undefined;
}
