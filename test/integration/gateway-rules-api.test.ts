import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { invalidateRuleSet, loadRuleSet } from "../../src/gateway/rules-store";
import { matchRule } from "../../src/gateway/rules/engine";
import { admin, createConnection, scim, type TestConnection } from "../helpers";

const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";

interface Rule {
  id: string;
  name: string;
  action: string;
  enabled: boolean;
  precedence: number;
  filters: string[];
  traffic: string;
  identity: string;
  rule_settings: Record<string, unknown>;
  created_at: string;
  updated_at: string;
}

async function createGroup(conn: TestConnection, displayName: string): Promise<string> {
  const res = await scim(conn, "POST", "/Groups", { schemas: [GROUP], displayName });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

async function post(body: unknown): Promise<{ status: number; rule: Rule; message: string }> {
  const res = await admin("POST", "/api/v1/gateway/rules", body);
  const json = (await res.json()) as { result: Rule; errors: { message: string }[] };
  return { status: res.status, rule: json.result, message: json.errors[0]?.message ?? "" };
}

const block = (traffic: string, extra: Record<string, unknown> = {}) => ({ name: `r-${crypto.randomUUID().slice(0, 6)}`, action: "block", filters: ["dns"], traffic, ...extra });

describe("gateway rules CRUD", () => {
  it("creates, reads, lists, updates and deletes a rule in Cloudflare's shape, each with an audit row", async () => {
    const conn = await createConnection();
    await createGroup(conn, "Risky");
    const created = await post(block('any(dns.domains[*] == "example.com")', { identity: 'any(identity.groups.name[*] in {"risky"})', rule_settings: { block_page_enabled: true } }));
    expect(created.status).toBe(200);
    expect(created.rule).toMatchObject({
      action: "block",
      enabled: true,
      filters: ["dns"],
      traffic: 'any(dns.domains[*] == "example.com")',
      identity: 'any(identity.groups.name[*] in {"risky"})',
      rule_settings: { block_page_enabled: true },
      precedence: expect.any(Number),
    });
    const id = created.rule.id;
    expect(await (await admin("GET", `/api/v1/gateway/rules/${id}`)).json()).toMatchObject({ success: true, result: created.rule });
    const list = (await (await admin("GET", "/api/v1/gateway/rules")).json()) as { result: Rule[] };
    expect(list.result.map((r) => r.id)).toContain(id);
    expect(list.result.map((r) => r.precedence)).toEqual([...list.result.map((r) => r.precedence)].sort((a, b) => a - b));

    const put = await admin("PUT", `/api/v1/gateway/rules/${id}`, { enabled: false, name: "renamed" });
    expect(put.status).toBe(200);
    expect(((await put.json()) as { result: Rule }).result).toMatchObject({ id, name: "renamed", enabled: false, traffic: created.rule.traffic, precedence: created.rule.precedence });
    // A GET result sent back as a PUT body is accepted (its read-only members are ignored).
    const roundTrip = await admin("PUT", `/api/v1/gateway/rules/${id}`, { ...created.rule, name: "again" });
    expect(roundTrip.status).toBe(200);

    expect((await admin("DELETE", `/api/v1/gateway/rules/${id}`)).status).toBe(200);
    expect((await admin("GET", `/api/v1/gateway/rules/${id}`)).status).toBe(404);
    expect((await admin("DELETE", `/api/v1/gateway/rules/${id}`)).status).toBe(404);
    expect((await admin("PUT", `/api/v1/gateway/rules/${id}`, { name: "x" })).status).toBe(404);
    const audit = await env.DB.prepare("SELECT action FROM audit_log WHERE target_id = ? ORDER BY logged_at").bind(id).all<{ action: string }>();
    expect(audit.results.map((r) => r.action)).toEqual(["gateway_rule.create", "gateway_rule.update", "gateway_rule.update", "gateway_rule.delete"]);
  });

  it("an override rule needs override_ips (IPv4 and IPv6 accepted)", async () => {
    const ok = await post({ name: "o", action: "override", filters: ["dns"], traffic: 'dns.fqdn == "intranet.example"', rule_settings: { override_ips: ["10.0.0.1", "2001:db8::1"] } });
    expect(ok.status).toBe(200);
    expect(ok.rule.rule_settings).toEqual({ override_ips: ["10.0.0.1", "2001:db8::1"] });
  });

  it("an http rule takes http.* fields", async () => {
    const ok = await post({ name: "h", action: "block", filters: ["http"], traffic: 'http.request.host == "wiki.example" and http.request.uri.path == "/admin"' });
    expect(ok.status).toBe(200);
    expect(ok.rule.filters).toEqual(["http"]);
  });

  it("an explicit precedence already in use is a 409 naming the rule", async () => {
    const first = await post(block('dns.fqdn == "p.example"', { precedence: 900_001 }));
    expect(first.status).toBe(200);
    const second = await post(block('dns.fqdn == "q.example"', { precedence: 900_001 }));
    expect(second.status).toBe(409);
    expect(second.message).toContain(first.rule.id);
    const moved = await admin("PUT", `/api/v1/gateway/rules/${(await post(block('dns.fqdn == "r.example"'))).rule.id}`, { precedence: 900_001 });
    expect(moved.status).toBe(409);
  });

  it("10 concurrent creates without precedence get distinct precedences and no 5xx", async () => {
    const results = await Promise.all(Array.from({ length: 10 }, (_, k) => post(block(`dns.fqdn == "c${k}.example"`))));
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(new Set(results.map((r) => r.rule.precedence)).size).toBe(10);
  });
});

describe("gateway rules refusals (400, pointing at the problem)", () => {
  it.each([
    ["a syntax error, with its position", block('any(dns.domains[*] == "example.com"'), /^traffic: .* at \d+/],
    ["an unknown field", block('dns.nope == "x"'), /^traffic: .* at 0/],
    ["an unterminated string", block('dns.fqdn == "abc'), /^traffic: .* at 12/],
    ["an http field in a dns rule", block('http.request.host == "a.example"'), /^traffic: http\.request\.host is not allowed here .* at 0/],
    ["a dns field in an http rule", { ...block('dns.fqdn == "a.example"'), filters: ["http"] }, /^traffic: dns\.fqdn is not allowed here .* at 0/],
    ["a traffic field in identity", block("", { identity: 'dns.fqdn == "a.example"' }), /^identity: dns\.fqdn is not allowed here/],
    ["an identity field in traffic", block('identity.email == "a@b.c"'), /^traffic: identity\.email is not allowed here/],
    ["a broken identity expression", block("", { identity: "identity.email ==" }), /^identity: .* at \d+/],
    ["an unknown action", { ...block(""), action: "isolate" }, /^action: /],
    ["no name", { action: "block", filters: ["dns"] }, /^name: /],
    ["two filters", { ...block(""), filters: ["dns", "http"] }, /^filters: /],
    ["an unknown filter", { ...block(""), filters: ["l4"] }, /^filters/],
    ["override without override_ips", { name: "o", action: "override", filters: ["dns"] }, /^rule_settings\.override_ips: required/],
    ["override_ips that are not addresses", { name: "o", action: "override", filters: ["dns"], rule_settings: { override_ips: ["10.0.0.256"] } }, /^rule_settings\.override_ips\[0\]: /],
    ["a host name as override_ip", { name: "o", action: "override", filters: ["dns"], rule_settings: { override_ips: ["example.com"] } }, /^rule_settings\.override_ips\[0\]: /],
    ["override_ips on a block rule", block("", { rule_settings: { override_ips: ["10.0.0.1"] } }), /^rule_settings\.override_ips: only for action override/],
    ["override on an http rule", { name: "o", action: "override", filters: ["http"], rule_settings: { override_ips: ["10.0.0.1"] } }, /^action: override applies to DNS rules only/],
    ["an unknown member", block("", { device_posture: "x" }), /device_posture: unknown member/],
    ["an unknown rule_settings member", block("", { rule_settings: { biso_admin_controls: {} } }), /rule_settings\.biso_admin_controls: unknown member/],
    ["a negative precedence", block("", { precedence: -1 }), /^precedence: /],
    ["a non-object body", [1, 2], /must be a JSON object/],
  ])("%s", async (_label, body, message) => {
    const before = (await env.DB.prepare("SELECT count(*) AS n FROM gateway_rules").first<number>("n"))!;
    const res = await post(body);
    expect(res.status).toBe(400);
    expect(res.message).toMatch(message);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM gateway_rules").first<number>("n")).toBe(before);
  });

  it("group names that exist in no SCIM connection are refused, named, at the position of the first", async () => {
    const conn = await createConnection();
    await createGroup(conn, "Engineering");
    const identity = 'any(identity.groups.name[*] in {"engineering" "ghosts" "phantoms"})';
    const res = await post(block('dns.fqdn == "x.example"', { identity }));
    expect(res.status).toBe(400);
    expect(res.message).toContain(`identity: no SCIM connection has a group named "ghosts", "phantoms" at ${identity.indexOf('"ghosts"')}`);
    // Case-insensitive, as the engine compares; a group of ANY connection counts.
    const other = await createConnection();
    await createGroup(other, "Ghosts");
    await createGroup(other, "PHANTOMS");
    expect((await post(block('dns.fqdn == "x.example"', { identity }))).status).toBe(200);
  });

  it("group ids that exist nowhere are refused; existing ones are accepted", async () => {
    const conn = await createConnection();
    const gid = await createGroup(conn, `g-${crypto.randomUUID().slice(0, 6)}`);
    const missing = crypto.randomUUID();
    const res = await post(block("", { identity: `any(identity.groups.id[*] in {"${gid}" "${missing}"})` }));
    expect(res.status).toBe(400);
    expect(res.message).toContain(`no SCIM group has the id "${missing}"`);
    expect((await post(block("", { identity: `any(identity.groups.id[*] in {"${gid}"})` }))).status).toBe(200);
  });

  it("an update is validated as a create is", async () => {
    const rule = (await post(block('dns.fqdn == "u.example"'))).rule;
    const res = await admin("PUT", `/api/v1/gateway/rules/${rule.id}`, { traffic: "dns.fqdn ==" });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { errors: { message: string }[] }).errors[0]!.message).toMatch(/^traffic: .* at 11/);
    expect(await (await admin("GET", `/api/v1/gateway/rules/${rule.id}`)).json()).toMatchObject({ result: { traffic: 'dns.fqdn == "u.example"' } });
  });
});

