// The identity-aware DoH resolver end to end, in workerd: SCIM-provisioned users and groups, a rule
// made through the admin API, devices issued through the admin API, and a fake upstream DoH server
// (routeFetch) that answers with messages built by the test codec and records what it receives.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { FLAG, parseMessage, rcodeOf, TYPE } from "../../src/gateway/dns/codec";
import { parseQuery } from "../../src/gateway/dns/messages";
import { clearAnswerCache, resolveUpstream } from "../../src/gateway/upstream";
import { invalidateRuleSet } from "../../src/gateway/rules-store";
import { admin, createConnection, ORIGIN, provisionUser, scim, type TestConnection } from "../helpers";
import { routeFetch } from "../support/fetch-router";
import { a, base64Url, dnsQuery, dnsResponse, soa } from "../support/dns";

const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const UPSTREAM = "https://upstream.test/dns-query";

/** What the fake upstream saw: method, URL, headers and the DNS message. */
interface Seen {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: Uint8Array;
}

/** A fake upstream DoH resolver: `name → IPv4` answers with TTL 120, NXDOMAIN with an SOA for others; `mode` breaks it. */
function fakeUpstream() {
  const seen: Seen[] = [];
  const state = { mode: "ok" as "ok" | "500" | "network" | "garbage" | "wrong-question" | "hang", ttl: 120 };
  const handle = async (request: Request): Promise<Response> => {
    const body = new Uint8Array(await request.arrayBuffer());
    seen.push({ method: request.method, url: request.url, headers: Object.fromEntries(request.headers), body });
    if (state.mode === "500") return new Response("boom", { status: 500 });
    if (state.mode === "network") throw new TypeError("Network connection lost.");
    if (state.mode === "garbage") return new Response(Uint8Array.of(1, 2, 3), { headers: { "content-type": "application/dns-message" } });
    if (state.mode === "hang") return new Promise<Response>((_resolve, reject) => request.signal.addEventListener("abort", () => reject(request.signal.reason)));
    const m = parseMessage(body);
    if (!m.ok) return new Response("bad", { status: 400 });
    const q = m.value.questions[0]!;
    const qname = state.mode === "wrong-question" ? "other.test" : q.name;
    const ip = q.name.toLowerCase().endsWith("nx.test") ? null : "192.0.2.7";
    const answer = ip
      ? dnsResponse({ id: m.value.header.id, qname, qtype: q.type, answers: q.type === TYPE.A ? [a(q.name, ip, state.ttl)] : [], authority: q.type === TYPE.A ? [] : [soa("test", 300, 60)], edns: m.value.header.arcount > 0 })
      : dnsResponse({ id: m.value.header.id, qname, qtype: q.type, rcode: 3, authority: [soa("test", 300, 45)], edns: m.value.header.arcount > 0 });
    return new Response(answer, { headers: { "content-type": "application/dns-message" } });
  };
  return { seen, state, handle };
}

let upstream: ReturnType<typeof fakeUpstream>;
let restore: () => void;
beforeEach(() => {
  upstream = fakeUpstream();
  restore = routeFetch({ "upstream.test": upstream.handle });
  clearAnswerCache();
  invalidateRuleSet();
});
afterEach(() => restore());

