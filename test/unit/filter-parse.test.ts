import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Filter, SubAttrFilter } from "../../src/scim/filter/ast";
import { FILTER_LIMITS, parseFilter, parseValuePathExpression } from "../../src/scim/filter/parse";
import { splitAttrPath } from "../../src/scim/filter/path";
import { printFilter } from "../../src/scim/filter/print";

const ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const cmp = (path: string, op: string, value: unknown) => ({ kind: "compare", path, op, value });
const pr = (path: string) => ({ kind: "present", path });
const and = (left: unknown, right: unknown) => ({ kind: "and", left, right });
const or = (left: unknown, right: unknown) => ({ kind: "or", left, right });
const not = (filter: unknown) => ({ kind: "not", filter });
const vp = (path: string, filter: unknown) => ({ kind: "valuePath", path, filter });

describe("parseFilter: RFC 7644 §3.4.2.2 examples and grammar", () => {
  it.each<[string, unknown]>([
    ['userName eq "bjensen"', cmp("userName", "eq", "bjensen")],
    ['name.familyName co "O\'Malley"', cmp("name.familyName", "co", "O'Malley")],
    ['userName sw "J"', cmp("userName", "sw", "J")],
    [`urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"`, cmp("urn:ietf:params:scim:schemas:core:2.0:User:userName", "sw", "J")],
    ["title pr", pr("title")],
    ['meta.lastModified gt "2011-05-13T04:42:34Z"', cmp("meta.lastModified", "gt", "2011-05-13T04:42:34Z")],
    ['meta.lastModified ge "2011-05-13T04:42:34Z"', cmp("meta.lastModified", "ge", "2011-05-13T04:42:34Z")],
    ['meta.lastModified lt "2011-05-13T04:42:34Z"', cmp("meta.lastModified", "lt", "2011-05-13T04:42:34Z")],
    ['meta.lastModified le "2011-05-13T04:42:34Z"', cmp("meta.lastModified", "le", "2011-05-13T04:42:34Z")],
    ['title pr and userType eq "Employee"', and(pr("title"), cmp("userType", "eq", "Employee"))],
    ['title pr or userType eq "Intern"', or(pr("title"), cmp("userType", "eq", "Intern"))],
    ['schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"', cmp("schemas", "eq", ENT)],
    [
      'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
      and(cmp("userType", "eq", "Employee"), or(cmp("emails", "co", "example.com"), cmp("emails.value", "co", "example.org"))),
    ],
    [
      'userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")',
      and(cmp("userType", "ne", "Employee"), not(or(cmp("emails", "co", "example.com"), cmp("emails.value", "co", "example.org")))),
    ],
    ['userType eq "Employee" and (emails.type eq "work")', and(cmp("userType", "eq", "Employee"), cmp("emails.type", "eq", "work"))],
    [
      'userType eq "Employee" and emails[type eq "work" and value co "@example.com"]',
      and(cmp("userType", "eq", "Employee"), vp("emails", and(cmp("type", "eq", "work"), cmp("value", "co", "@example.com")))),
    ],
    [
      'emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]',
      or(vp("emails", and(cmp("type", "eq", "work"), cmp("value", "co", "@example.com"))), vp("ims", and(cmp("type", "eq", "xmpp"), cmp("value", "co", "@foo.com")))),
    ],
    [`${ENT}:manager.value eq "26118915"`, cmp(`${ENT}:manager.value`, "eq", "26118915")],
    [`${ENT}:department eq "Sales"`, cmp(`${ENT}:department`, "eq", "Sales")],
    ['members[value eq "2819c223"]', vp("members", cmp("value", "eq", "2819c223"))],
    ['members.$ref pr', pr("members.$ref")],
  ])("%s", (input, expected) => {
    expect(parseFilter(input)).toEqual({ ok: true, value: expected });
  });
});

describe("parseFilter: attr[valFilter].subAttr op value (Entra ID's work-email filter)", () => {
  const vps = (path: string, filter: unknown, sub: unknown) => ({ kind: "valuePath", path, filter, sub });
  it.each<[string, unknown]>([
    ['emails[type eq "work"].value eq "x@example.com"', vps("emails", cmp("type", "eq", "work"), cmp("value", "eq", "x@example.com"))],
    ['EMAILS[TYPE EQ "work"].VALUE EQ "x"', vps("EMAILS", cmp("TYPE", "eq", "work"), cmp("VALUE", "eq", "x"))],
    ['emails [ type eq "work" ].value   co "x"', vps("emails", cmp("type", "eq", "work"), cmp("value", "co", "x"))],
    ['emails[type eq "work" or primary eq true].value pr', vps("emails", or(cmp("type", "eq", "work"), cmp("primary", "eq", true)), pr("value"))],
    [
      'emails[type eq "work"].value eq "x" and userName sw "a"',
      and(vps("emails", cmp("type", "eq", "work"), cmp("value", "eq", "x")), cmp("userName", "sw", "a")),
    ],
    ['not (emails[type eq "work"].value ne "x")', not(vps("emails", cmp("type", "eq", "work"), cmp("value", "ne", "x")))],
    [`${ENT}:manager[value pr].displayName eq "J"`, vps(`${ENT}:manager`, pr("value"), cmp("displayName", "eq", "J"))],
  ])("%s", (input, expected) => {
    const r = parseFilter(input);
    expect(r).toEqual({ ok: true, value: expected });
    if (r.ok) expect(parseFilter(printFilter(r.value))).toEqual(r);
  });
});

