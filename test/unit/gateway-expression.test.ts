import { describe, expect, it } from "vitest";
import { domainsOf, domainValueProblem, normalizeName } from "../../src/gateway/rules/domain";
import {
  type Expr,
  fieldsUsed,
  groupReferences,
  MAX_DEPTH,
  MAX_EXPRESSION_LENGTH,
  parseExpression,
  referencedGroups,
} from "../../src/gateway/rules/expression";

/** The AST of a valid expression (fails the test with the parser's message otherwise). */
function ast(source: string): Expr {
  const result = parseExpression(source);
  if (!result.ok) throw new Error(`${source}: ${result.error} at ${result.position}`);
  return result.expr;
}

/** A comparison without its offsets, for compact expectations. */
const cmp = (field: string, op: string, ...values: string[]) => ({ type: "compare", field, op, values });

describe("parseExpression: valid expressions and their AST", () => {
  it.each<[string, string, unknown]>([
    ["the seed's domain rule", 'any(dns.domains[*] == "example.com")', cmp("dns.domains", "==", "example.com")],
    ["exact fqdn", 'dns.fqdn == "example.com"', cmp("dns.fqdn", "==", "example.com")],
    ["fqdn with eq", 'dns.fqdn eq "example.com"', cmp("dns.fqdn", "==", "example.com")],
    ["fqdn !=", 'dns.fqdn != "example.com"', cmp("dns.fqdn", "!=", "example.com")],
    ["fqdn ne", 'dns.fqdn ne "example.com"', cmp("dns.fqdn", "!=", "example.com")],
    ["fqdn in a set", 'dns.fqdn in {"a.com" "b.com"}', cmp("dns.fqdn", "in", "a.com", "b.com")],
    ["domains in a space-separated set", 'any(dns.domains[*] in {"a.com" "b.com"})', cmp("dns.domains", "in", "a.com", "b.com")],
    ["set with newlines and tabs", 'any(dns.domains[*] in {\n\t"a.com"\n\t"b.com"\n})', cmp("dns.domains", "in", "a.com", "b.com")],
    ["set without spaces between strings", 'dns.fqdn in {"a.com""b.com"}', cmp("dns.fqdn", "in", "a.com", "b.com")],
    ["domain with a trailing dot", 'dns.fqdn == "example.com."', cmp("dns.fqdn", "==", "example.com.")],
    ["record type", 'dns.query_rtype == "AAAA"', cmp("dns.query_rtype", "==", "AAAA")],
    ["email", 'identity.email == "Alice@Example.com"', cmp("identity.email", "==", "Alice@Example.com")],
    ["email in a set", 'identity.email in {"a@x.com" "b@x.com"}', cmp("identity.email", "in", "a@x.com", "b@x.com")],
    ["group names, the issue's form", 'any(identity.groups.name[*] in {"risky"})', cmp("identity.groups.name", "in", "risky")],
    ["group names, Cloudflare docs' form", 'any(identity.groups[*].name in {"Engineering" "Security"})', cmp("identity.groups.name", "in", "Engineering", "Security")],
    ["group ids", 'any(identity.groups.id[*] in {"g1" "g2"})', cmp("identity.groups.id", "in", "g1", "g2")],
    ["group name ==", 'any(identity.groups.name[*] == "risky")', cmp("identity.groups.name", "==", "risky")],
    ["group id without any(), as Cloudflare's identity docs write it", 'identity.groups.id == "12jf495bhjd7893ml09o"', cmp("identity.groups.id", "==", "12jf495bhjd7893ml09o")],
    ["group name in, without any()", 'identity.groups.name in {"risky"}', cmp("identity.groups.name", "in", "risky")],
    ["any with != (some element differs)", 'any(dns.domains[*] != "com")', cmp("dns.domains", "!=", "com")],
    ["http host", 'http.request.host == "app.example.com"', cmp("http.request.host", "==", "app.example.com")],
    ["http host in", 'http.request.host in {"a.example.com" "b.example.com"}', cmp("http.request.host", "in", "a.example.com", "b.example.com")],
    ["http domains", 'any(http.request.domains[*] == "example.com")', cmp("http.request.domains", "==", "example.com")],
    ["http path", 'http.request.uri.path == "/admin"', cmp("http.request.uri.path", "==", "/admin")],
    ["escaped quote and backslash", 'identity.email == "a\\"b\\\\c@x.com"', cmp("identity.email", "==", 'a"b\\c@x.com')],
    ["spaces inside any() and [*]", 'any ( dns.domains [ * ] == "a.com" )', cmp("dns.domains", "==", "a.com")],
    ["redundant parentheses", '((dns.fqdn == "a.com"))', cmp("dns.fqdn", "==", "a.com")],
    ["not", 'not(identity.email == "guest@x.com")', { type: "not", operand: cmp("identity.email", "==", "guest@x.com") }],
    ["!", '!identity.email == "guest@x.com"', { type: "not", operand: cmp("identity.email", "==", "guest@x.com") }],
    ["not not", 'not not dns.fqdn == "a.com"', { type: "not", operand: { type: "not", operand: cmp("dns.fqdn", "==", "a.com") } }],
    [
      "and",
      'any(dns.domains[*] == "example.com") and any(identity.groups.name[*] in {"risky"})',
      { type: "and", operands: [cmp("dns.domains", "==", "example.com"), cmp("identity.groups.name", "in", "risky")] },
    ],
    ["&&", 'dns.fqdn == "a.com" && identity.email == "a@x.com"', { type: "and", operands: [cmp("dns.fqdn", "==", "a.com"), cmp("identity.email", "==", "a@x.com")] }],
    ["||", 'dns.fqdn == "a.com" || dns.fqdn == "b.com"', { type: "or", operands: [cmp("dns.fqdn", "==", "a.com"), cmp("dns.fqdn", "==", "b.com")] }],
    [
      "and binds tighter than or",
      'dns.fqdn == "a.com" or dns.fqdn == "b.com" and identity.email == "x@y.z"',
      { type: "or", operands: [cmp("dns.fqdn", "==", "a.com"), { type: "and", operands: [cmp("dns.fqdn", "==", "b.com"), cmp("identity.email", "==", "x@y.z")] }] },
    ],
    [
      "not binds tighter than and",
      'not dns.fqdn == "a.com" and dns.fqdn == "b.com"',
      { type: "and", operands: [{ type: "not", operand: cmp("dns.fqdn", "==", "a.com") }, cmp("dns.fqdn", "==", "b.com")] },
    ],
    [
      "parentheses override precedence",
      '(dns.fqdn == "a.com" or dns.fqdn == "b.com") and identity.email == "x@y.z"',
      { type: "and", operands: [{ type: "or", operands: [cmp("dns.fqdn", "==", "a.com"), cmp("dns.fqdn", "==", "b.com")] }, cmp("identity.email", "==", "x@y.z")] },
    ],
    [
      "chains flatten",
      'dns.fqdn == "a.com" and (dns.fqdn == "b.com" and dns.fqdn == "c.com")',
      { type: "and", operands: [cmp("dns.fqdn", "==", "a.com"), cmp("dns.fqdn", "==", "b.com"), cmp("dns.fqdn", "==", "c.com")] },
    ],
    [
      "Cloudflare's not(any(…)) exclusion",
      'any(dns.domains[*] == "example.com") and not(any(dns.domains[*] in {"ok.example.com"}))',
      { type: "and", operands: [cmp("dns.domains", "==", "example.com"), { type: "not", operand: cmp("dns.domains", "in", "ok.example.com") }] },
    ],
  ])("%s", (_label, source, expected) => {
    expect(ast(source)).toMatchObject(expected as object);
  });

  it("records each value's offset in the source", () => {
    const source = 'any(identity.groups.name[*] in {"risky" "eng"})';
    expect(ast(source)).toEqual({
      type: "compare",
      field: "identity.groups.name",
      op: "in",
      values: ["risky", "eng"],
      positions: [source.indexOf('"risky"'), source.indexOf('"eng"')],
    });
  });
});