/** Calls the Worker's app with the fake upstream configured; waits for its waitUntil work (the DNS log). */
async function call(path: string, init: RequestInit = {}, overrides: Partial<Env> = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(`${ORIGIN}${path}`, init), { ...env, GATEWAY_UPSTREAM: UPSTREAM, ...overrides } as Env, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

/** RFC 8484 GET form with the token in the path. */
function get(token: string, message: Uint8Array, overrides: Partial<Env> = {}): Promise<Response> {
  return call(`/dns-query/${token}?dns=${base64Url(message)}`, { headers: { accept: "application/dns-message" } }, overrides);
}

/** RFC 8484 POST form with the token in `CF-Authorization`. */
function post(token: string | null, message: BodyInit, headers: Record<string, string> = {}): Promise<Response> {
  return call("/dns-query", {
    method: "POST",
    headers: { "content-type": "application/dns-message", ...(token ? { "cf-authorization": token } : {}), ...headers },
    body: message,
  });
}

/** The DNS answer in a DoH response: rcode, answer IPv4/IPv6 texts and TTLs. */
async function answerOf(res: Response) {
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("application/dns-message");
  const bytes = new Uint8Array(await res.arrayBuffer());
  const m = parseMessage(bytes);
  if (!m.ok) throw new Error(`answer does not parse: ${m.error}`);
  const answers = m.value.records.filter((r) => r.section === "answer");
  const ips = answers.map((r) => {
    const rd = bytes.slice(r.rdataOffset, r.rdataOffset + r.rdlength);
    return r.rdlength === 4 ? [...rd].join(".") : Array.from({ length: 8 }, (_, i) => ((rd[2 * i]! << 8) | rd[2 * i + 1]!).toString(16)).join(":");
  });
  return { id: m.value.header.id, qr: (m.value.header.flags & FLAG.QR) !== 0, rcode: rcodeOf(m.value.header.flags), question: m.value.questions[0]?.name, ips, ttls: answers.map((r) => r.ttl), cacheControl: res.headers.get("cache-control") };
}

async function device(userId: string): Promise<{ id: string; token: string; doh_url: string }> {
  const res = await admin("POST", "/api/v1/gateway/devices", { user_id: userId, name: "laptop" });
  expect(res.status).toBe(200);
  return ((await res.json()) as { result: { id: string; token: string; doh_url: string } }).result;
}

interface World {
  conn: TestConnection;
  risky: { id: string; userName: string; token: string };
  other: { id: string; userName: string; token: string };
  groupId: string;
}

/** The seed's example: a user in "risky" and one outside it, a block rule for example.com for "risky". */
async function world(): Promise<World> {
  const conn = await createConnection({ scim_config: { identity_update_behavior: "automatic" } });
  const risky = await provisionUser(conn);
  const other = await provisionUser(conn);
  const g = await scim(conn, "POST", "/Groups", { schemas: [GROUP], displayName: "risky", members: [{ value: risky.id }] });
  expect(g.status).toBe(201);
  const groupId = ((await g.json()) as { id: string }).id;
  const rules = (await (await admin("GET", "/api/v1/gateway/rules")).json()) as { result: { id: string }[] };
  for (const r of rules.result) await admin("DELETE", `/api/v1/gateway/rules/${r.id}`);
  const rule = await admin("POST", "/api/v1/gateway/rules", {
    name: "block example.com for risky",
    action: "block",
    filters: ["dns"],
    traffic: 'any(dns.domains[*] == "example.com")',
    identity: 'any(identity.groups.name[*] in {"risky"})',
  });
  expect(rule.status).toBe(200);
  return { conn, groupId, risky: { ...risky, token: (await device(risky.id)).token }, other: { ...other, token: (await device(other.id)).token } };
}

describe("the seed's example, end to end", () => {
  it("blocks example.com and its subdomains for the user in risky, not notexample.com; others resolve upstream", async () => {
    const w = await world();
    for (const name of ["example.com", "a.b.example.com", "EXAMPLE.com"]) {
      const blocked = await answerOf(await get(w.risky.token, dnsQuery(name, { id: 4242 })));
      expect(blocked).toMatchObject({ id: 4242, qr: true, rcode: 0, question: name, ips: ["0.0.0.0"], ttls: [60], cacheControl: "no-store" });
      const aaaa = await answerOf(await get(w.risky.token, dnsQuery(name, { type: TYPE.AAAA })));
      expect(aaaa.ips).toEqual(["0:0:0:0:0:0:0:0"]);
      const txt = await answerOf(await get(w.risky.token, dnsQuery(name, { type: TYPE.TXT })));
      expect([txt.rcode, txt.ips]).toEqual([0, []]);
    }
    expect(upstream.seen).toHaveLength(0);

    const allowed = await answerOf(await get(w.risky.token, dnsQuery("notexample.com")));
    expect(allowed).toMatchObject({ rcode: 0, ips: ["192.0.2.7"], cacheControl: "private, max-age=120" });
    const outside = await answerOf(await post(w.other.token, dnsQuery("a.b.example.com", { id: 7 })));
    expect(outside).toMatchObject({ id: 7, rcode: 0, ips: ["192.0.2.7"] });
    expect(upstream.seen.map((s) => parseMessage(s.body).ok && (parseMessage(s.body) as { value: { questions: { name: string }[] } }).value.questions[0]!.name)).toEqual(["notexample.com", "a.b.example.com"]);
  });

  it("refuses the device's next query after SCIM deactivation", async () => {
    const w = await world();
    expect((await answerOf(await get(w.other.token, dnsQuery("ok.test")))).rcode).toBe(0);
    const res = await scim(w.conn, "PATCH", `/Users/${w.other.id}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "active", value: false }] });
    expect(res.status).toBe(200);
    expect((await get(w.other.token, dnsQuery("ok.test"))).status).toBe(403);
    expect((await post(w.other.token, dnsQuery("ok.test"))).status).toBe(403);
  });

  it("resolves the next query after removal from risky (automatic)", async () => {
    const w = await world();
    expect((await answerOf(await get(w.risky.token, dnsQuery("example.com")))).ips).toEqual(["0.0.0.0"]);
    const res = await scim(w.conn, "PATCH", `/Groups/${w.groupId}`, { schemas: [PATCH_OP], Operations: [{ op: "remove", path: `members[value eq "${w.risky.id}"]` }] });
    expect(res.status).toBe(204);
    expect(await answerOf(await get(w.risky.token, dnsQuery("example.com")))).toMatchObject({ rcode: 0, ips: ["192.0.2.7"] });
  });

  it("records each answered query in the DNS activity log (decision and rule), never the token", async () => {
    const w = await world();
    await get(w.risky.token, dnsQuery("a.b.example.com", { type: TYPE.AAAA }));
    await get(w.risky.token, dnsQuery("Notexample.com"));
    upstream.state.mode = "500";
    await post(w.other.token, dnsQuery("down.test"));
    const rows = (await env.DB.prepare("SELECT * FROM gateway_dns_log WHERE user_id IN (?, ?) ORDER BY at, rowid").bind(w.risky.id, w.other.id).all<Record<string, string | null>>()).results;
    const ruleId = ((await (await admin("GET", "/api/v1/gateway/rules")).json()) as { result: { id: string }[] }).result[0]!.id;
    expect(rows.map((r) => [r.user_id, r.query_name, r.query_type, r.decision, r.rule_id])).toEqual([
      [w.risky.id, "a.b.example.com", "AAAA", "blocked", ruleId],
      [w.risky.id, "notexample.com", "A", "allowed", null],
      [w.other.id, "down.test", "A", "servfail", null],
    ]);
    expect(JSON.stringify(rows)).not.toContain(w.risky.token);
  });

  it("never shows the upstream a token, an identity or the client's address", async () => {
    const w = await world();
    await get(w.other.token, dnsQuery("path.test", { edns: { do: true, ecs: true } }));
    await call("/dns-query", {
      method: "POST",
      headers: { "content-type": "application/dns-message", "cf-authorization": w.other.token, "x-forwarded-for": "198.51.100.9", "cf-connecting-ip": "198.51.100.9", cookie: "CF_Authorization=x" },
      body: dnsQuery("header.test", { edns: { ecs: true } }),
    });
    expect(upstream.seen).toHaveLength(2);
    for (const s of upstream.seen) {
      expect(s.url).toBe(UPSTREAM);
      expect(s.method).toBe("POST");
      expect(Object.keys(s.headers).sort()).toEqual(["accept", "content-type"]);
      const everything = `${s.url} ${JSON.stringify(s.headers)} ${String.fromCharCode(...s.body)}`;
      for (const secret of [w.other.token, w.other.userName, w.other.id, "198.51.100.9", "CF_Authorization"]) expect(everything).not.toContain(secret);
      const m = parseMessage(s.body);
      // ID 0, and a bare OPT: the client's EDNS Client Subnet option is not forwarded.
      expect(m.ok && m.value.header.id).toBe(0);
      expect(m.ok && m.value.records.map((r) => r.rdlength)).toEqual([0]);
    }
  });
});

describe("RFC 8484 forms and refusals", () => {
  let w: World;
  beforeEach(async () => {
    w = await world();
  });

  it("answers GET and POST, with the token in the path or in CF-Authorization", async () => {
    const q = dnsQuery("forms.test", { id: 99 });
    const forms = [
      await get(w.other.token, q),
      await call(`/dns-query?dns=${base64Url(q)}`, { headers: { "cf-authorization": w.other.token } }),
      await post(w.other.token, q),
      await call(`/dns-query/${w.other.token}`, { method: "POST", headers: { "content-type": "application/dns-message" }, body: q }),
    ];
    for (const res of forms) expect(await answerOf(res)).toMatchObject({ id: 99, rcode: 0, ips: ["192.0.2.7"] });
  });

  it.each<[string, number, () => Promise<Response>]>([
    ["POST as text/plain", 415, () => call("/dns-query", { method: "POST", headers: { "content-type": "text/plain", "cf-authorization": w.other.token }, body: dnsQuery("x.test") })],
    ["POST without content type", 415, () => call("/dns-query", { method: "POST", headers: { "cf-authorization": w.other.token }, body: dnsQuery("x.test") })],
    ["POST over 65535 octets", 413, () => post(w.other.token, new Uint8Array(65536))],
    ["a streamed POST (no content-length) over 65535 octets", 413, () => post(w.other.token, new ReadableStream({ pull: (c) => c.enqueue(new Uint8Array(16384)) }))],
    ["GET over 65535 octets", 413, () => call(`/dns-query/${w.other.token}?dns=${"A".repeat(87400)}`)],
    ["POST of garbage", 400, () => post(w.other.token, Uint8Array.of(1, 2, 3))],
    ["POST of an empty body", 400, () => post(w.other.token, new Uint8Array(0))],
    ["GET without dns", 400, () => call(`/dns-query/${w.other.token}`)],
    ["GET with padded base64", 400, () => call(`/dns-query/${w.other.token}?dns=${base64Url(dnsQuery("x.test"))}==`)],
    ["GET with standard base64 characters", 400, () => call(`/dns-query/${w.other.token}?dns=AB+/`)],
    ["a response instead of a query", 400, () => post(w.other.token, dnsResponse({ qname: "x.test" }))],
    ["a question name with a pointer loop", 400, () => post(w.other.token, Uint8Array.of(0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1))],
    ["no token", 401, () => post(null, dnsQuery("x.test"))],
    ["a forged token", 401, () => get("A".repeat(43), dnsQuery("x.test"))],
    ["a token of the wrong shape", 401, () => get("not-a-token", dnsQuery("x.test"))],
    ["PUT", 405, () => call(`/dns-query/${w.other.token}`, { method: "PUT", body: dnsQuery("x.test") })],
  ])("%s → %i, never reaching the upstream", async (_label, status, send) => {
    const res = await send();
    expect(res.status).toBe(status);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await res.text()).not.toMatch(/at .*\.ts|Error:/);
    expect(upstream.seen).toHaveLength(0);
  });

  it("401 for a revoked device, 403 for a revoked user session (revoke_user)", async () => {
    const dev = await device(w.other.id);
    expect((await get(dev.token, dnsQuery("x.test"))).status).toBe(200);
    expect((await admin("DELETE", `/api/v1/gateway/devices/${dev.id}`)).status).toBe(200);
    expect((await get(dev.token, dnsQuery("x.test"))).status).toBe(401);
    const revoke = await admin("POST", "/api/v1/access/organizations/revoke_user", { email: w.risky.userName });
    expect(revoke.status).toBe(200);
    expect((await get(w.risky.token, dnsQuery("x.test"))).status).toBe(403);
  });

  it("fails closed with 503 (no SERVFAIL, no upstream) when the session authority is unavailable", async () => {
    const USER_SESSIONS = { getByName: () => ({ check: () => Promise.reject(new Error("overloaded")) }) } as unknown as Env["USER_SESSIONS"];
    const res = await get(w.other.token, dnsQuery("x.test"), { USER_SESSIONS });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(upstream.seen).toHaveLength(0);
  });

  it("answers non-QUERY opcodes NOTIMP and non-IN classes REFUSED, without the upstream", async () => {
    expect((await answerOf(await post(w.other.token, dnsQuery("x.test", { opcode: 2 })))).rcode).toBe(4);
    expect((await answerOf(await post(w.other.token, dnsQuery("version.bind", { klass: 3, type: TYPE.TXT })))).rcode).toBe(5);
    expect(upstream.seen).toHaveLength(0);
  });
});

describe("upstream failures and the answer cache", () => {
  let w: World;
  beforeEach(async () => {
    w = await world();
  });

  it.each(["500", "network", "garbage", "wrong-question", "hang"] as const)("upstream %s → SERVFAIL in a well-formed answer with the client's ID and question", async (mode) => {
    upstream.state.mode = mode;
    const res = await post(w.other.token, dnsQuery("Fail.Test", { id: 31337 }));
    expect(await answerOf(res)).toMatchObject({ id: 31337, qr: true, rcode: 2, question: "Fail.Test", ips: [], cacheControl: "no-store" });
    // Not cached: the upstream is asked again once it recovers.
    upstream.state.mode = "ok";
    expect((await answerOf(await post(w.other.token, dnsQuery("fail.test")))).rcode).toBe(0);
  });

  it("serves a repeated query from the cache: no upstream call, the client's ID and question case, TTL aged", async () => {
    const first = await answerOf(await get(w.other.token, dnsQuery("cached.test", { id: 1 })));
    expect(first.ttls).toEqual([120]);
    const second = await answerOf(await post(w.risky.token, dnsQuery("CACHED.test", { id: 2 })));
    expect(second).toMatchObject({ id: 2, question: "CACHED.test", ips: ["192.0.2.7"] });
    expect(second.ttls[0]).toBeLessThanOrEqual(120);
    expect(upstream.seen).toHaveLength(1);
    // A different type, DO bit or CD bit is another cache entry.
    await post(w.other.token, dnsQuery("cached.test", { edns: { do: true } }));
    await post(w.other.token, dnsQuery("cached.test", { cd: true }));
    await post(w.other.token, dnsQuery("cached.test", { type: TYPE.AAAA }));
    expect(upstream.seen).toHaveLength(4);
  });

  it("lowers a cached answer's TTLs by its age and drops it when its TTL has run out", async () => {
    const q = parseQuery(dnsQuery("age.test", { id: 5 }));
    if (!q.ok) throw new Error(q.error);
    const ttlsOf = (bytes: Uint8Array) => {
      const m = parseMessage(bytes);
      return m.ok ? m.value.records.filter((r) => r.section === "answer").map((r) => r.ttl) : null;
    };
    const t0 = Date.now();
    const first = await resolveUpstream({ GATEWAY_UPSTREAM: UPSTREAM }, q.value, t0);
    expect(first.ok && [first.cached, first.ttl, ttlsOf(first.bytes)]).toEqual([false, 120, [120]]);
    const later = await resolveUpstream({ GATEWAY_UPSTREAM: UPSTREAM }, q.value, t0 + 50_500);
    expect(later.ok && [later.cached, later.ttl, ttlsOf(later.bytes)]).toEqual([true, 70, [70]]);
    const expired = await resolveUpstream({ GATEWAY_UPSTREAM: UPSTREAM }, q.value, t0 + 120_000);
    expect(expired.ok && [expired.cached, expired.ttl]).toEqual([false, 120]);
    expect(upstream.seen).toHaveLength(2);
  });

  it("caches NXDOMAIN for the SOA minimum (RFC 2308) and advertises it privately", async () => {
    const first = await answerOf(await get(w.other.token, dnsQuery("gone.nx.test")));
    expect(first).toMatchObject({ rcode: 3, cacheControl: "private, max-age=45" });
    expect((await answerOf(await get(w.other.token, dnsQuery("gone.nx.test")))).rcode).toBe(3);
    expect(upstream.seen).toHaveLength(1);
  });

  it("does not cache an answer with TTL 0", async () => {
    upstream.state.ttl = 0;
    await get(w.other.token, dnsQuery("zero.test"));
    await get(w.other.token, dnsQuery("zero.test"));
    expect(upstream.seen).toHaveLength(2);
  });

  it.each([["blocked user first", ["risky", "other"]], ["allowed user first", ["other", "risky"]]] as const)(
    "never serves one user's decision to another (%s)",
    async (_label, order) => {
      for (const who of order) {
        const res = await answerOf(await get(w[who].token, dnsQuery("www.example.com")));
        expect(res.ips).toEqual(who === "risky" ? ["0.0.0.0"] : ["192.0.2.7"]);
        expect(res.cacheControl).toBe(who === "risky" ? "no-store" : "private, max-age=120");
      }
      expect(upstream.seen).toHaveLength(1);
    },
  );
});

describe("override rules", () => {
  it("answers with the rule's override_ips of the query's family, NODATA for the other", async () => {
    const w = await world();
    const rule = await admin("POST", "/api/v1/gateway/rules", { name: "override", action: "override", traffic: 'dns.fqdn == "portal.test"', rule_settings: { override_ips: ["192.0.2.99", "198.51.100.1"] } });
    expect(rule.status).toBe(200);
    expect(await answerOf(await get(w.other.token, dnsQuery("portal.test")))).toMatchObject({ rcode: 0, ips: ["192.0.2.99", "198.51.100.1"], ttls: [60, 60], cacheControl: "no-store" });
    expect((await answerOf(await get(w.other.token, dnsQuery("portal.test", { type: TYPE.AAAA })))).ips).toEqual([]);
    expect(upstream.seen).toHaveLength(0);
  });
});

describe("the route under fuzzing", () => {
  it("never answers 5xx to random or mutated messages from an authenticated device", async () => {
    const w = await world();
    const seed = dnsQuery("fuzz.test");
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }).map((edits) => {
            const bytes = seed.slice();
            for (const [at, v] of edits) bytes[at % bytes.length] = v;
            return bytes;
          }),
        ),
        fc.boolean(),
        async (bytes, viaGet) => {
          const res = viaGet ? await call(`/dns-query/${w.other.token}?dns=${base64Url(bytes)}`) : await post(w.other.token, bytes);
          expect(res.status).toBeLessThan(500);
          if (res.status === 200) expect(parseMessage(new Uint8Array(await res.arrayBuffer())).ok).toBe(true);
          else await res.arrayBuffer();
        },
      ),
      { numRuns: 150 },
    );
  });
});
