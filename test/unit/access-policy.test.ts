import { describe, expect, it } from "vitest";
import { type Evaluation, evaluatePolicies, type PolicyIdentity, type PolicyRequest } from "../../src/access/policy/evaluate";
import { ipInRange, parseCidr, parseIp } from "../../src/access/policy/ip";
import { type GroupDefinition, type Policy, type Rule, parseGroupDefinition, parsePolicy, parseRule } from "../../src/access/policy/rules";

const ENTRA = "idp-entra";
const OKTA = "idp-okta";

/** A user of a SCIM-enabled connection, in the "risky" group unless told otherwise. */
function user(over: Partial<PolicyIdentity> = {}): PolicyIdentity {
  return { email: "alice@example.com", idpId: OKTA, groups: [], scimEnabled: true, ...over };
}
const risky = { id: "g-risky", externalId: "0c2a6f4e-0000-4000-8000-00000000aaaa", name: "risky" };
const eng = { id: "g-eng", externalId: "5d1b7c2e-0000-4000-8000-00000000bbbb", name: "Engineering" };
const req = (ip: string | null = "203.0.113.7"): PolicyRequest => ({ ip });

function policy(decision: Policy["decision"], include: Rule[], more: Partial<Policy> = {}): Policy {
  return { name: `${decision}-${more.precedence ?? 1}`, decision, include, exclude: [], require: [], precedence: 1, ...more };
}
const allow = (include: Rule[], more: Partial<Policy> = {}) => policy("allow", include, more);

describe("evaluatePolicies: one rule of each type in an allow policy's include", () => {
  it.each<[string, Rule, PolicyIdentity, PolicyRequest, boolean]>([
    ["email, exact", { email: { email: "alice@example.com" } }, user(), req(), true],
    ["email, case-insensitive", { email: { email: "Alice@EXAMPLE.com" } }, user(), req(), true],
    ["email, other user", { email: { email: "bob@example.com" } }, user(), req(), false],
    ["email, user without email", { email: { email: "alice@example.com" } }, user({ email: null }), req(), false],
    ["email_domain, exact", { email_domain: { domain: "example.com" } }, user(), req(), true],
    ["email_domain, case-insensitive", { email_domain: { domain: "Example.COM" } }, user({ email: "a@EXAMPLE.com" }), req(), true],
    ["email_domain, subdomain is not the domain", { email_domain: { domain: "example.com" } }, user({ email: "a@sub.example.com" }), req(), false],
    ["email_domain, suffix trick", { email_domain: { domain: "example.com" } }, user({ email: "a@evil-example.com" }), req(), false],
    ["email_domain, suffix trick without dash", { email_domain: { domain: "example.com" } }, user({ email: "a@notexample.com" }), req(), false],
    ["email_domain, domain in the local part", { email_domain: { domain: "example.com" } }, user({ email: "example.com@evil.com" }), req(), false],
    ["email_domain, quoted local part with @", { email_domain: { domain: "example.com" } }, user({ email: '"a@example.com"@evil.com' }), req(), false],
    ["email_domain, parent of the user's domain", { email_domain: { domain: "com" } }, user(), req(), false],
    ["email_domain, user without email", { email_domain: { domain: "example.com" } }, user({ email: null }), req(), false],
    ["everyone", { everyone: {} }, user(), req(), true],
    ["ip, in range", { ip: { ip: "203.0.113.0/24" } }, user(), req(), true],
    ["ip, out of range", { ip: { ip: "198.51.100.0/24" } }, user(), req(), false],
    ["ip, no request ip", { ip: { ip: "0.0.0.0/0" } }, user(), req(null), false],
    ["ip, unparsable request ip", { ip: { ip: "0.0.0.0/0" } }, user(), req("203.0.113.7:443"), false],
    ["azureAD, SCIM group by externalId", { azureAD: { id: risky.externalId, identity_provider_id: ENTRA } }, user({ idpId: ENTRA, groups: [risky] }), req(), true],
    ["azureAD, externalId compared case-insensitively (GUID)", { azureAD: { id: risky.externalId.toUpperCase(), identity_provider_id: ENTRA } }, user({ idpId: ENTRA, groups: [risky] }), req(), true],
    ["azureAD, the SCIM id is not the externalId", { azureAD: { id: risky.id, identity_provider_id: ENTRA } }, user({ idpId: ENTRA, groups: [risky] }), req(), false],
    ["azureAD, group name is not the externalId", { azureAD: { id: "risky", identity_provider_id: ENTRA } }, user({ idpId: ENTRA, groups: [risky] }), req(), false],
    ["azureAD, other connection", { azureAD: { id: risky.externalId, identity_provider_id: "idp-other" } }, user({ idpId: ENTRA, groups: [risky] }), req(), false],
    ["okta, SCIM group by name", { okta: { name: "risky", identity_provider_id: OKTA } }, user({ groups: [risky] }), req(), true],
    ["okta, name case-insensitive", { okta: { name: "ENGINEERING", identity_provider_id: OKTA } }, user({ groups: [eng] }), req(), true],
    ["okta, not a member", { okta: { name: "risky", identity_provider_id: OKTA } }, user({ groups: [eng] }), req(), false],
    ["okta, other connection", { okta: { name: "risky", identity_provider_id: ENTRA } }, user({ groups: [risky] }), req(), false],
    ["oidc groups, SCIM displayName", { oidc: { claim_name: "groups", claim_value: "Engineering", identity_provider_id: OKTA } }, user({ groups: [eng] }), req(), true],
    ["oidc groups, other connection", { oidc: { claim_name: "groups", claim_value: "Engineering", identity_provider_id: ENTRA } }, user({ groups: [eng] }), req(), false],
  ])("%s", (_label, rule, identity, request, allowed) => {
    const result = evaluatePolicies([allow([rule])], identity, request);
    expect(result.decision).toBe(allowed ? "allow" : "default_deny");
    if (allowed) expect(result.rule).toEqual({ section: "include", index: 0, rule });
  });
});

