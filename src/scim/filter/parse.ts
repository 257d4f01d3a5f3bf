/**
 * SCIM filter parser (RFC 7644 §3.4.2.2, ABNF in Figure 1) and PATCH path parser (RFC 7644 §3.5.2).
 *
 *   FILTER    = attrExp / logExp / valuePath / *1"not" "(" FILTER ")"
 *   valuePath = attrPath "[" valFilter "]"
 *   attrExp   = (attrPath SP "pr") / (attrPath SP compareOp SP compValue)
 *   logExp    = FILTER SP ("and" / "or") SP FILTER
 *
 * Precedence (§3.4.2.2 Table 4): grouping "()" and "[]" > "not" > "and" > "or"; and/or are left-associative.
 * Operators and keywords are case-insensitive. Whitespace is accepted leniently (any run of SP/HTAB/CR/LF
 * where the ABNF has SP, and none needed next to brackets and quotes). Bad input never throws: it yields
 * a 400 `invalidFilter` (or `invalidPath` for PATCH paths) whose detail names the character position.
 */
import { err, ok, scimErrors, type Result } from "../errors";
import type { CompareOp, Filter, FilterValue } from "./ast";
import { isAttrName, PATH_CHAR, splitAttrPath } from "./path";

/** Bounds that keep hostile input from exhausting the stack or the SQL compiler. */
export const FILTER_LIMITS = { maxLength: 4096, maxDepth: 32, maxTerms: 100 } as const;

