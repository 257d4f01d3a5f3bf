// Tokens of Cloudflare Gateway's wirefilter-style expressions. Pure; never throws: a bad character
// or string becomes an `error` token carrying its message, so the parser reports it at its offset.
// Offsets are 0-based indexes into the source string (UTF-16 code units, as JavaScript counts).

export type Token =
  | { t: "ident"; v: string; pos: number }
  | { t: "string"; v: string; pos: number }
  /** A number, IP address or CIDR (`443`, `10.0.0.0/8`): valid wirefilter, but no field here takes one. */
  | { t: "number"; v: string; pos: number }
  /** A list reference (`$<uuid>`). */
  | { t: "list"; v: string; pos: number }
  | { t: "punct"; v: Punct; pos: number }
  | { t: "error"; v: string; pos: number }
  | { t: "eof"; v: ""; pos: number };

export type Punct = "(" | ")" | "{" | "}" | "[" | "]" | "*" | "." | "," | "==" | "!=" | "&&" | "||" | "^^" | "!" | "<" | "<=" | ">" | ">=" | "~";

// Longest first, so `==` is not read as two `=`.
const PUNCTS: Punct[] = ["==", "!=", "&&", "||", "^^", "<=", ">=", "(", ")", "{", "}", "[", "]", "*", ".", ",", "!", "<", ">", "~"];

const IDENT = /[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*/y;
const NUMBER = /[0-9][0-9A-Za-z_.:/]*/y;
const LIST = /\$[A-Za-z0-9_-]*/y;
const SPACE = /[ \t\r\n]+/y;

/** Reads a double-quoted string at `start` (wirefilter: only `\"` and `\\` escapes here). */
function readString(source: string, start: number): { token: Token; end: number } {
  let out = "";
  let i = start + 1;
  while (i < source.length) {
    const c = source[i] as string;
    if (c === '"') return { token: { t: "string", v: out, pos: start }, end: i + 1 };
    if (c === "\\") {
      const next = source[i + 1];
      if (next === '"' || next === "\\") {
        out += next;
        i += 2;
        continue;
      }
      const msg = next === undefined ? "unterminated string" : `unsupported escape \\${next} in a string (only \\" and \\\\ are allowed)`;
      return { token: { t: "error", v: msg, pos: next === undefined ? start : i }, end: source.length };
    }
    out += c;
    i += 1;
  }
  return { token: { t: "error", v: "unterminated string", pos: start }, end: source.length };
}

function sticky(re: RegExp, source: string, at: number): string | null {
  re.lastIndex = at;
  const m = re.exec(source);
  return m ? m[0] : null;
}

/** The tokens of `source`, ending with one `eof` or at the first `error` token. */
export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  for (;;) {
    const space = sticky(SPACE, source, i);
    if (space) i += space.length;
    if (i >= source.length) {
      tokens.push({ t: "eof", v: "", pos: source.length });
      return tokens;
    }
    const c = source[i] as string;
    if (c === '"') {
      const { token, end } = readString(source, i);
      tokens.push(token);
      if (token.t === "error") return tokens;
      i = end;
      continue;
    }
    const ident = sticky(IDENT, source, i);
    if (ident) {
      tokens.push({ t: "ident", v: ident, pos: i });
      i += ident.length;
      continue;
    }
    const number = sticky(NUMBER, source, i);
    if (number) {
      tokens.push({ t: "number", v: number, pos: i });
      i += number.length;
      continue;
    }
    const list = sticky(LIST, source, i);
    if (list) {
      tokens.push({ t: "list", v: list, pos: i });
      i += list.length;
      continue;
    }
    const punct = PUNCTS.find((p) => source.startsWith(p, i));
    if (punct) {
      tokens.push({ t: "punct", v: punct, pos: i });
      i += punct.length;
      continue;
    }
    const shown = c === "=" ? '"=" (use == to compare)' : JSON.stringify(String.fromCodePoint(source.codePointAt(i) ?? 0));
    tokens.push({ t: "error", v: `unexpected character ${shown}`, pos: i });
    return tokens;
  }
}

/** A token as an error message names it. */
export function describeToken(token: Token): string {
  switch (token.t) {
    case "eof":
      return "the end of the expression";
    case "string":
      return `the string ${JSON.stringify(token.v.length > 40 ? `${token.v.slice(0, 40)}…` : token.v)}`;
    case "ident":
      return `"${token.v.length > 60 ? `${token.v.slice(0, 60)}…` : token.v}"`;
    default:
      return `"${token.v.length > 40 ? `${token.v.slice(0, 40)}…` : token.v}"`;
  }
}