describe("evaluatePolicies: SCIM membership versus the IdP token's group claims", () => {
  const oktaRule: Rule = { okta: { name: "risky", identity_provider_id: OKTA } };
  const oidcRule: Rule = { oidc: { claim_name: "groups", claim_value: "risky", identity_provider_id: OKTA } };
  const azureRule: Rule = { azureAD: { id: risky.externalId, identity_provider_id: OKTA } };
  it.each<[string, Rule, Partial<PolicyIdentity>, boolean]>([
    ["SCIM on: a token claim alone does not match (okta)", oktaRule, { scimEnabled: true, groups: [], idpGroupClaims: ["risky"] }, false],
    ["SCIM on: a token claim alone does not match (oidc)", oidcRule, { scimEnabled: true, groups: [], idpGroupClaims: ["risky"] }, false],
    ["SCIM on: a token claim alone does not match (azureAD)", azureRule, { scimEnabled: true, groups: [], idpGroupClaims: [risky.externalId] }, false],
    ["SCIM on: membership matches without any claim", oktaRule, { scimEnabled: true, groups: [risky] }, true],
    ["SCIM off: okta matches the claim, case-insensitively", oktaRule, { scimEnabled: false, idpGroupClaims: ["RISKY"] }, true],
    ["SCIM off: oidc matches the claim exactly", oidcRule, { scimEnabled: false, idpGroupClaims: ["risky"] }, true],
    ["SCIM off: oidc claim compared case-sensitively", oidcRule, { scimEnabled: false, idpGroupClaims: ["Risky"] }, false],
    ["SCIM off: azureAD matches the object id claim", azureRule, { scimEnabled: false, idpGroupClaims: [risky.externalId] }, true],
    ["SCIM off: (stale) SCIM groups are ignored", oktaRule, { scimEnabled: false, groups: [risky], idpGroupClaims: [] }, false],
    ["SCIM off: no claims at all", oktaRule, { scimEnabled: false }, false],
  ])("%s", (_label, rule, over, matches) => {
    expect(evaluatePolicies([allow([rule])], user(over), req()).decision).toBe(matches ? "allow" : "default_deny");
  });
});