describe("parseFilter: precedence, case and whitespace", () => {
  it.each<[string, unknown]>([
    ["a pr or b pr and c pr", or(pr("a"), and(pr("b"), pr("c")))],
    ["a pr and b pr or c pr", or(and(pr("a"), pr("b")), pr("c"))],
    ["a pr and b pr and c pr", and(and(pr("a"), pr("b")), pr("c"))],
    ["a pr or b pr or c pr", or(or(pr("a"), pr("b")), pr("c"))],
    ["(a pr or b pr) and c pr", and(or(pr("a"), pr("b")), pr("c"))],
    ["not (a pr) and b pr", and(not(pr("a")), pr("b"))],
    ["not(a pr)", not(pr("a"))],
    ["NOT (a pr)", not(pr("a"))],
    ["not (not (a pr))", not(not(pr("a")))],
    ["((a pr))", pr("a")],
    ['userName EQ "x"', cmp("userName", "eq", "x")],
    ['userName Eq "x" AND title PR', and(cmp("userName", "eq", "x"), pr("title"))],
    ['a pr Or b pr', or(pr("a"), pr("b"))],
    ['  userName   eq   "x"  ', cmp("userName", "eq", "x")],
    ['userName\teq\t"x"\nand\r\ntitle pr', and(cmp("userName", "eq", "x"), pr("title"))],
    ['( userName eq "x" )', cmp("userName", "eq", "x")],
    ['emails[ type eq "work" ]', vp("emails", cmp("type", "eq", "work"))],
    ['emails [type eq "work"]', vp("emails", cmp("type", "eq", "work"))],
    ['userName eq "x" and(title pr)', and(cmp("userName", "eq", "x"), pr("title"))],
    // an attribute that happens to be called "not"
    ['not eq "x"', cmp("not", "eq", "x")],
  ])("%s", (input, expected) => {
    expect(parseFilter(input)).toEqual({ ok: true, value: expected });
  });
});

describe("parseFilter: literals", () => {
  it.each<[string, unknown]>([
    ['x eq "a\\"b"', 'a"b'],
    ['x eq "a\\\\b"', "a\\b"],
    ['x eq "\\/\\b\\f\\n\\r\\t"', "/\b\f\n\r\t"],
    ['x eq "\\u00e9\\u00C9"', "éÉ"],
    ['x eq "\\ud83d\\ude00"', "😀"],
    ['x eq "😀 é"', "😀 é"],
    ['x eq ""', ""],
    ['x eq "a and b or c)"', "a and b or c)"],
    ["x eq 0", 0],
    ["x eq -12", -12],
    ["x eq 1.5", 1.5],
    ["x eq 2e3", 2000],
    ["x eq -1.25E-2", -0.0125],
    ["x eq true", true],
    ["x eq false", false],
    ["x eq True", true],
    ["x eq FALSE", false],
    ["x eq null", null],
    ["x eq Null", null],
  ])("%s", (input, value) => {
    expect(parseFilter(input)).toEqual({ ok: true, value: cmp("x", "eq", value) });
  });
});

