// Property tests of the Gateway rules core (fast-check):
// - the suffix index never changes a decision: matchRule equals a naive linear evaluation, written
//   here independently over the AST, for random rule sets, identities and names;
// - printing any AST and parsing it back gives the same AST;
// - the parser never throws, on arbitrary strings and on valid expressions mangled at random, and
//   every error's position lies within the input.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { buildRuleSet, type GatewayRule, type MatchContext, matchRule } from "../../src/gateway/rules/engine";
import { type CompareOp, type Expr, FIELDS, type Field, MAX_EXPRESSION_LENGTH, parseExpression } from "../../src/gateway/rules/expression";

type Compare = Extract<Expr, { type: "compare" }>;

// A small universe, so that rules and queries collide often.
const DOMAINS = ["example.com", "a.example.com", "b.a.example.com", "notexample.com", "com", "other.org", "x.other.org", "Example.COM.", "ok.example.com"];
const LABELS = ["a", "b", "x", "ok", "www", "WWW"];
const EMAILS = ["alice@example.org", "ALICE@example.org", "bob@example.org"];
const GROUP_NAMES = ["risky", "Risky", "eng"];
const GROUP_IDS = ["g1", "G1", "g2"];
const PATHS = ["/", "/admin", "/Admin"];
const RTYPES = ["A", "aaaa", "TXT"];

const VALUES: Record<Field, string[]> = {
  "dns.fqdn": DOMAINS,
  "dns.domains": DOMAINS,
  "dns.query_rtype": RTYPES,
  "http.request.host": DOMAINS,
  "http.request.domains": DOMAINS,
  "http.request.uri.path": PATHS,
  "identity.email": EMAILS,
  "identity.groups.name": GROUP_NAMES,
  "identity.groups.id": GROUP_IDS,
};
const FIELD_LIST = Object.keys(FIELDS) as Field[];
// Domain fields weigh more: they are what the index is about.
const fieldArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom<Field>("dns.fqdn", "dns.domains", "http.request.host", "http.request.domains") },
  { weight: 2, arbitrary: fc.constantFrom(...FIELD_LIST) },
);

const compareArb: fc.Arbitrary<Compare> = fieldArb.chain((field) =>
  fc.record({
    type: fc.constant("compare" as const),
    field: fc.constant(field),
    op: fc.constantFrom<CompareOp>("==", "!=", "in", "in"),
    values: fc.uniqueArray(fc.constantFrom(...VALUES[field]), { minLength: 1, maxLength: 3 }),
  }).map((c) => {
    const values = c.op === "in" ? c.values : c.values.slice(0, 1);
    return { ...c, values, positions: values.map(() => 0) };
  }),
);

const exprArb: fc.Arbitrary<Expr> = fc.letrec<{ expr: Expr }>((tie) => ({
  expr: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    { weight: 4, arbitrary: compareArb },
    { weight: 1, arbitrary: fc.record({ type: fc.constant("not" as const), operand: tie("expr") }) },
    { weight: 2, arbitrary: fc.record({ type: fc.constantFrom("and" as const, "or" as const), operands: fc.array(tie("expr"), { minLength: 2, maxLength: 3 }) }) },
  ),
})).expr;

const ruleArb = (k: number): fc.Arbitrary<GatewayRule> =>
  fc.record({
    id: fc.constant(`r${k}`),
    name: fc.constant(`rule ${k}`),
    action: fc.constantFrom("allow" as const, "block" as const, "override" as const),
    precedence: fc.integer({ min: 0, max: 5 }),
    enabled: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    filters: fc.constantFrom<("dns" | "http")[]>(["dns"], ["http"], ["dns", "http"]),
    traffic: fc.option(exprArb, { freq: 6 }),
    identity: fc.option(exprArb, { freq: 2 }),
    settings: fc.constant({}),
  });
const rulesArb = fc.integer({ min: 0, max: 12 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, k) => ruleArb(k))));