describe("evaluatePolicies: include OR, require AND, exclude NOT", () => {
  const inDomain: Rule = { email_domain: { domain: "example.com" } };
  const isBob: Rule = { email: { email: "bob@example.com" } };
  const office: Rule = { ip: { ip: "203.0.113.0/24" } };
  const vpn: Rule = { ip: { ip: "198.51.100.0/24" } };
  const inRisky: Rule = { okta: { name: "risky", identity_provider_id: OKTA } };
  it.each<[string, Partial<Policy>, PolicyIdentity, Evaluation["decision"], Evaluation["rule"]]>([
    ["empty include never matches, even with require met", { include: [], require: [office] }, user(), "default_deny", null],
    ["include: second rule matches", { include: [isBob, inDomain] }, user(), "allow", { section: "include", index: 1, rule: inDomain }],
    ["require: all met", { include: [inDomain], require: [office, { everyone: {} }] }, user(), "allow", { section: "include", index: 0, rule: inDomain }],
    ["require: one unmet", { include: [inDomain], require: [office, vpn] }, user(), "default_deny", null],
    ["exclude: matched", { include: [inDomain], exclude: [isBob, inRisky] }, user({ groups: [risky] }), "default_deny", null],
    ["exclude: not matched", { include: [inDomain], exclude: [inRisky] }, user({ groups: [eng] }), "allow", { section: "include", index: 0, rule: inDomain }],
    ["exclude everyone shuts the policy", { include: [inDomain], exclude: [{ everyone: {} }] }, user(), "default_deny", null],
  ])("%s", (_label, body, identity, decision, rule) => {
    const result = evaluatePolicies([{ ...allow([]), ...body }], identity, req());
    expect(result.decision).toBe(decision);
    expect(result.rule).toEqual(rule);
  });
});

describe("evaluatePolicies: the seed's example (example.com, except the SCIM group \"risky\")", () => {
  const policies = [
    allow([{ email_domain: { domain: "example.com" } }], {
      name: "Employees",
      exclude: [{ okta: { name: "risky", identity_provider_id: OKTA } }],
    }),
  ];
  it.each<[string, PolicyIdentity, Evaluation["decision"], string]>([
    ["employee", user({ groups: [eng] }), "allow", 'allow by policy "Employees": included by email_domain example.com'],
    [
      "employee in risky",
      user({ groups: [eng, risky] }),
      "default_deny",
      'no policy applied, denied by default ("Employees" did not apply: included by email_domain example.com; excluded by okta group "risky")',
    ],
    [
      "outsider",
      user({ email: "eve@evil-example.com" }),
      "default_deny",
      'no policy applied, denied by default ("Employees" did not apply: no include rule matched)',
    ],
  ])("%s", (_label, identity, decision, reason) => {
    const result = evaluatePolicies(policies, identity, req());
    expect(result).toMatchObject({ decision, reason });
    expect(result.policy).toEqual(decision === "allow" ? { name: "Employees", precedence: 1 } : null);
  });
});

