// The revocation probe's classification and verdict (scripts/lib/probe-verdict.mjs), table-driven,
// then end to end against the Worker: a real deactivation passes, no deactivation fails, and a
// Durable Object outage (the fail-closed 503) fails rather than counting as a refusal.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { classifyCheck, isValidCheck, probeVerdict, type TimedCheck } from "../../scripts/lib/probe-verdict.mjs";
import { app } from "../../src/app";
import { ADMIN_TOKEN, createConnection, ORIGIN, openSession, scim } from "../helpers";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

describe("classifyCheck", () => {
  it.each([
    [200, { status: "valid" }, "success"],
    [200, { status: "revoked", reason: "deprovisioned" }, "success"], // a 200 lets the request through, whatever the body says
    [401, { status: "revoked", reason: "deprovisioned" }, "refusal"],
    [403, { status: "deprovisioned" }, "refusal"],
    [401, { status: "revoked", reason: "admin_revoked" }, "refusal"],
    [401, { status: "unknown" }, "unexplained"],
    [401, { status: "expired" }, "unexplained"],
    [401, undefined, "unexplained"],
    [404, { success: false }, "unexplained"],
    [400, { status: "revoked" }, "unexplained"],
    [0, undefined, "unexplained"], // network error
    [500, { status: "revoked" }, "server_error"],
    [503, { status: "unavailable" }, "server_error"],
  ])("HTTP %i %j → %s", (status, body, kind) => {
    expect(classifyCheck(status, body)).toBe(kind);
  });

  it.each([
    [200, { status: "valid" }, true],
    [200, { status: "revoked" }, false],
    [200, undefined, false],
    [401, { status: "valid" }, false],
  ])("isValidCheck(%i, %j) = %s", (status, body, valid) => {
    expect(isValidCheck(status, body)).toBe(valid);
  });
});

describe("probeVerdict", () => {
  const at = (sid: string, started: number, ended: number, status: number, body: unknown): TimedCheck => ({ sid, started, ended, status, kind: classifyCheck(status, body) });
  const revoked = { status: "revoked", reason: "deprovisioned" };
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
  async function call(path: string, init: RequestInit = {}, overrides: Partial<Env> = {}): Promise<Response> {
    const ctx = createExecutionContext();
    const res = await app.fetch(new Request(`${ORIGIN}${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(init.headers ?? {}) } }), { ...env, ...overrides } as Env, ctx);
    await waitOnExecutionContext(ctx);
    return res;
  }

  /** Opens `n` sessions, proves them valid, runs `deactivate` with checks in flight, then checks each session again. */
  async function probe(deactivate: (conn: Awaited<ReturnType<typeof createConnection>>, userId: string) => Promise<void>, overridesAfter: Partial<Env> = {}) {
    const conn = await createConnection({ type: "okta" });
    const created = await scim(conn, "POST", "/Users", { schemas: [USER], userName: `probe-${crypto.randomUUID()}@example.com`, active: true });
    const userId = ((await created.json()) as { id: string }).id;
    const sessions = await Promise.all(Array.from({ length: 6 }, (_, i) => openSession(userId, "access", { app_id: `app-${i}` })));
    let clock = 0;
    const check = async (sid: string, overrides: Partial<Env> = {}): Promise<TimedCheck> => {
      const started = ++clock;
      const res = await call(`/__dev/sessions/check?user_id=${userId}&session_id=${sid}`, {}, overrides);
      const body = await res.json().catch(() => undefined);
      return { sid, started, ended: ++clock, status: res.status, kind: classifyCheck(res.status, body) };
    };
    const before = await Promise.all(sessions.map((sid) => check(sid)));
    expect(before.every((c) => c.status === 200)).toBe(true);
    const sent = ++clock;
    const inFlight = sessions.map((sid) => check(sid)); // started before the answer
    await deactivate(conn, userId);
    const answered = ++clock;
    const during = await Promise.all(inFlight);
    const after = await Promise.all(sessions.map((sid) => check(sid, overridesAfter)));
    return probeVerdict({ checks: [...before, ...during, ...after], sent, answered, sessions: sessions.length });
  }

  const okta = async (conn: Awaited<ReturnType<typeof createConnection>>, userId: string) => {
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
