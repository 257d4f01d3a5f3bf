// The gateway bench's development routes (src/dev/routes.ts): closed without DEV_ROUTES and the admin token like
// every /__dev route, and doing what bench/gateway.mjs relies on — the DoH floor forwards to the same upstream
// path (cache included) with no token, bulk rules are inserted and switched, and rule-match uses the resolver's RuleSet.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { parseMessage, TYPE } from "../../src/gateway/dns/codec";
import { clearAnswerCache } from "../../src/gateway/upstream";
import { invalidateRuleSet } from "../../src/gateway/rules-store";
import { a, dnsQuery, dnsResponse } from "../support/dns";
import { routeFetch } from "../support/fetch-router";
import { ADMIN_TOKEN, ORIGIN } from "../helpers";

const UPSTREAM = "https://upstream.test/dns-query";
let asked: string[];
let restore: () => void;
beforeEach(() => {
  asked = [];
  restore = routeFetch({
    "upstream.test": async (request) => {
      const m = parseMessage(new Uint8Array(await request.arrayBuffer()));
      const q = m.ok ? m.value.questions[0]! : null;
      if (!m.ok || !q) return new Response("bad", { status: 400 });
      asked.push(q.name);
      return new Response(dnsResponse({ id: m.value.header.id, qname: q.name, qtype: q.type, answers: [a(q.name, "192.0.2.9", 120)] }), { headers: { "content-type": "application/dns-message" } });
    },
  });
  clearAnswerCache();
  invalidateRuleSet();
});
afterEach(() => restore());

async function call(path: string, init: RequestInit = {}, overrides: Partial<Env> = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(`${ORIGIN}${path}`, init), { ...env, GATEWAY_UPSTREAM: UPSTREAM, ...overrides } as Env, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const post = (path: string, body: unknown, headers: Record<string, string> = admin) => call(path, { method: "POST", headers: { ...headers, "content-type": "application/json" }, body: JSON.stringify(body) });
const floor = (name: string, headers: Record<string, string> = admin, overrides: Partial<Env> = {}) =>
  call("/__dev/bench/doh-floor", { method: "POST", headers: { ...headers, "content-type": "application/dns-message" }, body: dnsQuery(name) }, overrides);

describe("gateway bench routes are closed like every /__dev route", () => {
  it.each([
    ["POST", "/__dev/bench/doh-floor"],
    ["POST", "/__dev/bench/gateway-rules"],
    ["GET", "/__dev/bench/rule-match?name=a.test"],
  ])("%s %s → 404 with DEV_ROUTES off, 401 without the admin token", async (method, path) => {
    expect((await call(path, { method, headers: admin }, { DEV_ROUTES: "false" })).status).toBe(404);
    expect((await call(path, { method })).status).toBe(401);
  });
});

describe("/__dev/bench/doh-floor", () => {
  it("forwards through the answer cache to GATEWAY_UPSTREAM: one exchange for two queries of one name", async () => {
    for (let i = 0; i < 2; i++) {
      const res = await floor("www.floor.test");
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("application/dns-message");
      const m = parseMessage(new Uint8Array(await res.arrayBuffer()));
      expect(m.ok && m.value.records.filter((r) => r.type === TYPE.A)).toHaveLength(1);
    }
    expect(asked).toEqual(["www.floor.test"]);
  });

  it("answers SERVFAIL (rcode 2) when the upstream fails, and 400 for a malformed message", async () => {
    const res = await floor("x.test", admin, { GATEWAY_UPSTREAM: "https://unrouted.test/dns-query" });
    const m = parseMessage(new Uint8Array(await res.arrayBuffer()));
    expect(m.ok && m.value.header.flags & 0xf).toBe(2);
    const bad = await call("/__dev/bench/doh-floor", { method: "POST", headers: admin, body: Uint8Array.of(1, 2, 3) });
    expect(bad.status).toBe(400);
  });
});

describe("/__dev/bench/gateway-rules and /__dev/bench/rule-match", () => {
  it("inserts parsed block rules, switches them off and on, and rule-match sees the resolver's RuleSet", async () => {
    const match = async (name: string, group = "") =>
      ((await (await call(`/__dev/bench/rule-match?name=${name}&group=${group}&iterations=10`, { headers: admin })).json()) as { rule: { name: string } | null }).rule?.name ?? null;
    const created = await post("/__dev/bench/gateway-rules", { prefix: "bulk", count: 30 });
    expect(created.status).toBe(200);
    expect(((await created.json()) as { result: { created: number } }).result.created).toBe(30);
    // The three shapes: domains == (i % 3 = 1), domains in (2), fqdn == with a group condition (0).
    expect(await match("x.r1.bulk.bench.test")).toBe("bulk-1");
    expect(await match("alt-r2.bulk.bench.test")).toBe("bulk-2");
    expect(await match("www.r3.bulk.bench.test")).toBeNull();
    expect(await match("www.r3.bulk.bench.test", "risky")).toBe("bulk-3");
    expect(await match("notr1.bulk.bench.test")).toBeNull();

    const off = await post("/__dev/bench/gateway-rules", { prefix: "bulk", enabled: false });
    expect(((await off.json()) as { result: { changed: number } }).result.changed).toBe(30);
    expect(await match("x.r1.bulk.bench.test")).toBeNull();
    await post("/__dev/bench/gateway-rules", { prefix: "bulk", enabled: true });
    expect(await match("x.r1.bulk.bench.test")).toBe("bulk-1");

    // Appended after existing precedences: a second batch does not collide.
    expect((await post("/__dev/bench/gateway-rules", { prefix: "more", count: 3 })).status).toBe(200);
    expect((await post("/__dev/bench/gateway-rules", { prefix: "Bad Prefix", count: 3 })).status).toBe(400);
  });
});
