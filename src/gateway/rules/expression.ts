// Cloudflare Gateway rule expressions (the `traffic` and `identity` strings of a rule), parsed into
// an AST when the rule is saved. Pure: no I/O; never throws on any input.
//
// The language is the subset of Cloudflare's wirefilter syntax that this resolver can evaluate
// (developers.cloudflare.com/cloudflare-one/traffic-policies/expression-syntax/):
//
//   expr       := or
//   or         := and (("or" | "||") and)*
//   and        := unary (("and" | "&&") unary)*
//   unary      := ("not" | "!") unary | primary
//   primary    := "(" expr ")" | "any" "(" comparison ")" | comparison
//   comparison := field ("==" | "eq" | "!=" | "ne") string | field "in" "{" string+ "}"
//   field      := name | name "[*]" | "identity.groups[*]." ("name" | "id")
//
// so precedence is not > and > or. Strings are double-quoted with `\"` and `\\` escapes; set members
// are separated by spaces, as Cloudflare writes them (`{"a.com" "b.com"}`).
//
// Array fields (`dns.domains`, `http.request.domains`, `identity.groups.name`, `identity.groups.id`)
// are compared through `any(field[*] …)`: true when some element satisfies the comparison. The form
// without `any()` that Cloudflare's identity docs show (`identity.groups.id == "…"`) is accepted for
// `==` and `in` and means the same. `dns.domains` is the query name and each parent domain, so
// `any(dns.domains[*] == "example.com")` matches example.com and every subdomain.
//
// Refused, with the offending token's offset: unknown fields and functions, `matches` (a backtracking
// regular expression over attacker-chosen query names is a denial-of-service risk), ordering and
// `contains` operators, lists (`$<uuid>`), `xor`, numbers, empty sets, domains that could never
// match (empty labels, Unicode instead of the xn-- form). Input size and nesting depth are bounded.
import { domainValueProblem } from "./domain";
import { describeToken, tokenize, type Token } from "./lexer";

/** How a field's values compare. */
type ValueKind = "domain" | "email" | "group_name" | "group_id" | "rtype" | "path";

/** The fields this resolver understands, with the filter whose traffic carries them. */
export const FIELDS = {
  "dns.fqdn": { kind: "domain", array: false, filter: "dns" },
  "dns.domains": { kind: "domain", array: true, filter: "dns" },
  "dns.query_rtype": { kind: "rtype", array: false, filter: "dns" },
  "http.request.host": { kind: "domain", array: false, filter: "http" },
  "http.request.domains": { kind: "domain", array: true, filter: "http" },
  "http.request.uri.path": { kind: "path", array: false, filter: "http" },
  "identity.email": { kind: "email", array: false, filter: "identity" },
  "identity.groups.name": { kind: "group_name", array: true, filter: "identity" },
  "identity.groups.id": { kind: "group_id", array: true, filter: "identity" },
} as const satisfies Record<string, { kind: ValueKind; array: boolean; filter: "dns" | "http" | "identity" }>;

export type Field = keyof typeof FIELDS;
export type CompareOp = "==" | "!=" | "in";

/**
 * The AST. `and`/`or` are n-ary (chains are flattened). A `compare` on an array field means "some
 * element satisfies it". `values` are as written (unescaped, not normalised); `positions` are their
 * offsets in the source, for error messages that point at one value (an unknown group, say).
 */
export type Expr =
  | { type: "and"; operands: Expr[] }
  | { type: "or"; operands: Expr[] }
  | { type: "not"; operand: Expr }
  | { type: "compare"; field: Field; op: CompareOp; values: string[]; positions: number[] };

export type ParseResult = { ok: true; expr: Expr } | { ok: false; error: string; position: number };

/** Longest accepted expression, in UTF-16 code units. */
export const MAX_EXPRESSION_LENGTH = 16 * 1024;
/** Deepest accepted nesting of parentheses, `not` and `any()`. */
export const MAX_DEPTH = 64;