const COMPARE_OPS: ReadonlySet<string> = new Set<CompareOp>(["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]);
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const ESCAPES: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };

const isSpace = (c: string | undefined) => c === " " || c === "\t" || c === "\r" || c === "\n";

/** A recursive-descent parser over one input; the first error wins and is reported with its position. */
class FilterParser {
  pos = 0;
  private depth = 0;
  private terms = 0;
  error: { at: number; why: string; inBrackets: boolean } | undefined;
  private inBrackets = false;

  constructor(readonly src: string) {}

  fail(why: string, at: number = this.pos): undefined {
    this.error ??= { at, why, inBrackets: this.inBrackets };
    return undefined;
  }

  skipSpace(): void {
    while (isSpace(this.src[this.pos])) this.pos++;
  }

  atEnd(): boolean {
    return this.pos >= this.src.length;
  }

  /** Reads a run of attrPath characters (also used for keywords and operators). */
  readToken(): string {
    const start = this.pos;
    while (this.pos < this.src.length && PATH_CHAR.test(this.src[this.pos]!)) this.pos++;
    return this.src.slice(start, this.pos);
  }

  /** Reads a keyword at the current position (after spaces) if it is one of `words`; restores otherwise. */
  private keyword(...words: string[]): string | undefined {
    const save = this.pos;
    this.skipSpace();
    const word = this.readToken().toLowerCase();
    if (words.includes(word)) return word;
    this.pos = save;
    return undefined;
  }

  private enter(): boolean {
    if (++this.depth > FILTER_LIMITS.maxDepth) {
      this.fail(`nesting deeper than ${FILTER_LIMITS.maxDepth} levels`);
      return false;
    }
    return true;
  }

  private countTerm(at: number): boolean {
    if (++this.terms > FILTER_LIMITS.maxTerms) {
      this.fail(`more than ${FILTER_LIMITS.maxTerms} comparisons`, at);
      return false;
    }
    return true;
  }

  /** FILTER with `or` (lowest precedence). */
  parseOr(): Filter | undefined {
    let left = this.parseAnd();
    while (left && this.keyword("or")) {
      const right = this.parseAnd();
      left = right && { kind: "or", left, right };
    }
    return left;
  }

  private parseAnd(): Filter | undefined {
    let left = this.parseUnary();
    while (left && this.keyword("and")) {
      const right = this.parseUnary();
      left = right && { kind: "and", left, right };
    }
    return left;
  }

  /** `( FILTER )`, `not ( FILTER )`, valuePath or attrExp. */
  private parseUnary(): Filter | undefined {
    this.skipSpace();
    if (this.src[this.pos] === "(") return this.parseGroup();
    const start = this.pos;
    const token = this.readToken();
    if (token.toLowerCase() === "not") {
      const afterNot = this.pos;
      this.skipSpace();
      if (this.src[this.pos] === "(") {
        const inner = this.parseGroup();
        return inner && { kind: "not", filter: inner };
      }
      this.pos = afterNot; // an attribute that happens to be called "not"
    }
    if (token === "") {
      return this.fail(this.atEnd() ? "unexpected end of filter: expected an attribute path" : "expected an attribute path, \"(\" or \"not (\"");
    }
    const path = this.checkPath(token, start);
    if (path === undefined) return undefined;
    const afterPath = this.pos;
    this.skipSpace();
    if (this.src[this.pos] === "[") {
      const vp = this.parseValuePath(path, start);
      if (vp?.kind !== "valuePath" || this.src[this.pos] !== ".") return vp;
      return this.parseSubAttrExp(vp);
    }
    this.pos = afterPath;
    return this.parseAttrExp(path, start);
  }

  private parseGroup(): Filter | undefined {
    const open = this.pos;
    if (!this.enter()) return undefined;
    this.pos++; // "("
    const inner = this.parseOr();
    if (!inner) return undefined;
    this.skipSpace();
    if (this.src[this.pos] !== ")") return this.fail(`expected ")" to close the "(" at character ${open + 1}`);
    this.pos++;
    this.depth--;
    return inner;
  }

  /** valuePath = attrPath "[" valFilter "]"; the inner paths are relative to `path` (RFC 7644 §3.4.2.2). */
  parseValuePath(path: string, start: number): Filter | undefined {
    if (this.inBrackets) return this.fail("a valuePath cannot be nested inside another valuePath", start);
    if (path.slice(path.lastIndexOf(":") + 1).includes(".")) {
      return this.fail(`"${path}[…]": a valuePath names an attribute, not a sub-attribute`, start);
    }
    const open = this.pos;
    if (!this.enter()) return undefined;
    this.pos++; // "["
    this.inBrackets = true;
    const inner = this.parseOr();
    if (!inner) return undefined;
    this.skipSpace();
    if (this.src[this.pos] !== "]") return this.fail(`expected "]" to close the "[" at character ${open + 1}`);
    this.inBrackets = false;
    this.pos++;
    this.depth--;
    return { kind: "valuePath", path, filter: inner };
  }

  /**
   * `attr[valFilter].subAttr op value` (or `… pr`): what Entra ID sends to match on the work email. The
   * RFC 7644 §3.4.2.2 ABNF has no subAttr after a valuePath in filters, but §3.5.2 has it in PATCH paths
   * and the meaning is the same: the comparison applies to the elements the brackets select.
   */
  private parseSubAttrExp(vp: Extract<Filter, { kind: "valuePath" }>): Filter | undefined {
    this.pos++; // "."
    const subAt = this.pos;
    const sub = this.readToken();
    if (!isAttrName(sub)) return this.fail(`"${sub}" is not a valid sub-attribute name`, subAt);
    const exp = this.parseAttrExp(sub, subAt);
    if (exp === undefined) return undefined;
    return exp.kind === "compare" || exp.kind === "present" ? { ...vp, sub: exp } : this.fail("expected a comparison", subAt);
  }

  /** attrPath SP "pr" / attrPath SP compareOp SP compValue. */
  private parseAttrExp(path: string, start: number): Filter | undefined {
    if (!this.countTerm(start)) return undefined;
    this.skipSpace();
    const opAt = this.pos;
    const op = this.readToken().toLowerCase();
    if (op === "pr") return { kind: "present", path };
    if (!COMPARE_OPS.has(op)) {
      const got = op === "" ? (this.atEnd() ? "end of filter" : `"${this.src[opAt]}"`) : `"${op}"`;
      return this.fail(`expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) after "${path}", got ${got}`, opAt);
    }
    this.skipSpace();
    const value = this.parseValue();
    if (value === undefined) return undefined;
    return { kind: "compare", path, op: op as CompareOp, value: value.v };
  }

  checkPath(token: string, start: number): string | undefined {
    if (splitAttrPath(token) === undefined) return this.fail(`"${token}" is not a valid attribute path`, start);
    return token;
  }

  /** compValue = false / null / true / number / string (JSON, RFC 8259); keywords case-insensitively. */
  private parseValue(): { v: FilterValue } | undefined {
    const c = this.src[this.pos];
    if (c === '"') return this.parseString();
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) {
      NUMBER.lastIndex = this.pos;
      const m = NUMBER.exec(this.src);
      const n = m ? Number(m[0]) : NaN;
      if (!m || !Number.isFinite(n)) return this.fail("invalid number");
      this.pos += m[0].length;
      return this.expectValueEnd({ v: n });
    }
    const start = this.pos;
    const word = this.readToken().toLowerCase();
    if (word === "true" || word === "false") return this.expectValueEnd({ v: word === "true" });
    if (word === "null") return this.expectValueEnd({ v: null });
    return this.fail(
      this.atEnd() && word === ""
        ? "unexpected end of filter: expected a value"
        : "expected a value: a JSON string in double quotes, a number, true, false or null",
      start,
    );
  }

  /** A value must be followed by a space, a closing bracket or the end (so `eq 12abc` is rejected). */
  private expectValueEnd(v: { v: FilterValue }): { v: FilterValue } | undefined {
    const c = this.src[this.pos];
    if (c === undefined || isSpace(c) || c === ")" || c === "]") return v;
    return this.fail(`unexpected "${c}" after the value`);
  }

  private parseString(): { v: string } | undefined {
    const start = this.pos++;
    let out = "";
    while (this.pos < this.src.length) {
      const c = this.src[this.pos]!;
      if (c === '"') {
        this.pos++;
        return this.expectValueEnd({ v: out }) as { v: string } | undefined;
      }
      if (c === "\\") {
        const e = this.src[this.pos + 1];
        if (e === "u") {
          const hex = this.src.slice(this.pos + 2, this.pos + 6);
          if (!/^[0-9A-Fa-f]{4}$/.test(hex)) return this.fail("invalid \\u escape in string");
          out += String.fromCharCode(parseInt(hex, 16));
          this.pos += 6;
          continue;
        }
        const mapped = e === undefined ? undefined : ESCAPES[e];
        if (mapped === undefined) return this.fail(`invalid escape "\\${e ?? ""}" in string`);
        out += mapped;
        this.pos += 2;
        continue;
      }
      if (c < " ") return this.fail("unescaped control character in string");
      out += c;
      this.pos++;
    }
    return this.fail("unterminated string", start);
  }

  /** Enters valuePath mode for the PATCH path parser. */
  bracketsFilter(path: string, start: number): Filter | undefined {
    const vp = this.parseValuePath(path, start);
    return vp?.kind === "valuePath" ? vp.filter : undefined;
  }
}