describe("parseExpression: errors point at the offending token", () => {
  it.each<[string, string, string, number]>([
    ["empty", "", "empty expression", 0],
    ["only spaces", "   ", "empty expression", 3],
    ["unknown field", 'dns.fqnd == "a.com"', "unknown field dns.fqnd; expected one of", 0],
    ["unknown field after and", 'dns.fqdn == "a.com" and ip.src == "1"', "unknown field ip.src", 24],
    ["unknown group member field", 'any(identity.groups[*].email == "x@y.z")', "unknown field identity.groups.email", 4],
    ["unknown function", 'lower(dns.fqdn) == "a.com"', "unknown function lower(); only any(…) is supported", 0],
    ["all() is not supported", 'all(dns.domains[*] != "a.com")', "unknown function all()", 0],
    ["a single value inside any()", 'any(dns.fqdn == "a.com")', "dns.fqdn is a single value, not an array", 4],
    ["a single value with [*]", 'dns.fqdn[*] == "a.com"', "dns.fqdn is a single value, not an array", 0],
    ["an array without [*] inside any()", 'any(dns.domains == "a.com")', "inside any(), write dns.domains[*]", 4],
    ["an array with [*] outside any()", 'dns.domains[*] == "a.com"', "dns.domains[*] must be inside any(…)", 0],
    ["!= on an array outside any()", 'identity.groups.name != "risky"', "!= on the array identity.groups.name is ambiguous", 21],
    ["[ without *", 'any(dns.domains[0] == "a.com")', "only [*] is supported after a field", 16],
    ["[* without ]", 'any(dns.domains[* == "a.com")', "expected ] to close [*]", 18],
    ["missing operator", 'dns.fqdn "a.com"', "expected an operator (==, != or in) after dns.fqdn", 9],
    ["single =", 'dns.fqdn = "a.com"', 'unexpected character "=" (use == to compare)', 9],
    ["matches", 'dns.fqdn matches ".*"', "matches (regular expressions) is not supported", 9],
    ["~", 'dns.fqdn ~ ".*"', "matches (regular expressions) is not supported", 9],
    ["contains", 'dns.fqdn contains "x"', "operator contains is not supported for dns.fqdn", 9],
    ["ordering", 'dns.fqdn > "x"', "operator > is not supported for dns.fqdn", 9],
    ["xor", 'dns.fqdn == "a.com" xor dns.fqdn == "b.com"', "xor is not supported", 20],
    ["unterminated string", 'dns.fqdn == "a.com', "unterminated string", 12],
    ["string ends in a backslash", 'dns.fqdn == "a.com\\', "unterminated string", 12],
    ["unsupported escape", 'dns.fqdn == "a\\n.com"', "unsupported escape \\n", 14],
    ["unclosed (", '(dns.fqdn == "a.com"', "unbalanced parentheses: this ( is never closed", 0],
    ["unclosed inner (", 'dns.fqdn == "a.com" and (dns.fqdn == "b.com"', "this ( is never closed", 24],
    ["unclosed any(", 'any(dns.domains[*] == "a.com"', "this ( is never closed", 3],
    ["stray )", 'dns.fqdn == "a.com")', "unbalanced parentheses: ) without a matching (", 19],
    ["empty parentheses", "()", "expected a condition", 1],
    ["trailing garbage", 'dns.fqdn == "a.com" dns.fqdn == "b.com"', 'unexpected "dns.fqdn" after a complete condition', 20],
    ["trailing string", 'dns.fqdn == "a.com" "b.com"', "unexpected the string", 20],
    ["dangling and", 'dns.fqdn == "a.com" and', "expected a condition", 23],
    ["leading or", 'or dns.fqdn == "a.com"', "expected a condition", 0],
    ["missing value", "dns.fqdn ==", "expected a double-quoted string, found the end of the expression", 11],
    ["unquoted value", "dns.fqdn == example.com", 'expected a double-quoted string, found "example.com"', 12],
    ["number", "dns.fqdn == 443", 'expected a double-quoted string, found "443"', 12],
    ["set after ==", 'dns.fqdn == {"a.com"}', "a set needs in, not ==", 12],
    ["string after in", 'dns.fqdn in "a.com"', "expected a set such as", 12],
    ["empty set", "dns.fqdn in {}", "empty set", 12],
    ["empty set with spaces", "any(dns.domains[*] in {  })", "empty set", 22],
    ["unterminated set", 'dns.fqdn in {"a.com"', "unterminated set: this { is never closed", 12],
    ["comma in a set", 'dns.fqdn in {"a.com", "b.com"}', "separated by spaces, not commas", 20],
    ["number in a set", 'dns.fqdn in {"a.com" 443}', 'expected a double-quoted string, found "443"', 21],
    ["list reference", "any(dns.domains[*] in $8a2b3c4d-0000)", "lists ($…) are not supported", 22],
    ["unexpected character", 'dns.fqdn == "a.com" @', 'unexpected character "@"', 20],
    ["empty domain", 'dns.fqdn == ""', "a domain must not be empty", 12],
    ["only the root dot", 'dns.fqdn == "."', "a domain must not be empty", 12],
    ["domain with an empty label", 'any(dns.domains[*] in {"a.com" "a..com"})', "a domain must not contain an empty label", 31],
    ["domain with a space", 'dns.fqdn == "a com"', "must not contain spaces", 12],
    ["Unicode domain", 'dns.fqdn == "bücher.example"', "use the xn-- form", 12],
    ["label over 63", `dns.fqdn == "${"a".repeat(64)}.com"`, "a domain label is at most 63 characters", 12],
    ["name over 253", `dns.fqdn == "${"abcdefghi.".repeat(26)}com"`, "a domain is at most 253 characters", 12],
    ["path without /", 'http.request.uri.path == "admin"', 'a path starts with "/"', 25],
    ["bad record type", 'dns.query_rtype == "A A"', "a record type is a name", 19],
    ["empty email", 'identity.email == " "', "a value of identity.email must not be empty", 18],
    ["empty group name", 'any(identity.groups.name[*] in {"risky" ""})', "a value of identity.groups.name must not be empty", 40],
    ["keyword as a field", 'in == "a"', "expected a condition", 0],
  ])("%s", (_label, source, message, position) => {
    const result = parseExpression(source);
    expect(result).toMatchObject({ ok: false, position });
    if (!result.ok) expect(result.error).toContain(message);
  });

  it("refuses an expression over the size bound, pointing at the bound", () => {
    const long = `dns.fqdn == "a.com"${" ".repeat(MAX_EXPRESSION_LENGTH)}`;
    expect(parseExpression(long)).toEqual({ ok: false, error: `expression too long (at most ${MAX_EXPRESSION_LENGTH} characters)`, position: MAX_EXPRESSION_LENGTH });
  });

  it("accepts nesting up to the bound and refuses one level more, at the offending token", () => {
    const nested = (n: number) => `${"(".repeat(n)}dns.fqdn == "a.com"${")".repeat(n)}`;
    expect(parseExpression(nested(MAX_DEPTH)).ok).toBe(true);
    expect(parseExpression(nested(MAX_DEPTH + 1))).toEqual({ ok: false, error: `nesting is deeper than ${MAX_DEPTH} levels`, position: MAX_DEPTH });
    const nots = `${"not ".repeat(MAX_DEPTH + 1)}dns.fqdn == "a.com"`;
    expect(parseExpression(nots)).toMatchObject({ ok: false, position: 4 * MAX_DEPTH });
  });

  it("does not overflow the stack on hostile nesting within the size bound", () => {
    expect(parseExpression("(".repeat(MAX_EXPRESSION_LENGTH))).toMatchObject({ ok: false, position: MAX_DEPTH });
    expect(parseExpression("!".repeat(MAX_EXPRESSION_LENGTH))).toMatchObject({ ok: false, position: MAX_DEPTH });
  });

  it("treats a non-string input as an error, not an exception", () => {
    expect(parseExpression(42 as unknown as string)).toMatchObject({ ok: false, position: 0 });
  });
});

