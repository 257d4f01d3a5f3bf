import { describe, expect, it } from "vitest";
import { buildRuleSet, type GatewayRule, type MatchContext, matchRule } from "../../src/gateway/rules/engine";
import { parseExpression } from "../../src/gateway/rules/expression";

function expr(source: string | null) {
  if (source === null) return null;
  const result = parseExpression(source);
  if (!result.ok) throw new Error(`${source}: ${result.error} at ${result.position}`);
  return result.expr;
}

/** A rule from expression strings; block, DNS, enabled, precedence 1 unless told otherwise. */
function rule(id: string, traffic: string | null, identity: string | null = null, more: Partial<GatewayRule> = {}): GatewayRule {
  return { id, name: id, action: "block", precedence: 1, enabled: true, filters: ["dns"], traffic: expr(traffic), identity: expr(identity), settings: {}, ...more };
}

const risky = { id: "g-risky", name: "risky" };
const eng = { id: "g-eng", name: "Engineering" };
type Identity = MatchContext["identity"];
const alice: Identity = { email: "alice@example.org", groups: [risky] };
const bob: Identity = { email: "bob@example.org", groups: [eng] };

const dns = (fqdn: string, identity: Identity = alice, type = "A"): MatchContext => ({ dns: { fqdn, type }, identity });
const http = (host: string, path: string, identity: Identity = alice): MatchContext => ({ http: { host, path }, identity });
/** The id of the deciding rule, or null (default allow). */
const decide = (rules: GatewayRule[], ctx: MatchContext, filter: "dns" | "http" = "dns") => matchRule(buildRuleSet(rules), filter, ctx)?.id ?? null;

describe("domain matching", () => {
  const subtree = [rule("subtree", 'any(dns.domains[*] == "example.com")')];
  it.each<[string, boolean]>([
    ["example.com", true],
    ["a.example.com", true],
    ["a.b.example.com", true],
    ["example.com.", true],
    ["EXAMPLE.COM", true],
    ["A.B.Example.Com.", true],
    ["notexample.com", false],
    ["a.notexample.com", false],
    ["example.com.evil.net", false],
    ["example.co", false],
    ["com", false],
    ["", false],
    [".", false],
  ])("any(dns.domains[*] == \"example.com\") on %j: %s", (name, blocked) => {
    expect(decide(subtree, dns(name))).toBe(blocked ? "subtree" : null);
  });

  const exact = [rule("exact", 'dns.fqdn == "example.com"')];
  it.each<[string, boolean]>([
    ["example.com", true],
    ["EXAMPLE.com.", true],
    ["a.example.com", false],
    ["notexample.com", false],
    ["com", false],
  ])("dns.fqdn == \"example.com\" on %j: %s", (name, blocked) => {
    expect(decide(exact, dns(name))).toBe(blocked ? "exact" : null);
  });

  it.each<[string, string, boolean]>([
    ["a rule value in upper case with a trailing dot", 'any(dns.domains[*] == "Example.COM.")', true],
    ["a set", 'any(dns.domains[*] in {"other.net" "example.com"})', true],
    ["fqdn in a set", 'dns.fqdn in {"other.net" "a.b.example.com"}', true],
    ["fqdn !=", 'dns.fqdn != "a.b.example.com"', false],
    ["a deeper domain than the query", 'any(dns.domains[*] == "x.a.b.example.com")', false],
    ["a sibling", 'any(dns.domains[*] == "c.example.com")', false],
  ])("%s, on a.b.example.com", (_label, traffic, blocked) => {
    expect(decide([rule("r", traffic)], dns("a.b.example.com"))).toBe(blocked ? "r" : null);
  });

  // A query name is compared in the ASCII form the DNS carries (RFC 5890 A-labels; RFC 4343 case).
  it("compares A-labels as given and folds ASCII case only", () => {
    const r = [rule("r", 'any(dns.domains[*] == "xn--bcher-kva.example")')];
    expect(decide(r, dns("www.XN--BCHER-KVA.example"))).toBe("r");
    expect(decide(r, dns("www.bücher.example"))).toBeNull();
    const k = [rule("k", 'dns.fqdn == "key.com"')];
    expect(decide(k, dns("\u212Aey.com"))).toBeNull();
  });
});