const FIELD_NAMES = Object.keys(FIELDS) as Field[];
const isField = (name: string): name is Field => Object.hasOwn(FIELDS, name);

class ParseError {
  constructor(
    readonly message: string,
    readonly position: number,
  ) {}
}

const KEYWORD_OPS: Record<string, CompareOp> = { eq: "==", ne: "!=", in: "in" };
const UNSUPPORTED_OPS = new Set(["matches", "~", "contains", "lt", "le", "gt", "ge", "<", "<=", ">", ">=", "wildcard", "strict"]);

/** Checks one literal against its field, at save time, so a rule that can never match is refused. */
function valueProblem(field: Field, value: string): string | null {
  switch (FIELDS[field].kind) {
    case "domain":
      return domainValueProblem(value);
    case "path":
      return value.startsWith("/") ? null : 'a path starts with "/"';
    case "rtype":
      return /^[A-Za-z0-9]{1,16}$/.test(value) ? null : 'a record type is a name such as "A", "AAAA" or "TXT"';
    default:
      return value.trim() === "" ? `a value of ${field} must not be empty` : null;
  }
}

class Parser {
  private i = 0;
  private depth = 0;

  constructor(private readonly tokens: Token[]) {}

  /** The current token; a lexer error is reported as soon as the parser reaches it. */
  private peek(): Token {
    const token = this.tokens[this.i] as Token;
    if (token.t === "error") throw new ParseError(token.v, token.pos);
    return token;
  }

  private take(): Token {
    const token = this.peek();
    if (token.t !== "eof") this.i += 1;
    return token;
  }

  private isWord(token: Token, ...words: string[]): boolean {
    return token.t === "ident" && words.includes(token.v);
  }

  private isPunct(token: Token, ...puncts: string[]): boolean {
    return token.t === "punct" && puncts.includes(token.v);
  }

  private enter(token: Token): void {
    this.depth += 1;
    if (this.depth > MAX_DEPTH) throw new ParseError(`nesting is deeper than ${MAX_DEPTH} levels`, token.pos);
  }

  parse(): Expr {
    const first = this.peek();
    if (first.t === "eof") throw new ParseError("empty expression", first.pos);
    const expr = this.or();
    const rest = this.peek();
    if (rest.t !== "eof") {
      if (this.isPunct(rest, ")")) throw new ParseError("unbalanced parentheses: ) without a matching (", rest.pos);
      throw new ParseError(`unexpected ${describeToken(rest)} after a complete condition (expected and, or, or the end)`, rest.pos);
    }
    return expr;
  }

  private or(): Expr {
    const operands = [this.and()];
    while (this.isWord(this.peek(), "or") || this.isPunct(this.peek(), "||")) {
      this.take();
      operands.push(this.and());
    }
    return operands.length === 1 ? (operands[0] as Expr) : { type: "or", operands: flatten("or", operands) };
  }

  private and(): Expr {
    const operands = [this.unary()];
    for (;;) {
      const token = this.peek();
      if (this.isWord(token, "xor") || this.isPunct(token, "^^")) throw new ParseError("xor is not supported; use and, or, not", token.pos);
      if (!this.isWord(token, "and") && !this.isPunct(token, "&&")) break;
      this.take();
      operands.push(this.unary());
    }
    return operands.length === 1 ? (operands[0] as Expr) : { type: "and", operands: flatten("and", operands) };
  }

  private unary(): Expr {
    const token = this.peek();
    if (this.isWord(token, "not") || this.isPunct(token, "!")) {
      this.take();
      this.enter(token);
      const operand = this.unary();
      this.depth -= 1;
      return { type: "not", operand };
    }
    return this.primary();
  }

