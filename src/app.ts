import { Hono } from "hono";
import { ApiError, apiErrors } from "./http/api-error";
import { adminRoutes } from "./admin/routes";
import { apiDocsRoutes } from "./admin/openapi";
import type { AppEnv } from "./http/app-env";
import { readConfig } from "./config";
import { SCIM_CONTENT_TYPE } from "./directory/scim-http";
import { scimRoutes } from "./directory/routes";
import { devRoutes } from "./dev/routes";
import { devIdpRoutes } from "./dev/idp";
import { devEchoRoutes } from "./dev/echo";
import { ScimError } from "./scim/errors";
import { accessRouting } from "./access/routing";
import { teamRoutes } from "./access/login/routes";
import { portalRoutes } from "./portal/routes";
import { dashboardRoutes } from "./dashboard/routes";
import { dohTokenRoutes } from "./gateway/service-tokens";
import { TeamHostUnknown } from "./access/login/team";
import { page } from "./access/pages";
import { dohRoutes } from "./gateway/doh";


/**
 * The one Hono app: every surface is mounted here; errors are rendered in one place.
 * `strict: false`: `/Users/` is `/Users` (IdPs and Microsoft's SCIM test collection append the slash, and a
 * redirect is no answer for a POST or PATCH). Sub-apps mounted with `route()` are matched by this router.
 */
export const app = new Hono<AppEnv>({ strict: false });

app.use("*", async (c, next) => {
  c.set("config", readConfig(c.env));
  await next();
});

app.use("*", accessRouting);
app.get("/healthz", (c) => c.json({ ok: true }));
app.route("/cdn-cgi/access", dohTokenRoutes); // Gateway: a service token issues a DoH device for a named user
app.route("/cdn-cgi/access", teamRoutes);
app.route("/dashboard", dashboardRoutes); // the admin dashboard (its own Access policy, see src/dashboard/gate.ts)
app.route("/portal", portalRoutes); // self-service (Gateway device enrollment), behind Access login
app.route("/populations/:idpId/scim/v2", scimRoutes);
app.route("/api/v1", apiDocsRoutes); // the OpenAPI document and its HTML reference, public (src/admin/openapi.ts)
app.route("/api/v1", adminRoutes);
app.route("/dns-query", dohRoutes); // Gateway: the identity-aware DoH resolver (RFC 8484), token in the path or CF-Authorization
// The development IdP has its own DEV_ROUTES gate and no admin token (a browser signs in through it);
// mounted before /__dev so its handlers answer before that sub-app's admin-token middleware.
app.route("/__dev/idp", devIdpRoutes);
app.route("/__dev/echo", devEchoRoutes); // the development origin: also no admin token (the proxy calls it)
app.route("/__dev", devRoutes);

const isScimPath = (url: string) => /^\/populations\/[^/]+\/scim\/v2(\/|$)/.test(new URL(url).pathname);

app.notFound((c) => {
  if (isScimPath(c.req.url)) return scimError(new ScimError(404, "Not found"));
  return c.json(apiErrors.notFound("Route").toJSON(), 404);
});

app.onError((error, c) => {
  if (error instanceof ScimError) {
    if (isScimPath(c.req.url)) return scimError(error, c.res.headers.get("www-authenticate"));
    return c.json(new ApiError(error.status, error.status >= 500 ? 5000 : 10001, error.message).toJSON(), error.status as 400);
  }
  if (error instanceof ApiError) return c.json(error.toJSON(), error.status as 400);
  if (error instanceof TeamHostUnknown) {
    console.error(error.message);
    return page(500, "Access is not configured", "This deployment does not know its team host yet (PUBLIC_BASE_URL). Ask your administrator.");
  }
  // An unexpected fault (D1 or a Durable Object unavailable): 5xx, so IdPs retry. No request data is logged.
  console.error("request failed", error instanceof Error ? `${error.name}: ${error.message}` : String(error));
  if (isScimPath(c.req.url)) return scimError(new ScimError(500, "Internal error; the request can be retried"));
  return c.json(new ApiError(500, 5000, "Internal error").toJSON(), 500);
});

/** RFC 7644 §3.12 error response; 401s carry the `WWW-Authenticate` challenge (RFC 6750 §3). */
function scimError(error: ScimError, wwwAuthenticate?: string | null): Response {
  const headers = new Headers({ "content-type": SCIM_CONTENT_TYPE });
  if (error.status === 401) headers.set("www-authenticate", wwwAuthenticate ?? 'Bearer realm="SCIM"');
  return new Response(JSON.stringify(error), { status: error.status, headers });
}
