// The proxy fails closed when the user's Durable Object cannot answer: a 503 with Retry-After,
// never a 200 and never the origin. (This was tested on the development route
// /__dev/sessions/check until issue 8 removed it; the protected path is now the proxy itself.)
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { accessWorld, loginAs, provisionUser, type AccessWorld } from "../support/access";

let world: AccessWorld;
afterEach(() => world?.restore());

/** A proxied request with the app cookie, with `overrides` on top of the test bindings. */
async function proxied(token: string, overrides: Partial<Env> = {}, headers: Record<string, string> = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const request = new Request(`https://${world.app.domain}/doc`, { headers: { cookie: `CF_Authorization=${token}`, ...headers }, redirect: "manual" });
  const res = await app.fetch(request, { ...env, ...overrides } as Env, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

const rejectingCheck = (error: unknown) => ({ getByName: () => ({ check: () => Promise.reject(error) }) }) as unknown as Env["USER_SESSIONS"];

describe("the proxy fails closed when the session authority is unavailable", () => {
  async function loggedIn(): Promise<string> {
    world = await accessWorld();
    await provisionUser(world.conn, "ada@example.com");
    expect((await loginAs(world, "ada@example.com")).response.status).toBe(200);
    return world.browser.cookie(world.app.domain, "CF_Authorization")!.value;
  }

  it("control: the same cookie through the real object is forwarded (200)", async () => {
    const token = await loggedIn();
    const hits = world.origin.hits.length;
    const res = await proxied(token);
    expect(res.status).toBe(200);
    expect(world.origin.hits.length).toBe(hits + 1);
  });

  it.each([
    ["an Error", new Error("Durable Object reset because its code was updated")],
    ["a non-Error value", "overloaded"],
  ])("when the Durable Object call rejects with %s: 503 with Retry-After, the origin is not reached", async (_name, error) => {
    const token = await loggedIn();
    const hits = world.origin.hits.length;
    for (const headers of [{}, { "x-requested-with": "XMLHttpRequest" }] as Record<string, string>[]) {
      const res = await proxied(token, { USER_SESSIONS: rejectingCheck(error) }, headers);
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("1");
      expect(res.headers.get("set-cookie")).toBeNull(); // not a refusal: the cookie is kept for the retry
    }
    expect(world.origin.hits.length).toBe(hits);
  });

  it("when getting the stub itself throws: still no 200 and no origin hit", async () => {
    const token = await loggedIn();
    const hits = world.origin.hits.length;
    const broken = { getByName: () => { throw new Error("binding unavailable"); } } as unknown as Env["USER_SESSIONS"];
    const res = await proxied(token, { USER_SESSIONS: broken });
    expect(res.status).toBeGreaterThanOrEqual(500);
    expect(world.origin.hits.length).toBe(hits);
  });
});