describe("parseFilter: errors are 400 invalidFilter with a position", () => {
  it.each<[string, string]>([
    ["", "empty"],
    ["   ", "empty"],
    ["userName", "character 9: expected an operator"],
    ['userName eqq "x"', "character 10: expected an operator"],
    ['userName eq "x', "character 13: unterminated string"],
    ["userName eq bjensen", "character 13: expected a value"],
    ["userName eq", "unexpected end of filter: expected a value"],
    ['userName eq "x" and', "unexpected end of filter: expected an attribute path"],
    ['userName eq "x" title pr', 'character 17: expected "and", "or"'],
    ['(userName eq "x"', 'expected ")" to close the "(" at character 1'],
    ['userName eq "x")', "character 16"],
    ['emails[type eq "work"', 'expected "]" to close the "[" at character 7'],
    // `attr[filter].sub` needs a comparison and a plain sub-attribute name
    ['emails[type eq "work"].value', "character 29: expected an operator"],
    ['emails[type eq "work"]. eq "x"', 'character 24: "" is not a valid sub-attribute name'],
    ['emails[type eq "work"].value.x eq "y"', '"value.x" is not a valid sub-attribute name'],
    ['emails[type eq "work"].value[type pr]', 'after "value", got "["'],
    ['emails.value[type eq "work"]', "not a sub-attribute"],
    ['emails[types[value pr]]', "cannot be nested"],
    ['x eq "\\x"', 'invalid escape "\\x"'],
    ['x eq "\\u12"', "invalid \\u escape"],
    ['x eq "a\u0001"', "control character"],
    ["x eq 01", 'unexpected "1" after the value'],
    ["x eq 1.", 'unexpected "." after the value'],
    ["x eq 12abc", 'unexpected "a" after the value'],
    ['x eq "a"b', 'unexpected "b" after the value'],
    ['a..b eq "x"', '"a..b" is not a valid attribute path'],
    ['a.b.c eq "x"', "not a valid attribute path"],
    ['1abc eq "x"', "not a valid attribute path"],
    ['urn:: eq "x"', "not a valid attribute path"],
    ['not (a pr', 'expected ")"'],
    ["not a pr", 'got "a"'],
    ['userName+eq+"x"', "expected an operator"],
    ["and pr or", "unexpected end"],
    ["[a pr]", "expected an attribute path"],
  ])("%j → %s", (input, detail) => {
    const r = parseFilter(input);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.status).toBe(400);
    expect(r.error.scimType).toBe("invalidFilter");
    expect(r.error.message).toContain(detail);
  });

  it("bounds the input length", () => {
    const r = parseFilter(`userName eq "${"x".repeat(FILTER_LIMITS.maxLength)}"`);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).toContain(`longer than ${FILTER_LIMITS.maxLength}`);
  });

  it("bounds the nesting depth without overflowing the stack", () => {
    const deep = "(".repeat(2000) + "a pr" + ")".repeat(2000);
    const r = parseFilter(deep);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).toContain(`deeper than ${FILTER_LIMITS.maxDepth}`);
    const nots = "not (".repeat(FILTER_LIMITS.maxDepth) + "a pr" + ")".repeat(FILTER_LIMITS.maxDepth);
    expect(parseFilter(nots).ok).toBe(true);
    const tooMany = "not (".repeat(FILTER_LIMITS.maxDepth + 1) + "a pr" + ")".repeat(FILTER_LIMITS.maxDepth + 1);
    expect(parseFilter(tooMany).ok).toBe(false);
  });

  it("bounds the number of comparisons", () => {
    const terms = (n: number) => Array.from({ length: n }, () => "a pr").join(" or ");
    expect(parseFilter(terms(FILTER_LIMITS.maxTerms)).ok).toBe(true);
    const r = parseFilter(terms(FILTER_LIMITS.maxTerms + 1));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).toContain(`more than ${FILTER_LIMITS.maxTerms} comparisons`);
  });
});

describe("parseValuePathExpression: PATCH paths (RFC 7644 §3.5.2)", () => {
  it.each<[string, unknown]>([
    ["userName", { path: "userName" }],
    ["name.givenName", { path: "name.givenName" }],
    [`${ENT}:manager.value`, { path: `${ENT}:manager.value` }],
    [`${ENT}:employeeNumber`, { path: `${ENT}:employeeNumber` }],
    [ENT, { path: ENT }],
    ['members[value eq "2819c223-7f76-453a-919d-413861904646"]', { path: "members", filter: cmp("value", "eq", "2819c223-7f76-453a-919d-413861904646") }],
    ['emails[type eq "work"].value', { path: "emails", filter: cmp("type", "eq", "work"), subAttr: "value" }],
    ['addresses[type eq "work"].streetAddress', { path: "addresses", filter: cmp("type", "eq", "work"), subAttr: "streetAddress" }],
    ['emails[type eq "work" and primary eq true]', { path: "emails", filter: and(cmp("type", "eq", "work"), cmp("primary", "eq", true)) }],
    [' emails[type EQ "work"] ', { path: "emails", filter: cmp("type", "eq", "work") }],
    [`urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq "work"].value`, { path: "urn:ietf:params:scim:schemas:core:2.0:User:emails", filter: cmp("type", "eq", "work"), subAttr: "value" }],
  ])("%s", (input, expected) => {
    expect(parseValuePathExpression(input)).toEqual({ ok: true, value: expected });
  });

  it.each<[string, string, string]>([
    ["", "invalidPath", "empty path"],
    ["a..b", "invalidPath", "not a valid attribute path"],
    ['emails[type eq "work"].', "invalidPath", "not a valid sub-attribute name"],
    ['emails[type eq "work"].value.x', "invalidPath", "not a valid sub-attribute name"],
    ['emails[type eq "work"] x', "invalidPath", "unexpected"],
    ["emails x", "invalidPath", "unexpected"],
    ['emails[type eqq "work"]', "invalidFilter", "expected an operator"],
    ["emails[]", "invalidFilter", "expected an attribute path"],
    ['emails[type eq "work"', "invalidFilter", 'expected "]"'],
  ])("%j → %s", (input, scimType, detail) => {
    const r = parseValuePathExpression(input);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.scimType).toBe(scimType);
    expect(r.error.message).toContain(detail);
  });
});