  private primary(): Expr {
    const token = this.peek();
    if (this.isPunct(token, "(")) {
      this.take();
      this.enter(token);
      const expr = this.or();
      this.closeParen(token);
      this.depth -= 1;
      return expr;
    }
    if (token.t === "ident" && this.isPunct(this.tokens[this.i + 1] as Token, "(")) {
      if (token.v !== "any") {
        throw new ParseError(`unknown function ${token.v}(); only any(…) is supported`, token.pos);
      }
      this.take();
      const open = this.take();
      this.enter(token);
      const expr = this.comparison(true);
      this.closeParen(open);
      this.depth -= 1;
      return expr;
    }
    return this.comparison(false);
  }

  private closeParen(open: Token): void {
    const close = this.peek();
    if (this.isPunct(close, ")")) {
      this.take();
      return;
    }
    if (close.t === "eof") throw new ParseError("unbalanced parentheses: this ( is never closed", open.pos);
    throw new ParseError(`expected ) but found ${describeToken(close)}`, close.pos);
  }

  /** `field op value`; `inAny` when inside `any(…)`, where the field must be an array with `[*]`. */
  private comparison(inAny: boolean): Expr {
    const start = this.peek();
    if (start.t !== "ident" || ["and", "or", "not", "xor", "in", "eq", "ne"].includes(start.v)) {
      throw new ParseError(`expected a condition such as dns.fqdn == "example.com", found ${describeToken(start)}`, start.pos);
    }
    this.take();
    let name = start.v;
    let splat = false;
    if (this.isPunct(this.peek(), "[")) {
      const open = this.take();
      const star = this.take();
      if (!this.isPunct(star, "*")) throw new ParseError(`only [*] is supported after a field, found ${describeToken(star)}`, star.pos);
      const close = this.take();
      if (!this.isPunct(close, "]")) throw new ParseError(`expected ] to close [*], found ${describeToken(close)}`, close.pos);
      splat = true;
      // Cloudflare's docs also write `identity.groups[*].name`.
      if (this.isPunct(this.peek(), ".")) {
        this.take();
        const tail = this.take();
        if (tail.t !== "ident") throw new ParseError(`expected a field name after ".", found ${describeToken(tail)}`, tail.pos);
        name = `${name}.${tail.v}`;
      }
      void open;
    }
    if (!isField(name)) {
      throw new ParseError(`unknown field ${name}; expected one of ${FIELD_NAMES.join(", ")}`, start.pos);
    }
    const field: Field = name;
    const array = FIELDS[field].array;
    if (!array && (splat || inAny)) {
      throw new ParseError(`${field} is a single value, not an array: compare it without any() and [*]`, start.pos);
    }
    if (array && inAny && !splat) throw new ParseError(`inside any(), write ${field}[*]`, start.pos);
    if (array && !inAny && splat) throw new ParseError(`${field}[*] must be inside any(…)`, start.pos);

    const opToken = this.take();
    const op = this.operator(opToken, field);
    if (array && !inAny && op === "!=") {
      throw new ParseError(`!= on the array ${field} is ambiguous; write not(any(${field}[*] == "…"))`, opToken.pos);
    }
    const { values, positions } = op === "in" ? this.set() : this.single(op);
    values.forEach((value, k) => {
      const problem = valueProblem(field, value);
      if (problem) throw new ParseError(problem, positions[k] as number);
    });
    return { type: "compare", field, op, values, positions };
  }

  private operator(token: Token, field: Field): CompareOp {
    if (this.isPunct(token, "==", "!=")) return token.v as CompareOp;
    if (token.t === "ident" && Object.hasOwn(KEYWORD_OPS, token.v)) return KEYWORD_OPS[token.v] as CompareOp;
    if (this.isPunct(token, "matches", "~") || this.isWord(token, "matches")) {
      throw new ParseError("matches (regular expressions) is not supported; use ==, != or in (dns.domains covers subdomains)", token.pos);
    }
    if ((token.t === "ident" || token.t === "punct") && UNSUPPORTED_OPS.has(token.v)) {
      throw new ParseError(`operator ${token.v} is not supported for ${field}; use ==, != or in`, token.pos);
    }
    throw new ParseError(`expected an operator (==, != or in) after ${field}, found ${describeToken(token)}`, token.pos);
  }

