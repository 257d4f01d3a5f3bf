import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { ORIGIN } from "../helpers";

interface Echo {
  method: string;
  path: string;
  query: Record<string, string[]>;
  headers: Record<string, string>;
}

describe("/__dev/echo: the development origin", () => {
  it("answers without the admin token with the method, path, query and headers it received, never cached", async () => {
    const res = await exports.default.fetch(`${ORIGIN}/__dev/echo/wiki/page?x=1&x=2&y=`, {
      method: "POST",
      headers: { "cf-access-jwt-assertion": "eyJ.test.jwt", "cf-access-authenticated-user-email": "ada@example.com", "x-custom": "v" },
      body: "ignored",
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const body = (await res.json()) as Echo;
    expect(body).toMatchObject({ method: "POST", path: "/__dev/echo/wiki/page", query: { x: ["1", "2"], y: [""] } });
    expect(body.headers).toMatchObject({ "cf-access-jwt-assertion": "eyJ.test.jwt", "cf-access-authenticated-user-email": "ada@example.com", "x-custom": "v" });
  });

  it("answers at its root too", async () => {
    const res = await exports.default.fetch(`${ORIGIN}/__dev/echo`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as Echo).path).toBe("/__dev/echo");
  });

  it.each(["/__dev/echoes", "/__dev/bench/floor", "/__dev/echo-not"])("does not open the rest of /__dev: %s without the token is 401", async (path) => {
    const res = await exports.default.fetch(`${ORIGIN}${path}`);
    expect(res.status).toBe(401);
  });

  it("is 404 when DEV_ROUTES is off", async () => {
    const ctx = { waitUntil: () => {}, passThroughOnException: () => {}, props: {} } as unknown as ExecutionContext;
    const res = await app.fetch(new Request(`${ORIGIN}/__dev/echo/x`), { ...env, DEV_ROUTES: "false" }, ctx);
    expect(res.status).toBe(404);
    expect(JSON.stringify(await res.json())).not.toContain("headers");
  });
});