describe("splitAttrPath", () => {
  it.each<[string, unknown]>([
    ["userName", { attr: "userName" }],
    ["name.givenName", { attr: "name", subAttr: "givenName" }],
    [`${ENT}:manager.value`, { schema: ENT, attr: "manager", subAttr: "value" }],
    ["members.$ref", { attr: "members", subAttr: "$ref" }],
    ["a.b.c", undefined],
    ["", undefined],
    ["urn:x:", undefined],
  ])("%s", (path, expected) => {
    expect(splitAttrPath(path)).toEqual(expected);
  });
});

/** Random filter ASTs over a small vocabulary of paths (including URN-prefixed and odd ones). */
const arbitraryFilter: fc.Arbitrary<Filter> = (() => {
  const paths = fc.constantFrom("userName", "title", "emails", "emails.value", "name.givenName", "active", "meta.created", `${ENT}:department`, "urn:x:y:1.0:User:z", "not", "a-b_c");
  const subs = fc.constantFrom("value", "type", "primary", "display");
  const value = fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Object.is(d, -0)), fc.boolean(), fc.constant(null));
  const op = fc.constantFrom("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le" as const);
  const leaf = (p: fc.Arbitrary<string>): fc.Arbitrary<Filter> =>
    fc.oneof(
      fc.record({ kind: fc.constant("compare" as const), path: p, op, value }),
      fc.record({ kind: fc.constant("present" as const), path: p }),
    );
  const subLeaf = leaf(subs) as fc.Arbitrary<SubAttrFilter>;
  const inner: fc.Arbitrary<Filter> = fc.letrec<{ f: Filter }>((tie) => ({
    f: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      leaf(subs),
      fc.record({ kind: fc.constantFrom("and" as const, "or" as const), left: tie("f"), right: tie("f") }),
      fc.record({ kind: fc.constant("not" as const), filter: tie("f") }),
    ),
  })).f;
  return fc.letrec<{ f: Filter }>((tie) => ({
    f: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      leaf(paths),
      fc.record({ kind: fc.constantFrom("and" as const, "or" as const), left: tie("f"), right: tie("f") }),
      fc.record({ kind: fc.constant("not" as const), filter: tie("f") }),
      fc.record({ kind: fc.constant("valuePath" as const), path: fc.constantFrom("emails", "phoneNumbers", "members", "groups", "name"), filter: inner }),
      // `emails[type eq "work"].value eq "x"`: the same element satisfies the brackets and the comparison
      fc.record({ kind: fc.constant("valuePath" as const), path: fc.constantFrom("emails", "phoneNumbers", "members", "groups", "name"), filter: inner, sub: subLeaf }),
    ),
  })).f;
})();

describe("parseFilter: properties", () => {
  it("never throws on arbitrary text", () => {
    const alphabet = fc.constantFrom(..."ab eqnotrpandor()[]\".\\:-_0123456789u$\t".split(""));
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.string({ unit: alphabet, maxLength: 80 })), (s) => {
        const r = parseFilter(s);
        expect(typeof r.ok).toBe("boolean");
        if (!r.ok) expect(r.error.scimType).toBe("invalidFilter");
      }),
      { numRuns: 2000 },
    );
  });

  it("never throws on mutated valid filters", () => {
    const base = 'userName eq "bjensen" and (emails[type eq "work" and value co "@x.com"] or not (title pr))';
    fc.assert(
      fc.property(fc.nat(base.length), fc.nat(base.length), fc.string({ maxLength: 3 }), (i, j, ins) => {
        const s = base.slice(0, Math.min(i, j)) + ins + base.slice(Math.max(i, j));
        expect(typeof parseFilter(s).ok).toBe("boolean");
        expect(typeof parseValuePathExpression(s).ok).toBe("boolean");
      }),
      { numRuns: 2000 },
    );
  });

  it("parses printed ASTs back to the same AST", () => {
    fc.assert(
      fc.property(arbitraryFilter, (f) => {
        const text = printFilter(f);
        fc.pre(text.length <= FILTER_LIMITS.maxLength);
        const r = parseFilter(text);
        if (!r.ok) {
          // Only the documented limits may refuse a well-formed filter.
          expect(r.error.message).toMatch(/deeper than|more than/);
          return;
        }
        expect(r.value).toEqual(f);
      }),
      { numRuns: 1000 },
    );
  });
});