describe("loadRuleSet", () => {
  it("serves enabled rules; a write in this isolate is seen at once", async () => {
    const name = `ls-${crypto.randomUUID().slice(0, 8)}.example`;
    const ctx = { dns: { fqdn: `a.${name}`, type: "A" }, identity: null };
    invalidateRuleSet();
    expect(matchRule(await loadRuleSet(env), "dns", ctx)).toBeNull();
    const rule = (await post(block(`any(dns.domains[*] == "${name}")`))).rule;
    expect(matchRule(await loadRuleSet(env), "dns", ctx)?.id).toBe(rule.id);
    await admin("PUT", `/api/v1/gateway/rules/${rule.id}`, { enabled: false });
    expect(matchRule(await loadRuleSet(env), "dns", ctx)).toBeNull();
    await admin("PUT", `/api/v1/gateway/rules/${rule.id}`, { enabled: true });
    expect(matchRule(await loadRuleSet(env), "dns", ctx)?.id).toBe(rule.id);
    await admin("DELETE", `/api/v1/gateway/rules/${rule.id}`);
    expect(matchRule(await loadRuleSet(env), "dns", ctx)).toBeNull();
  });

  it("is cached: a change made behind the API (another isolate) is not seen until the cache expires or is dropped", async () => {
    const name = `cache-${crypto.randomUUID().slice(0, 8)}.example`;
    const ctx = { dns: { fqdn: name, type: "A" }, identity: null };
    const rule = (await post(block(`dns.fqdn == "${name}"`))).rule;
    expect(matchRule(await loadRuleSet(env), "dns", ctx)?.id).toBe(rule.id);
    await env.DB.prepare("UPDATE gateway_rules SET enabled = 0 WHERE id = ?").bind(rule.id).run();
    expect(matchRule(await loadRuleSet(env), "dns", ctx)?.id).toBe(rule.id);
    invalidateRuleSet();
    expect(matchRule(await loadRuleSet(env), "dns", ctx)).toBeNull();
  });
});
