// The revocation probe's classification and verdict (scripts/lib/probe-verdict.mjs), table-driven,
// then end to end against the Worker as the probe runs it: sessions opened by real logins through
// an OIDC provider, checked by proxied requests. A real deactivation passes, no deactivation fails,
// and a Durable Object outage (the proxy's fail-closed 503) fails rather than counting as a refusal.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { classifyCheck, isValidCheck, probeVerdict, type TimedCheck } from "../../scripts/lib/probe-verdict.mjs";
import { app } from "../../src/app";
import type { TestConnection } from "../helpers";
import { accessWorld, provisionUser, scim, type AccessWorld } from "../support/access";
import { Browser } from "../support/browser";

const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

describe("classifyCheck", () => {
  const login = "https://edge.test/cdn-cgi/access/login/app.example.test?redirect_url=https%3A%2F%2Fapp.example.test%2F";
  it.each<[number, unknown, string | null, string]>([
    [200, { path: "/", email: "ada@example.com" }, null, "success"],
    [200, { status: "revoked", reason: "deprovisioned" }, null, "success"], // a 200 lets the request through, whatever the body says
    [302, undefined, login, "refusal"], // a browser sent back to sign in
    [401, { error: "authentication_required", login_url: login }, null, "refusal"], // XHR / cf-access-token client
    [302, undefined, "https://app.example.test/elsewhere", "unexplained"], // the origin's own redirect is not a refusal
    [302, undefined, "https://edge.test/cdn-cgi/access/login/", "unexplained"],
    [302, undefined, null, "unexplained"],
    [302, undefined, "not a url", "unexplained"],
    [401, { status: "revoked", reason: "deprovisioned" }, null, "unexplained"], // the removed dev route's shape is no longer a refusal
    [401, undefined, null, "unexplained"],
    [403, "Access denied", null, "unexplained"], // a policy deny says nothing about revocation
    [404, { success: false }, null, "unexplained"], // wrong host: no app
    [400, { error: "authentication_required" }, null, "unexplained"],
    [0, undefined, null, "unexplained"], // network error
    [500, { error: "authentication_required" }, null, "server_error"],
    [502, "The application's origin could not be reached.", null, "server_error"],
    [503, "The session service is temporarily unavailable; retry shortly.", null, "server_error"],
  ])("HTTP %i %j (Location %s) → %s", (status, body, location, kind) => {
    expect(classifyCheck(status, body, location)).toBe(kind);
  });

  it.each([
    [200, { path: "/", email: "ada@example.com" }, true],
    [200, { path: "/", email: null }, false], // the origin saw no verified assertion
    [200, { status: "valid" }, false],
    [200, undefined, false],
    [403, { email: "ada@example.com" }, false],
  ])("isValidCheck(%i, %j) = %s", (status, body, valid) => {
    expect(isValidCheck(status, body)).toBe(valid);
  });
});

describe("probeVerdict", () => {
  const at = (sid: string, started: number, ended: number, status: number, body: unknown): TimedCheck => ({ sid, started, ended, status, kind: classifyCheck(status, body) });
  const revoked = { error: "authentication_required" };
  // SCIM request sent at t=100, answered at t=110.
  const window = { sent: 100, answered: 110, sessions: 2 };

  it("passes: checks overlap the request, every session refused after the answer", () => {
    const v = probeVerdict({ ...window, checks: [at("a", 95, 105, 200, { status: "valid" }), at("b", 101, 108, 401, revoked), at("a", 111, 112, 401, revoked), at("b", 111, 113, 401, revoked)] });
    expect(v.failures).toEqual([]);
    expect(v).toMatchObject({ late_successes: 0, refusals_after_response: 2, checks_during_deactivation: 2, first_refusal_ms: 8 });
  });

  it.each<[string, TimedCheck[], RegExp]>([
    ["a late success", [at("a", 105, 108, 200, {}), at("a", 111, 112, 200, { status: "valid" }), at("b", 111, 112, 401, revoked)], /succeeded/],
    ["a 500 after the answer (used to count as a refusal)", [at("a", 105, 108, 200, {}), at("a", 111, 112, 500, {}), at("b", 111, 112, 401, revoked)], /5xx/],
    ["a 503 before the request", [at("a", 50, 60, 503, { status: "unavailable" }), at("a", 105, 108, 200, {}), at("a", 111, 112, 401, revoked), at("b", 111, 112, 401, revoked)], /5xx/],
    ["a 404 (route missing)", [at("a", 105, 108, 200, {}), at("a", 111, 112, 404, {}), at("b", 111, 112, 401, revoked)], /neither 200/],
    ["a session never checked after the answer", [at("a", 105, 108, 200, {}), at("a", 111, 112, 401, revoked)], /1\/2 session/],
    ["no check during the request", [at("a", 111, 112, 401, revoked), at("b", 111, 112, 401, revoked)], /concurrency not exercised/],
  ])("fails on %s", (_name, checks, message) => {
    const v = probeVerdict({ ...window, checks });
    expect(v.failures.join("\n")).toMatch(message);
  });
});