const nameArb = fc
  .tuple(fc.array(fc.constantFrom(...LABELS), { maxLength: 2 }), fc.constantFrom(...DOMAINS, "", "."), fc.boolean())
  .map(([labels, base, dot]) => {
    const name = [...labels, base.replace(/\.$/, "")].filter((l) => l !== "").join(".");
    return dot && name !== "" ? `${name}.` : name;
  });
const identityArb: fc.Arbitrary<MatchContext["identity"]> = fc.option(
  fc.record({
    email: fc.option(fc.constantFrom(...EMAILS)),
    groups: fc.uniqueArray(fc.constantFrom({ id: "g1", name: "risky" }, { id: "g2", name: "Eng" }, { id: "G1", name: "other" }), { maxLength: 3 }),
  }),
);
const ctxArb: fc.Arbitrary<{ filter: "dns" | "http"; ctx: MatchContext }> = fc
  .tuple(fc.constantFrom("dns" as const, "http" as const), nameArb, fc.constantFrom(...RTYPES, "AAAA"), fc.constantFrom(...PATHS), identityArb)
  .map(([filter, name, type, path, identity]) => ({
    filter,
    ctx: filter === "dns" ? { dns: { fqdn: name, type }, identity } : { http: { host: name, path }, identity },
  }));

// ---- The naive reference: a linear scan with its own, deliberately simple, semantics. ----
const dnsName = (s: string) => s.toLowerCase().replace(/\.$/, ""); // the universe is ASCII
const parents = (n: string) => (n === "" ? [] : n.split(".").map((_, i, labels) => labels.slice(i).join(".")));

function naiveValues(field: Field, ctx: MatchContext): string[] | null {
  const id = ctx.identity;
  switch (field) {
    case "dns.fqdn":
      return ctx.dns ? [dnsName(ctx.dns.fqdn)] : null;
    case "dns.domains":
      return ctx.dns ? parents(dnsName(ctx.dns.fqdn)) : null;
    case "dns.query_rtype":
      return ctx.dns ? [ctx.dns.type.toLowerCase()] : null;
    case "http.request.host":
      return ctx.http ? [dnsName(ctx.http.host)] : null;
    case "http.request.domains":
      return ctx.http ? parents(dnsName(ctx.http.host)) : null;
    case "http.request.uri.path":
      return ctx.http ? [ctx.http.path] : null;
    case "identity.email":
      return id?.email ? [id.email.toLowerCase()] : null;
    case "identity.groups.name":
      return id ? id.groups.map((g) => g.name.toLowerCase()) : null;
    case "identity.groups.id":
      return id ? id.groups.map((g) => g.id) : null;
  }
}

function naiveNormalize(field: Field, v: string): string {
  const kind = FIELDS[field].kind;
  if (kind === "domain") return dnsName(v);
  if (kind === "path" || kind === "group_id") return v;
  return v.toLowerCase();
}

function naiveEval(e: Expr, ctx: MatchContext): boolean {
  switch (e.type) {
    case "and":
      return e.operands.every((o) => naiveEval(o, ctx));
    case "or":
      return e.operands.some((o) => naiveEval(o, ctx));
    case "not":
      return !naiveEval(e.operand, ctx);
    case "compare": {
      const actual = naiveValues(e.field, ctx);
      if (actual === null) return false;
      const wanted = e.values.map((v) => naiveNormalize(e.field, v));
      return actual.some((a) => (e.op === "!=" ? !wanted.includes(a) : wanted.includes(a)));
    }
  }
}

function naiveMatch(rules: GatewayRule[], filter: "dns" | "http", ctx: MatchContext): GatewayRule | null {
  const ordered = rules.map((r, k) => ({ r, k })).sort((a, b) => a.r.precedence - b.r.precedence || a.k - b.k);
  for (const { r } of ordered) {
    if (!r.enabled || !r.filters.includes(filter)) continue;
    if ((r.traffic === null || naiveEval(r.traffic, ctx)) && (r.identity === null || naiveEval(r.identity, ctx))) return r;
  }
  return null;
}