describe("the seed's example: block example.com and its subdomains for the group risky", () => {
  const rules = [rule("block-risky", 'any(dns.domains[*] == "example.com")', 'any(identity.groups.name[*] in {"risky"})')];
  it.each<[string, MatchContext, string | null]>([
    ["a risky user on example.com", dns("example.com", alice), "block-risky"],
    ["a risky user on a.b.example.com", dns("a.b.example.com", alice), "block-risky"],
    ["a risky user on notexample.com", dns("notexample.com", alice), null],
    ["a user outside the group", dns("a.b.example.com", bob), null],
    ["a user in no group", dns("example.com", { email: "c@example.org", groups: [] }), null],
    ["no identity", dns("example.com", null), null],
    ["the group name in another case", dns("example.com", { email: null, groups: [{ id: "x", name: "RISKY" }] }), "block-risky"],
    ["a group whose id is the name", dns("example.com", { email: null, groups: [{ id: "risky", name: "other" }] }), null],
  ])("%s", (_label, ctx, expected) => {
    expect(decide(rules, ctx)).toBe(expected);
  });
});

describe("rule order and selection", () => {
  it("evaluates in precedence order, whatever the input order; the first match decides", () => {
    const rules = [
      rule("block-example", 'any(dns.domains[*] == "example.com")', null, { precedence: 20 }),
      rule("allow-ok", 'any(dns.domains[*] == "ok.example.com")', null, { precedence: 10, action: "allow" }),
    ];
    expect(decide(rules, dns("www.ok.example.com"))).toBe("allow-ok");
    expect(decide(rules, dns("www.example.com"))).toBe("block-example");
  });

  it("breaks precedence ties by input order", () => {
    const a = rule("a", 'any(dns.domains[*] == "example.com")', null, { precedence: 5 });
    const b = rule("b", 'dns.fqdn == "example.com"', null, { precedence: 5 });
    expect(decide([a, b], dns("example.com"))).toBe("a");
    expect(decide([b, a], dns("example.com"))).toBe("b");
  });

  it("allows by default (null) when no rule matches, and with no rules", () => {
    expect(decide([rule("r", 'dns.fqdn == "example.com"')], dns("example.net"))).toBeNull();
    expect(decide([], dns("example.com"))).toBeNull();
  });

  it("skips disabled rules", () => {
    const rules = [
      rule("off", 'any(dns.domains[*] == "example.com")', null, { precedence: 1, enabled: false }),
      rule("on", 'any(dns.domains[*] == "com")', null, { precedence: 2, action: "allow" }),
    ];
    expect(decide(rules, dns("example.com"))).toBe("on");
  });

  it("applies a rule only to its filters", () => {
    const httpRule = rule("http-only", 'http.request.host == "app.example.com"', null, { filters: ["http"] });
    const both = rule("both", 'any(dns.domains[*] == "example.com") or any(http.request.domains[*] == "example.com")', null, { filters: ["dns", "http"], precedence: 2 });
    expect(decide([httpRule], dns("app.example.com"))).toBeNull();
    expect(decide([httpRule], http("app.example.com", "/"), "http")).toBe("http-only");
    expect(decide([httpRule, both], dns("app.example.com"))).toBe("both");
    expect(decide([both], http("x.example.com", "/"), "http")).toBe("both");
  });

  it("orders unindexed (identity-only) rules and indexed domain rules together by precedence", () => {
    const identityOnly = rule("bob-allowed", null, 'identity.email == "bob@example.org"', { action: "allow" });
    const domain = rule("block-example", 'any(dns.domains[*] == "example.com")');
    expect(decide([{ ...identityOnly, precedence: 1 }, { ...domain, precedence: 2 }], dns("example.com", bob))).toBe("bob-allowed");
    expect(decide([{ ...identityOnly, precedence: 2 }, { ...domain, precedence: 1 }], dns("example.com", bob))).toBe("block-example");
    expect(decide([{ ...identityOnly, precedence: 1 }, { ...domain, precedence: 2 }], dns("example.com", alice))).toBe("block-example");
  });

  it("a rule with neither traffic nor identity matches every query of its filter", () => {
    expect(decide([rule("all", null)], dns("anything.test"))).toBe("all");
  });
});

