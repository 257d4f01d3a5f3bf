import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { crossSite, presentedCsrf } from "../../src/dashboard/gate";
import { bearerToken, isReadMethod } from "../../src/auth/admin-token";
import { scimGroupRule } from "../../src/access/dashboard-policy";

const TEAM = "https://edge.test";

describe("crossSite", () => {
  it.each<[{ origin?: string; secFetchSite?: string }, boolean, string]>([
    [{}, false, "no Origin, no Sec-Fetch-Site (non-browser client)"],
    [{ origin: TEAM }, false, "same origin"],
    [{ origin: TEAM, secFetchSite: "same-origin" }, false, "same origin, fetch metadata agrees"],
    [{ origin: "https://evil.example" }, true, "foreign origin"],
    [{ origin: "null" }, true, "opaque origin (sandboxed frame, data: URL)"],
    [{ origin: "https://edge.test.evil.example" }, true, "look-alike origin"],
    [{ origin: "http://edge.test" }, true, "same host, other scheme"],
    [{ secFetchSite: "cross-site" }, true, "no Origin but cross-site fetch metadata"],
    [{ secFetchSite: "same-site" }, false, "same-site (a sibling host still needs the CSRF token)"],
  ])("%j → %s (%s)", (headers, expected) => {
    expect(crossSite(headers, TEAM)).toBe(expected);
  });
});

describe("presentedCsrf", () => {
  const form = (body: string, type = "application/x-www-form-urlencoded", extra: Record<string, string> = {}) =>
    new Request(`${TEAM}/dashboard/x`, { method: "POST", headers: { "content-type": type, ...extra }, body });

  it.each([
    ["form field", form("csrf=abc&name=n"), "abc"],
    ["header wins", form("csrf=abc", undefined, { "x-csrf-token": "hdr" }), "hdr"],
    ["JSON body is not parsed for it", form('{"csrf":"abc"}', "application/json"), ""],
    ["missing", form("name=n"), ""],
  ] as const)("%s", async (_, req, expected) => {
    expect(await presentedCsrf(req)).toBe(expected);
  });

  it("leaves the body for the handler: a handler behind a middleware that reads it can still parse the form", async () => {
    const app = new Hono();
    app.use("*", async (c, next) => {
      expect(await presentedCsrf(c.req.raw)).toBe("t0k");
      await next();
    });
    app.post("/", async (c) => c.json(await c.req.parseBody()));
    const res = await app.request("/", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "csrf=t0k&name=Ada" });
    expect(await res.json()).toEqual({ csrf: "t0k", name: "Ada" });
    const multipart = new FormData();
    multipart.set("csrf", "t0k");
    multipart.set("name", "Ada");
    const res2 = await app.request("/", { method: "POST", body: multipart });
    expect(await res2.json()).toEqual({ csrf: "t0k", name: "Ada" });
  });
});

describe("admin bearer helpers", () => {
  it.each([
    ["Bearer abc", "abc"],
    ["bearer abc", "abc"],
    ["  BEARER   abc  ", "abc"],
    ["Basic abc", undefined],
    ["Bearer", undefined],
    ["Bearer a b", undefined],
  ] as const)("bearerToken(%j) → %j", (header, expected) => expect(bearerToken(header)).toBe(expected));

  it.each([
    ["GET", true],
    ["HEAD", true],
    ["POST", false],
    ["PUT", false],
    ["PATCH", false],
    ["DELETE", false],
    ["OPTIONS", false],
  ] as const)("a read token may %s: %s", (method, expected) => expect(isReadMethod(method)).toBe(expected));
});

describe("scimGroupRule (the Access selector per connection type)", () => {
  const group = { externalId: "6f1c…-object-id", displayName: "Admins" };
  it.each([
    ["azureAD", { azureAD: { id: group.externalId, identity_provider_id: "i" } }],
    ["okta", { okta: { name: "Admins", identity_provider_id: "i" } }],
    ["oidc", { oidc: { claim_name: "groups", claim_value: "Admins", identity_provider_id: "i" } }],
  ] as const)("%s", (type, rule) => expect(scimGroupRule({ id: "i", type }, group)).toEqual(rule));
  it("an Entra group without an object id cannot be named", () => {
    expect(() => scimGroupRule({ id: "i", type: "azureAD" }, { externalId: null, displayName: "x" })).toThrow(/externalId/);
  });
});