describe("evaluatePolicies: order of execution and precedence", () => {
  const everyone: Rule = { everyone: {} };
  const office: Rule = { ip: { ip: "203.0.113.0/24" } };
  const alice: Rule = { email: { email: "alice@example.com" } };
  it.each<[string, Policy[], PolicyIdentity | null, PolicyRequest, Evaluation["decision"], string | null]>([
    ["no policies: default deny", [], user(), req(), "default_deny", null],
    ["lower precedence wins, whatever the array order", [allow([everyone], { name: "late", precedence: 2 }), policy("deny", [alice], { name: "early", precedence: 1 })], user(), req(), "deny", "early"],
    ["a deny that does not apply falls through", [policy("deny", [{ email: { email: "bob@example.com" } }], { precedence: 1 }), allow([alice], { name: "alice", precedence: 2 })], user(), req(), "allow", "alice"],
    // Cloudflare: Bypass and Service Auth run before Allow/Block, whatever their precedence.
    ["bypass runs before an earlier deny", [policy("deny", [everyone], { precedence: 1 }), policy("bypass", [office], { name: "office", precedence: 5 })], user(), req(), "bypass", "office"],
    ["non_identity runs before allow", [allow([everyone], { precedence: 1 }), policy("non_identity", [office], { name: "svc", precedence: 2 })], user(), req(), "non_identity", "svc"],
    ["bypass without identity", [policy("bypass", [everyone], { name: "public" })], null, req(), "bypass", "public"],
    ["bypass ignores identity selectors even when signed in", [policy("bypass", [alice], { name: "b" })], user(), req(), "default_deny", null],
    ["bypass: identity selector in a group ignored too", [policy("bypass", [{ group: { id: "staff" } }])], user(), req(), "default_deny", null],
    ["no identity: allow policies cannot apply", [allow([everyone])], null, req(), "default_deny", null],
    ["no identity: bypass falls through to default deny", [policy("bypass", [office]), allow([everyone], { precedence: 2 })], null, req("192.0.2.1"), "default_deny", null],
    ["equal precedence keeps the given order", [allow([alice], { name: "first" }), policy("deny", [alice], { name: "second" })], user(), req(), "allow", "first"],
  ])("%s", (_label, policies, identity, request, decision, name) => {
    const result = evaluatePolicies(policies, identity, request, { staff: { include: [{ email_domain: { domain: "example.com" } }], exclude: [], require: [] } });
    expect(result.decision).toBe(decision);
    expect(result.policy?.name ?? null).toBe(name);
  });

  it("explains that allow policies need a signed-in user", () => {
    expect(evaluatePolicies([allow([everyone])], null, req()).reason).toBe(
      "no policy applied, denied by default (1 allow/deny policy needs a signed-in user)",
    );
  });
});

describe("evaluatePolicies: reusable Access groups", () => {
  const groups: Record<string, GroupDefinition> = {
    staff: { include: [{ email_domain: { domain: "example.com" } }], exclude: [{ okta: { name: "risky", identity_provider_id: OKTA } }], require: [] },
    onsite: { include: [{ group: { id: "staff" } }], exclude: [], require: [{ ip: { ip: "203.0.113.0/24" } }] },
    loopA: { include: [{ group: { id: "loopB" } }], exclude: [], require: [] },
    loopB: { include: [{ group: { id: "loopA" } }], exclude: [], require: [] },
    empty: { include: [], exclude: [], require: [] },
  };
  it.each<[string, string, PolicyIdentity, PolicyRequest, boolean]>([
    ["member", "staff", user(), req(), true],
    ["group's exclude applies", "staff", user({ groups: [risky] }), req(), false],
    ["nested group with require met", "onsite", user(), req(), true],
    ["nested group with require unmet", "onsite", user(), req("192.0.2.1"), false],
    ["unknown group matches nobody", "nope", user(), req(), false],
    ["a cycle matches nobody (and terminates)", "loopA", user(), req(), false],
    ["empty group matches nobody", "empty", user(), req(), false],
  ])("%s", (_label, id, identity, request, matches) => {
    const asMap = evaluatePolicies([allow([{ group: { id } }])], identity, request, new Map(Object.entries(groups)));
    const asRecord = evaluatePolicies([allow([{ group: { id } }])], identity, request, groups);
    expect(asMap.decision).toBe(matches ? "allow" : "default_deny");
    expect(asRecord.decision).toBe(asMap.decision);
  });
});

