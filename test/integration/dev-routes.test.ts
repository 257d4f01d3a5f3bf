import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { signAccessToken } from "../../src/access/tokens/jwt";
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
  ["GET", "/__dev/bench/floor?id=x"],
  ["GET", "/__dev/bench/floor-page?idp_id=x"],
  ["POST", "/__dev/bench/floor-write?id=x"],
  ["POST", "/__dev/bench/floor-write-do?id=x"],
  ["POST", "/__dev/bench/seed"],
  ["GET", "/__dev/bench/jwt-verify?token=x&aud=y"],
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

describe("sessions are opened only by a real Access login", () => {
  // Issue 8: the development session routes are gone; a session comes from /cdn-cgi/access/callback
  // and is checked by a proxied request (test/integration/access-proxy*.test.ts).
  it.each([
    ["POST", "/__dev/sessions"],
    ["GET", "/__dev/sessions/check?user_id=u&session_id=s"],
  ])("%s %s → 404 even with DEV_ROUTES on and the admin token", async (method, path) => {
    const res = await fetchWith({}, path, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      ...(method === "POST" ? { body: JSON.stringify({ user_id: "u", kind: "access" }) } : {}),
    });
    expect(res.status).toBe(404);
  });
});

describe("/__dev/bench/jwt-verify: JWT verification alone (the access bench's floor)", () => {
  async function appToken(aud: string, expiresIn = 600): Promise<string> {
    return signAccessToken(
      env,
      { aud: [aud], email: "ada@example.com", sub: "user-1", exp: Math.floor(Date.now() / 1000) + expiresIn, type: "app", identity_nonce: "n", sid: "s", groups_version: 0, idp_id: "idp" },
      ORIGIN,
    );
  }

  it("a token for the audience verifies (200); another audience or a tampered token does not (401, with the reason)", async () => {
    const token = await appToken("aud-1");
    const ok = await fetchWith({}, `/__dev/bench/jwt-verify?token=${token}&aud=aud-1`, bearer(ADMIN_TOKEN));
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ ok: true, sub: "user-1" });

    const wrongAud = await fetchWith({}, `/__dev/bench/jwt-verify?token=${token}&aud=aud-2`, bearer(ADMIN_TOKEN));
    expect(wrongAud.status).toBe(401);
    expect(await wrongAud.json()).toEqual({ ok: false, reason: "wrong_audience" });

    const [h, p, sig] = token.split(".");
    const tampered = `${h}.${p}.${sig!.slice(0, -4)}${sig!.slice(-4) === "AAAA" ? "BBBB" : "AAAA"}`;
    const bad = await fetchWith({}, `/__dev/bench/jwt-verify?token=${tampered}&aud=aud-1`, bearer(ADMIN_TOKEN));
    expect(bad.status).toBe(401);
    expect(await bad.json()).toEqual({ ok: false, reason: "bad_signature" });
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