describe("referencedGroups, groupReferences and fieldsUsed", () => {
  const source = 'any(identity.groups.name[*] in {"risky" "Eng"}) or (identity.groups.id == "g-1" and not any(identity.groups[*].name == "risky")) or identity.email == "a@x.com"';

  it("lists the group names and ids once each, as written", () => {
    expect(referencedGroups(ast(source))).toEqual({ names: ["risky", "Eng"], ids: ["g-1"] });
  });

  it("gives each reference's offset, so the API can point at an unknown group", () => {
    const refs = groupReferences(ast(source));
    expect(refs).toHaveLength(4);
    for (const ref of refs) expect(source.slice(ref.position, ref.position + ref.value.length + 2)).toBe(JSON.stringify(ref.value));
  });

  it("is empty for a traffic-only expression", () => {
    expect(referencedGroups(ast('any(dns.domains[*] == "example.com")'))).toEqual({ names: [], ids: [] });
  });

  it.each<[string, string[]]>([
    ['any(dns.domains[*] == "a.com") and dns.fqdn != "b.a.com"', ["dns.domains", "dns.fqdn"]],
    ['http.request.host == "a.com" or not http.request.uri.path == "/x"', ["http.request.host", "http.request.uri.path"]],
    [source, ["identity.groups.name", "identity.groups.id", "identity.email"]],
  ])("fieldsUsed(%s)", (expr, fields) => {
    expect(fieldsUsed(ast(expr))).toEqual(fields);
  });
});