  private single(op: CompareOp): { values: string[]; positions: number[] } {
    const token = this.take();
    if (token.t === "string") return { values: [token.v], positions: [token.pos] };
    if (this.isPunct(token, "{")) throw new ParseError(`a set needs in, not ${op}: write in {…}`, token.pos);
    throw new ParseError(this.valueMessage(token), token.pos);
  }

  private set(): { values: string[]; positions: number[] } {
    const open = this.take();
    if (open.t === "list") throw new ParseError(this.valueMessage(open), open.pos);
    if (!this.isPunct(open, "{")) {
      throw new ParseError(`expected a set such as {"a.com" "b.com"} after in, found ${describeToken(open)}`, open.pos);
    }
    const values: string[] = [];
    const positions: number[] = [];
    for (;;) {
      const token = this.peek();
      if (this.isPunct(token, "}")) {
        if (values.length === 0) throw new ParseError("empty set: list at least one value", open.pos);
        this.take();
        return { values, positions };
      }
      if (token.t === "eof") throw new ParseError("unterminated set: this { is never closed", open.pos);
      if (this.isPunct(token, ",")) throw new ParseError("set members are separated by spaces, not commas", token.pos);
      if (token.t !== "string") throw new ParseError(this.valueMessage(token), token.pos);
      this.take();
      values.push(token.v);
      positions.push(token.pos);
    }
  }

  private valueMessage(token: Token): string {
    if (token.t === "list") return "lists ($…) are not supported; write the values in a set";
    return `expected a double-quoted string, found ${describeToken(token)}`;
  }
}

function flatten(type: "and" | "or", operands: Expr[]): Expr[] {
  return operands.flatMap((e) => (e.type === type ? e.operands : [e]));
}

/** Parses one expression; never throws. Errors carry the 0-based offset of the offending token. */
export function parseExpression(source: string): ParseResult {
  if (typeof source !== "string") return { ok: false, error: "an expression must be a string", position: 0 };
  if (source.length > MAX_EXPRESSION_LENGTH) {
    return { ok: false, error: `expression too long (at most ${MAX_EXPRESSION_LENGTH} characters)`, position: MAX_EXPRESSION_LENGTH };
  }
  try {
    return { ok: true, expr: new Parser(tokenize(source)).parse() };
  } catch (e) {
    if (e instanceof ParseError) return { ok: false, error: e.message, position: e.position };
    throw e;
  }
}

/** Every comparison of the expression, left to right. */
export function comparisons(expr: Expr): Extract<Expr, { type: "compare" }>[] {
  switch (expr.type) {
    case "compare":
      return [expr];
    case "not":
      return comparisons(expr.operand);
    default:
      return expr.operands.flatMap(comparisons);
  }
}

/** The distinct fields the expression reads (the API refuses `http.*` in a DNS rule). */
export function fieldsUsed(expr: Expr): Field[] {
  return [...new Set(comparisons(expr).map((c) => c.field))];
}

/** Each group named in identity.groups comparisons, with the offset of its value in the source. */
export function groupReferences(expr: Expr): { kind: "name" | "id"; value: string; position: number }[] {
  return comparisons(expr).flatMap((c) =>
    c.field === "identity.groups.name" || c.field === "identity.groups.id"
      ? c.values.map((value, k) => ({ kind: c.field === "identity.groups.name" ? ("name" as const) : ("id" as const), value, position: c.positions[k] as number }))
      : [],
  );
}

/** The distinct group names and ids the expression names, as written (the API checks they exist). */
export function referencedGroups(expr: Expr): { names: string[]; ids: string[] } {
  const refs = groupReferences(expr);
  return {
    names: [...new Set(refs.filter((r) => r.kind === "name").map((r) => r.value))],
    ids: [...new Set(refs.filter((r) => r.kind === "id").map((r) => r.value))],
  };
}