describe("IP ranges", () => {
  it.each<[string, string, boolean]>([
    ["10.1.2.3", "10.0.0.0/8", true],
    ["11.0.0.0", "10.0.0.0/8", false],
    ["10.1.2.3", "10.1.2.3/8", true], // host bits under the prefix are cleared
    ["203.0.113.7", "203.0.113.7", true], // a bare address is a /32
    ["203.0.113.7", "203.0.113.7/32", true],
    ["203.0.113.8", "203.0.113.7/32", false],
    ["255.255.255.255", "0.0.0.0/0", true],
    ["0.0.0.0", "0.0.0.0/0", true],
    ["2001:db8::1", "0.0.0.0/0", false], // families never mix, except IPv4-mapped addresses
    ["2001:db8::1", "::/0", true],
    ["10.0.0.1", "::/0", true], // an IPv4 client is ::ffff:10.0.0.1
    ["2001:db8::1", "2001:db8::/32", true],
    ["2001:db9::1", "2001:db8::/32", false],
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1/128", true],
    ["2001:db8::2", "2001:db8::1/128", false],
    ["2001:db8::1", "2001:db8::1", true],
    ["::1", "::1/128", true],
    ["::", "::/128", true],
    ["2001:db8:1:2:3:4:5:6", "2001:db8:1:2:3:4:5:0/127", false],
    ["2001:db8:1:2:3:4:5:1", "2001:db8:1:2:3:4:5:0/127", true],
    ["::ffff:10.1.2.3", "10.0.0.0/8", true], // IPv4-mapped request address = its IPv4 host
    ["::ffff:a01:203", "10.0.0.0/8", true],
    ["::ffff:11.1.2.3", "10.0.0.0/8", false],
    ["10.1.2.3", "::ffff:0:0/96", true],
    ["10.1.2.3", "::ffff:10.0.0.0/104", true],
    ["::10.1.2.3", "10.0.0.0/8", false], // IPv4-compatible (deprecated, RFC 4291 §2.5.5.1) is not mapped
    ["64:ff9b::a01:203", "10.0.0.0/8", false], // NAT64 is not mapped either
  ])("%s in %s: %s", (address, cidr, inside) => {
    const a = parseIp(address);
    const r = parseCidr(cidr);
    expect(a).not.toBeNull();
    expect(r).not.toBeNull();
    expect(ipInRange(a!, r!)).toBe(inside);
  });

  it.each([
    "", "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "1.2.3.-1", "1.2.3.4 ", " 1.2.3.4", "1.2.3.0x1", "1..3.4",
    "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1::2::3", ":::", "1:::2", ":1::", "12345::", "g::1", "fe80::1%eth0",
    "[::1]", "::1.2.3.4:5", "1.2.3.4::", "::ffff:256.1.1.1", "1:2:3:4:5:6:7:8::",
  ])("refuses the address %j", (text) => {
    expect(parseIp(text)).toBeNull();
    expect(parseCidr(text)).toBeNull();
  });

  it.each(["10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/08", "10.0.0.0/8/8", "::/129", "::/1a", "/8", "10.0.0.0/ 8"])(
    "refuses the range %j",
    (text) => expect(parseCidr(text)).toBeNull(),
  );

  it.each<[string, number]>([["1:2:3:4:5:6:7::", 128], ["::", 128], ["1:2:3:4:5:6:1.2.3.4", 128], ["0.0.0.0/0", 0], ["10.0.0.0/8", 8], ["2001:db8::/32", 32]])(
    "accepts %j (prefix %i)",
    (text, prefix) => expect(parseCidr(text)?.prefix).toBe(prefix),
  );
});