describe("domain names", () => {
  it.each<[string, string]>([
    ["example.com", "example.com"],
    ["EXAMPLE.COM", "example.com"],
    ["Example.Com.", "example.com"],
    ["example.com..", "example.com."],
    [".", ""],
    ["xn--bcher-kva.example", "xn--bcher-kva.example"],
    // ASCII-only case folding (RFC 4343): the Kelvin sign is not a "k".
    ["\u212Aey.com", "\u212Aey.com"],
  ])("normalizeName(%j) = %j", (input, expected) => {
    expect(normalizeName(input)).toBe(expected);
  });

  it.each<[string, string[]]>([
    ["a.b.example.com", ["a.b.example.com", "b.example.com", "example.com", "com"]],
    ["example.com", ["example.com", "com"]],
    ["notexample.com", ["notexample.com", "com"]],
    ["com", ["com"]],
    ["", []],
  ])("domainsOf(%j)", (name, domains) => {
    expect(domainsOf(name)).toEqual(domains);
  });

  it.each<[string, string | null]>([
    ["example.com", null],
    ["example.com.", null],
    ["_dmarc.example.com", null],
    ["*.example.com", 'wildcards are not supported: any(dns.domains[*] == "example.com") matches every subdomain'],
    ["", "a domain must not be empty"],
    ["a..b", "a domain must not contain an empty label"],
    [".a", "a domain must not contain an empty label"],
    ["a\tb", "a domain must not contain spaces or control characters"],
  ])("domainValueProblem(%j)", (value, problem) => {
    expect(domainValueProblem(value)).toBe(problem);
  });
});
