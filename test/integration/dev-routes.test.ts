import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { ADMIN_TOKEN, createConnection, ORIGIN, scim } from "../helpers";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";

/** Calls the app with `overrides` on top of the test bindings (vitest config sets DEV_ROUTES=true). */
async function fetchWith(overrides: Partial<Env>, path: string, init: RequestInit = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(`${ORIGIN}${path}`, init), { ...env, ...overrides } as Env, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

const devPaths: [string, string][] = [
  ["GET", "/__dev/sessions/check?user_id=u&session_id=s"],
  ["POST", "/__dev/sessions"],
  ["GET", "/__dev/bench/floor?id=x"],
  ["GET", "/__dev/bench/floor-page?idp_id=x"],
  ["POST", "/__dev/bench/floor-write?id=x"],
  ["POST", "/__dev/bench/floor-write-do?id=x"],
  ["POST", "/__dev/bench/seed"],
];

describe("/__dev is closed unless DEV_ROUTES=true, and admin-only when open", () => {
  it.each(devPaths)("%s %s → 404 with DEV_ROUTES off, even with the admin token", async (method, path) => {
    for (const value of ["false", "", "TRUE", "1"]) {
      const res = await fetchWith({ DEV_ROUTES: value }, path, { method, ...bearer(ADMIN_TOKEN) });
      expect(res.status, `DEV_ROUTES=${JSON.stringify(value)}`).toBe(404);
    }
  });

  it.each(devPaths)("%s %s → 404 with DEV_ROUTES off and no token (existence is not revealed)", async (method, path) => {
    const res = await fetchWith({ DEV_ROUTES: "false" }, path, { method });
    expect(res.status).toBe(404);
  });

  it.each(devPaths)("%s %s → 401 with DEV_ROUTES on but no or a wrong admin token", async (method, path) => {
    expect((await fetchWith({}, path, { method })).status).toBe(401);
    expect((await fetchWith({}, path, { method, ...bearer("not-the-admin-token") })).status).toBe(401);
  });

  it("with DEV_ROUTES on and the admin token, the floor route answers", async () => {
    const res = await fetchWith({}, "/__dev/bench/floor?id=nobody", bearer(ADMIN_TOKEN));
    expect(res.status).toBe(200);
  });
});

describe("/__dev/sessions/check fails closed", () => {
  async function userWithSession(): Promise<{ userId: string; sessionId: string }> {
    const conn = await createConnection();
    const created = await scim(conn, "POST", "/Users", { schemas: [USER], userName: `dev-${crypto.randomUUID()}@example.com`, active: true });
    const userId = ((await created.json()) as { id: string }).id;
    const opened = await fetchWith({}, "/__dev/sessions", {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ user_id: userId, kind: "access", app_id: "app" }),
    });
    expect(opened.status).toBe(200);
    return { userId, sessionId: ((await opened.json()) as { result: { session_id: string } }).result.session_id };
  }

  const throwingStub = (error: unknown) =>
    ({
      getByName: () => ({
        check: () => Promise.reject(error),
      }),
    }) as unknown as Env["USER_SESSIONS"];

  it("a valid session checks 200 through the real object (control)", async () => {
    const { userId, sessionId } = await userWithSession();
    const res = await fetchWith({}, `/__dev/sessions/check?user_id=${userId}&session_id=${sessionId}`, bearer(ADMIN_TOKEN));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "valid" });
  });

  it.each([
    ["an Error", new Error("Durable Object reset because its code was updated")],
    ["a non-Error value", "overloaded"],
  ])("when the Durable Object call rejects with %s: 503 {status:\"unavailable\"}, never 200", async (_name, error) => {
    const { userId, sessionId } = await userWithSession();
    const res = await fetchWith({ USER_SESSIONS: throwingStub(error) }, `/__dev/sessions/check?user_id=${userId}&session_id=${sessionId}`, bearer(ADMIN_TOKEN));
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: "unavailable" });
  });

  it("when getting the stub itself throws: 503, never 200", async () => {
    const { userId, sessionId } = await userWithSession();
    const broken = { getByName: () => { throw new Error("binding unavailable"); } } as unknown as Env["USER_SESSIONS"];
    const res = await fetchWith({ USER_SESSIONS: broken }, `/__dev/sessions/check?user_id=${userId}&session_id=${sessionId}`, bearer(ADMIN_TOKEN));
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: "unavailable" });
  });
});

describe("benchmark write floors really write", () => {
  it("floor-write and floor-write-do update one row (and 0 for an unknown id)", async () => {
    const conn = await createConnection();
    const created = await scim(conn, "POST", "/Users", { schemas: [USER], userName: `floor-${crypto.randomUUID()}@example.com` });
    const id = ((await created.json()) as { id: string }).id;
    for (const path of ["/__dev/bench/floor-write", "/__dev/bench/floor-write-do"]) {
      const hit = await fetchWith({}, `${path}?id=${id}`, { method: "POST", ...bearer(ADMIN_TOKEN) });
      expect(hit.status).toBe(200);
      expect(await hit.json()).toEqual({ changes: 1 });
      const miss = await fetchWith({}, `${path}?id=nobody`, { method: "POST", ...bearer(ADMIN_TOKEN) });
      expect(await miss.json()).toEqual({ changes: 0 });
    }
  });
});