function excerpt(src: string, at: number): string {
  if (at >= src.length) return "";
  const s = src.slice(at, at + 24);
  return ` near "${s}${at + 24 < src.length ? "…" : ""}"`;
}

function tooLong(input: string): boolean {
  return input.length > FILTER_LIMITS.maxLength;
}

/** Parses a SCIM filter (RFC 7644 §3.4.2.2) into a syntax tree; errors are 400 `invalidFilter` with the position. */
export function parseFilter(input: string): Result<Filter> {
  if (typeof input !== "string") return err(scimErrors.invalidFilter("Invalid filter: not a string"));
  if (tooLong(input)) return err(scimErrors.invalidFilter(`Invalid filter: longer than ${FILTER_LIMITS.maxLength} characters`));
  const p = new FilterParser(input);
  p.skipSpace();
  if (p.atEnd()) return err(scimErrors.invalidFilter("Invalid filter: empty"));
  let filter = p.parseOr();
  if (filter) {
    p.skipSpace();
    if (!p.atEnd()) filter = p.fail(`expected "and", "or" or the end of the filter`);
  }
  if (!filter || p.error) {
    const e = p.error ?? { at: p.pos, why: "syntax error" };
    return err(scimErrors.invalidFilter(`Invalid filter at character ${e.at + 1}: ${e.why}${excerpt(input, e.at)}`));
  }
  return ok(filter);
}

/** A parsed PATCH path: `path` (maybe URN-prefixed), the optional `[filter]`, the optional `.subAttr` after it. */
export interface PatchPath {
  path: string;
  filter?: Filter;
  subAttr?: string;
}

/**
 * Parses a PATCH operation path (RFC 7644 §3.5.2: PATH = attrPath / valuePath [subAttr]), e.g.
 * `emails[type eq "work"].value`, `members[value eq "id"]`, `urn:…:enterprise:2.0:User:manager.value`.
 * Errors inside the brackets are `invalidFilter`, all others `invalidPath`.
 */
export function parseValuePathExpression(input: string): Result<PatchPath> {
  if (typeof input !== "string") return err(scimErrors.invalidPath("Invalid path: not a string"));
  if (tooLong(input)) return err(scimErrors.invalidPath(`Invalid path: longer than ${FILTER_LIMITS.maxLength} characters`));
  const p = new FilterParser(input);
  const result = parsePatchPath(p);
  if (result && !p.error) return ok(result);
  const e = p.error ?? { at: p.pos, why: "syntax error", inBrackets: false };
  const detail = `at character ${e.at + 1}: ${e.why}${excerpt(input, e.at)}`;
  return err(e.inBrackets ? scimErrors.invalidFilter(`Invalid filter in path ${detail}`) : scimErrors.invalidPath(`Invalid path ${detail}`));
}

function parsePatchPath(p: FilterParser): PatchPath | undefined {
  p.skipSpace();
  const start = p.pos;
  const token = p.readToken();
  if (token === "") return p.fail(p.atEnd() ? "empty path" : "expected an attribute path");
  const path = p.checkPath(token, start);
  if (path === undefined) return undefined;
  p.skipSpace();
  if (p.src[p.pos] !== "[") return p.atEnd() ? { path } : p.fail(`unexpected "${p.src[p.pos]}" after "${path}"`);
  const filter = p.bracketsFilter(path, start);
  if (!filter) return undefined;
  let subAttr: string | undefined;
  if (p.src[p.pos] === ".") {
    p.pos++;
    const subAt = p.pos;
    const sub = p.readToken();
    if (!isAttrName(sub)) return p.fail(`"${sub}" is not a valid sub-attribute name`, subAt);
    subAttr = sub;
  }
  p.skipSpace();
  if (!p.atEnd()) return p.fail(`unexpected "${p.src[p.pos]}" after the path`);
  return { path, filter, ...(subAttr !== undefined ? { subAttr } : {}) };
}