describe("parsePolicy / parseRule / parseGroupDefinition", () => {
  const good = {
    name: "Employees",
    decision: "allow",
    include: [{ email_domain: { domain: "example.com" } }, { ip: { ip: "2001:db8::/32" } }],
    exclude: [{ azureAD: { id: risky.externalId, identity_provider_id: ENTRA } }],
    precedence: 1,
    session_duration: "24h",
  };
  it("accepts a full policy and defaults exclude/require to []", () => {
    expect(parsePolicy(good)).toEqual({ ok: true, value: { ...good, require: [] } });
    const { exclude: _e, session_duration: _s, ...minimal } = good;
    expect(parsePolicy(minimal)).toEqual({ ok: true, value: { ...minimal, exclude: [], require: [] } });
  });

  it.each<[string, unknown]>([
    ["email", { email: { email: "a@example.com" } }],
    ["email_domain", { email_domain: { domain: "sub.example.co.uk" } }],
    ["everyone", { everyone: {} }],
    ["ip v4", { ip: { ip: "10.0.0.0/8" } }],
    ["ip v6 host", { ip: { ip: "::1" } }],
    ["group", { group: { id: "f1a2" } }],
    ["azureAD", { azureAD: { id: risky.externalId, identity_provider_id: ENTRA } }],
    ["okta", { okta: { name: "risky", identity_provider_id: OKTA } }],
    ["oidc", { oidc: { claim_name: "groups", claim_value: "Engineering", identity_provider_id: OKTA } }],
  ])("accepts the rule %s", (_label, rule) => {
    expect(parseRule(rule)).toEqual({ ok: true, value: rule });
  });

  it.each<[string, unknown, string]>([
    ["not an object", "everyone", "(body): must be an object with one selector"],
    ["no selector", {}, "(body): must have exactly one selector, got none"],
    ["two selectors", { everyone: {}, email: { email: "a@b.c" } }, "(body): must have exactly one selector, got everyone, email"],
    ["unknown selector", { email_ending: { domain: "x.com" } }, "email_ending: unknown selector; expected one of email, email_domain"],
    ["extra member", { okta: { name: "x", identity_provider_id: OKTA, id: "1" } }, "okta.id: unknown member"],
    ["everyone with a member", { everyone: { all: true } }, "everyone.all: unknown member"],
    ["everyone as true", { everyone: true }, "everyone: "],
    ["domain with @", { email_domain: { domain: "@example.com" } }, 'email_domain.domain: a domain without "@"'],
    ["domain with a path", { email_domain: { domain: "example.com/x" } }, "email_domain.domain: must be a domain"],
    ["bad email", { email: { email: "alice" } }, "email.email: must be an email address"],
    ["bad ip", { ip: { ip: "10.0.0.0/33" } }, "ip.ip: must be an IPv4 or IPv6 address or CIDR"],
    ["missing idp", { okta: { name: "risky" } }, "okta.identity_provider_id: "],
    ["empty azureAD id", { azureAD: { id: " ", identity_provider_id: ENTRA } }, "azureAD.id: must not be empty"],
    ["other oidc claim", { oidc: { claim_name: "roles", claim_value: "x", identity_provider_id: OKTA } }, 'oidc.claim_name: only the "groups" claim is supported'],
  ])("refuses the rule: %s", (_label, rule, error) => {
    const result = parseRule(rule);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toContain(error);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ["bad rule deep in include", { include: [{ everyone: {} }, { everyone: {} }, { email_domain: { domain: "" } }] }, "include[2].email_domain.domain: must be a domain"],
    ["unknown selector in exclude", { exclude: [{ geo: { country_code: "US" } }] }, "exclude[0].geo: unknown selector"],
    ["extra member in require", { require: [{ group: { id: "g", name: "x" } }] }, "require[0].group.name: unknown member"],
    ["unknown decision", { decision: "block" }, "decision: "],
    ["missing include", { include: undefined }, "include: "],
    ["precedence 0", { precedence: 0 }, "precedence: "],
    ["precedence not an integer", { precedence: 1.5 }, "precedence: "],
    ["bad session_duration", { session_duration: "1 day" }, 'session_duration: must be a duration such as "24h"'],
    ["unknown top-level member", { approval_required: true }, "approval_required: unknown member"],
    ["empty name", { name: "" }, "name: must not be empty"],
  ])("refuses the policy: %s", (_label, change, error) => {
    const result = parsePolicy({ ...good, ...change });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toContain(error);
  });

  it("reports every problem, not just the first", () => {
    const result = parsePolicy({ ...good, decision: "nope", include: [{ ip: { ip: "x" } }] });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toMatch(/decision: .*; include\[0\]\.ip\.ip: |include\[0\]\.ip\.ip: .*; decision: /);
  });

  it.each<[unknown, boolean]>([
    [{ name: "staff", include: [{ email_domain: { domain: "example.com" } }] }, true],
    [{ include: [{ everyone: {} }], exclude: [{ group: { id: "other" } }], require: [] }, true],
    [{ include: [{ everyone: {} }], decision: "allow" }, false],
    [{}, false],
    [null, false],
  ])("parseGroupDefinition(%j) ok=%s", (input, ok) => {
    expect(parseGroupDefinition(input).ok).toBe(ok);
  });
});