describe("the probe's verdict against the Worker", () => {
  let world: AccessWorld;
  afterEach(() => world?.restore());

  /** One proxied request with an app cookie, on top of the test bindings plus `overrides`. */
  async function proxied(token: string, overrides: Partial<Env>): Promise<Response> {
    const ctx = createExecutionContext();
    const request = new Request(`https://${world.app.domain}/probe`, { headers: { cookie: `CF_Authorization=${token}` }, redirect: "manual" });
    const res = await app.fetch(request, { ...env, ...overrides } as Env, ctx);
    await waitOnExecutionContext(ctx);
    return res;
  }

  /**
   * Logs one user in 6 times (each a browser of its own, through the IdP), proves every app cookie
   * valid by a proxied request, runs `deactivate` with requests in flight, then sends one more
   * proxied request per session.
   */
  async function probe(deactivate: (conn: TestConnection, userId: string) => Promise<void>, overridesAfter: Partial<Env> = {}) {
    world = await accessWorld({ kind: "okta" });
    const user = await provisionUser(world.conn, `probe-${crypto.randomUUID().slice(0, 8)}@example.com`);
    const sessions: string[] = [];
    for (let i = 0; i < 6; i++) {
      const browser = new Browser({ external: { [world.idp.host]: world.idp.handle } });
      world.idp.nextLogin = { email: user.userName };
      expect((await browser.get(`https://${world.app.domain}/`)).response.status).toBe(200);
      sessions.push(browser.cookie(world.app.domain, "CF_Authorization")!.value);
    }
    expect(new Set(sessions).size).toBe(6);
    let clock = 0;
    const check = async (sid: string, overrides: Partial<Env> = {}): Promise<TimedCheck & { body: unknown }> => {
      const started = ++clock;
      const res = await proxied(sid, overrides);
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        /* an HTML page or plain text */
      }
      return { sid, started, ended: ++clock, status: res.status, kind: classifyCheck(res.status, body, res.headers.get("location")), body };
    };
    const before = await Promise.all(sessions.map((sid) => check(sid)));
    expect(before.every((c) => isValidCheck(c.status, c.body))).toBe(true);
    const sent = ++clock;
    const inFlight = sessions.map((sid) => check(sid)); // started before the answer
    await deactivate(world.conn, user.id);
    const answered = ++clock;
    const during = await Promise.all(inFlight);
    const after = await Promise.all(sessions.map((sid) => check(sid, overridesAfter)));
    return probeVerdict({ checks: [...before, ...during, ...after], sent, answered, sessions: sessions.length });
  }

  const okta = async (conn: TestConnection, userId: string) => {
    const res = await scim(conn, "PATCH", `/Users/${userId}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", value: { active: false } }] });
    expect(res.status).toBe(200);
  };

  it("passes when the deactivation revokes every session", async () => {
    const v = await probe(okta);
    expect(v.failures).toEqual([]);
    expect(v.refusals_after_response).toBe(6);
  });

  it("fails when no deactivation is sent (late successes)", async () => {
    const v = await probe(async () => {});
    expect(v.late_successes).toBe(6);
    expect(v.failures.length).toBeGreaterThan(0);
  });

  it("fails when the session authority is down after the deactivation (503s are not refusals)", async () => {
    const down = { getByName: () => ({ check: () => Promise.reject(new Error("down")) }) } as unknown as Env["USER_SESSIONS"];
    const v = await probe(okta, { USER_SESSIONS: down });
    expect(v.server_errors).toBe(6);
    expect(v.late_successes).toBe(0);
    expect(v.failures.join("\n")).toMatch(/5xx/);
  });
});