// ---- A printer, for round trips and for mangling valid expressions. ----
const quote = (s: string) => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
function print(e: Expr): string {
  switch (e.type) {
    case "and":
    case "or":
      return e.operands.map((o) => `(${print(o)})`).join(` ${e.type} `);
    case "not":
      return `not (${print(e.operand)})`;
    case "compare": {
      const value = e.op === "in" ? `{${e.values.map(quote).join(" ")}}` : quote(e.values[0] as string);
      const field = FIELDS[e.field].array ? `${e.field}[*]` : e.field;
      const cmp = `${field} ${e.op} ${value}`;
      return FIELDS[e.field].array ? `any(${cmp})` : cmp;
    }
  }
}
/** The AST without offsets; parentheses around chains keep nested and/or, which flatten on parse. */
function shape(e: Expr): unknown {
  switch (e.type) {
    case "compare":
      return { field: e.field, op: e.op, values: e.values };
    case "not":
      return { not: shape(e.operand) };
    default:
      return { [e.type]: e.operands.flatMap((o) => (o.type === e.type ? (shape(o) as Record<string, unknown[]>)[e.type] : [shape(o)])) };
  }
}

describe("the suffix index never changes a decision", () => {
  it("matchRule equals a naive linear evaluation", () => {
    fc.assert(
      fc.property(rulesArb, fc.array(ctxArb, { minLength: 1, maxLength: 8 }), (rules, queries) => {
        const set = buildRuleSet(rules);
        for (const { filter, ctx } of queries) {
          expect(matchRule(set, filter, ctx)?.id ?? null).toBe(naiveMatch(rules, filter, ctx)?.id ?? null);
        }
      }),
      { numRuns: 1500 },
    );
  });
});

describe("the expression parser", () => {
  it("parses the printed form of any AST back to the same AST", () => {
    fc.assert(
      fc.property(exprArb, (e) => {
        const parsed = parseExpression(print(e));
        expect(parsed.ok).toBe(true);
        if (parsed.ok) expect(shape(parsed.expr)).toEqual(shape(e));
      }),
      { numRuns: 1000 },
    );
  });

  const checkNeverThrows = (source: string) => {
    const result = parseExpression(source);
    if (!result.ok) {
      expect(typeof result.error).toBe("string");
      expect(result.error.length).toBeGreaterThan(0);
      expect(Number.isInteger(result.position)).toBe(true);
      expect(result.position).toBeGreaterThanOrEqual(0);
      expect(result.position).toBeLessThanOrEqual(Math.min(source.length, MAX_EXPRESSION_LENGTH));
    }
  };

  it("never throws on arbitrary strings, and errors point within the input", () => {
    fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 200 }), checkNeverThrows), { numRuns: 2000 });
    const alphabet = fc.constantFrom(..."()[]{}*.,!&|^=<>~$\"\\ \tanyotrdisfqhexmplc01".split(""), "and", "or", "not", "any(", "dns.domains", "dns.fqdn", "identity.groups", "in", "==", "!=");
    fc.assert(fc.property(fc.array(alphabet, { maxLength: 60 }).map((parts) => parts.join("")), checkNeverThrows), { numRuns: 3000 });
  });

  it("never throws on valid expressions mangled at random", () => {
    const mangled = fc
      .tuple(exprArb, fc.array(fc.tuple(fc.nat(), fc.nat({ max: 6 }), fc.constantFrom("", "(", ")", '"', "\\", "{", "}", "[*]", " and ", " not ", "==", "any(", "x", ",")), { minLength: 1, maxLength: 4 }))
      .map(([e, edits]) => {
        let s = print(e);
        for (const [at, remove, insert] of edits) {
          const i = at % (s.length + 1);
          s = s.slice(0, i) + insert + s.slice(i + remove);
        }
        return s;
      });
    fc.assert(fc.property(mangled, checkNeverThrows), { numRuns: 3000 });
  });

  it("never throws on deep or long hostile input", () => {
    const hostile = fc.tuple(fc.constantFrom("(", "not ", "!", "any(", "{", '"'), fc.integer({ min: 1, max: 6000 }), fc.constantFrom("", 'dns.fqdn == "a.com"', ")")).map(([unit, n, tail]) => unit.repeat(n) + tail);
    fc.assert(fc.property(hostile, checkNeverThrows), { numRuns: 200 });
  });
});