describe("conditions", () => {
  it.each<[string, string | null, string | null, MatchContext, boolean]>([
    ["email, case-insensitive", null, 'identity.email == "ALICE@example.org"', dns("x.com"), true],
    ["email in a set", null, 'identity.email in {"bob@example.org" "alice@example.org"}', dns("x.com"), true],
    ["email, other user", null, 'identity.email == "alice@example.org"', dns("x.com", bob), false],
    ["email, user without email", null, 'identity.email == "alice@example.org"', dns("x.com", { email: null, groups: [] }), false],
    ["email !=, no identity: false", null, 'identity.email != "alice@example.org"', dns("x.com", null), false],
    ["not(email ==), no identity: true", null, 'not(identity.email == "alice@example.org")', dns("x.com", null), true],
    ["group id, exact", null, 'any(identity.groups.id[*] in {"g-risky"})', dns("x.com"), true],
    ["group id, case-sensitive (SCIM id is caseExact)", null, 'any(identity.groups.id[*] in {"G-RISKY"})', dns("x.com"), false],
    ["group id without any()", null, 'identity.groups.id == "g-risky"', dns("x.com"), true],
    ["group names, docs' form", null, 'any(identity.groups[*].name in {"Engineering" "Security"})', dns("x.com", bob), true],
    ["not in the group", null, 'not(any(identity.groups.name[*] == "risky"))', dns("x.com", bob), true],
    ["any group name != (some group differs)", null, 'any(identity.groups.name[*] != "risky")', dns("x.com", alice), false],
    ["record type", 'dns.query_rtype == "aaaa" and any(dns.domains[*] == "x.com")', null, dns("x.com", alice, "AAAA"), true],
    ["record type, other", 'dns.query_rtype == "AAAA"', null, dns("x.com", alice, "A"), false],
    ["exclusion inside a subtree", 'any(dns.domains[*] == "example.com") and not(any(dns.domains[*] == "ok.example.com"))', null, dns("a.ok.example.com"), false],
    ["exclusion, outside it", 'any(dns.domains[*] == "example.com") and not(any(dns.domains[*] == "ok.example.com"))', null, dns("a.example.com"), true],
    ["or of a domain and an identity", 'dns.fqdn == "a.com" or identity.email == "alice@example.org"', null, dns("b.com"), true],
    ["an http field in a DNS query is absent: false", 'http.request.host == "x.com"', null, dns("x.com"), false],
  ])("%s", (_label, traffic, identity, ctx, matches) => {
    expect(decide([rule("r", traffic, identity)], ctx)).toBe(matches ? "r" : null);
  });

  it.each<[string, string, MatchContext, boolean]>([
    ["host, exact and case-insensitive", 'http.request.host == "app.example.com"', http("APP.example.com", "/"), true],
    ["host, a subdomain is not the host", 'http.request.host == "example.com"', http("app.example.com", "/"), false],
    ["host in a set", 'http.request.host in {"a.com" "app.example.com"}', http("app.example.com", "/"), true],
    ["path, exact", 'http.request.host == "app.example.com" and http.request.uri.path == "/admin"', http("app.example.com", "/admin"), true],
    ["path, case-sensitive", 'http.request.uri.path == "/admin"', http("app.example.com", "/Admin"), false],
    ["path, no prefix match", 'http.request.uri.path == "/admin"', http("app.example.com", "/admin/users"), false],
    ["http domains", 'any(http.request.domains[*] == "example.com")', http("a.b.example.com", "/"), true],
    ["http domains, suffix trick", 'any(http.request.domains[*] == "example.com")', http("notexample.com", "/"), false],
  ])("http: %s", (_label, traffic, ctx, matches) => {
    expect(decide([rule("r", traffic, null, { filters: ["http"] })], ctx, "http")).toBe(matches ? "r" : null);
  });
});

describe("the suffix index", () => {
  it.each<[string, string | null, boolean]>([
    ["any(dns.domains[*] == d)", 'any(dns.domains[*] == "example.com")', true],
    ["dns.fqdn in {…}", 'dns.fqdn in {"a.com" "b.com"}', true],
    ["domain and identity", 'any(dns.domains[*] == "example.com") and identity.email == "a@b.c"', true],
    ["or of domain conditions", 'dns.fqdn == "a.com" or any(dns.domains[*] == "b.com")', true],
    ["domain and an exclusion", 'any(dns.domains[*] == "example.com") and not(dns.fqdn == "ok.example.com")', true],
    ["identity only", null, false],
    ["not", 'not(dns.fqdn == "a.com")', false],
    ["!=", 'dns.fqdn != "a.com"', false],
    ["or with a non-domain branch", 'dns.fqdn == "a.com" or identity.email == "a@b.c"', false],
    ["record type only", 'dns.query_rtype == "A"', false],
  ])("%s is indexed: %s", (_label, traffic, indexed) => {
    const set = buildRuleSet([rule("r", traffic, 'identity.email == "a@b.c"')]);
    expect(set.index.dns.unindexed).toEqual(indexed ? [] : [0]);
  });

  it("files 10,000 domain rules under their names, leaving none to scan, and finds the right one", () => {
    const rules = Array.from({ length: 10_000 }, (_, k) =>
      rule(`r${k}`, k % 2 === 0 ? `any(dns.domains[*] == "d${k}.example")` : `dns.fqdn == "h${k}.example"`, null, { precedence: k }),
    );
    const set = buildRuleSet(rules);
    expect(set.index.dns.unindexed).toEqual([]);
    expect(matchRule(set, "dns", dns("a.b.d4242.example"))?.id).toBe("r4242");
    expect(matchRule(set, "dns", dns("h4243.example"))?.id).toBe("r4243");
    expect(matchRule(set, "dns", dns("a.h4243.example"))).toBeNull();
    expect(matchRule(set, "dns", dns("nothing.example"))).toBeNull();
  });
});
