import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env";
import { scimBaseUrl } from "../admin/identity-providers";
import { bearerToken } from "../auth/admin-token";
import { baseUrlFor } from "../config";
import { authenticateScim } from "../auth/scim-secret";
import { scimErrors } from "../scim/errors";
import type { DirectoryContext, ScimObject } from "./context";

/** Hono types of the SCIM sub-app. */
export type ScimEnv = {
  Bindings: AppEnv["Bindings"];
  Variables: AppEnv["Variables"] & {
    directory: DirectoryContext;
    /** The parsed request body, for the provisioning log. */
    scimRequestBody: unknown;
    /** The resource the request created, read or changed, for the provisioning log. */
    scimResource: ScimObject | undefined;
    /** Resource facts known before the handler fails (e.g. a DELETE's userName). */
    scimLogHint: { cfResourceId?: string; idpResourceId?: string | null; email?: string | null; groupName?: string };
    /** The connection named in the path, once it is known to exist (failed authentications are logged to it too). */
    scimIdpId: string | undefined;
  };
};

/**
 * SCIM bearer authentication (RFC 7644 §2): the secret is hashed and compared in constant time
 * against THIS connection's stored hash only, so one connection's secret can never act on another.
 * An unknown connection and a wrong secret get the same 401.
 */
export const scimAuth = createMiddleware<ScimEnv>(async (c, next) => {
  const idpId = c.req.param("idpId") ?? "";
  const token = bearerToken(c.req.header("authorization"));
  const { idp, valid } = await authenticateScim(c.env.DB, idpId, token);
  if (idp) c.set("scimIdpId", idpId);
  if (!idp || !valid || !idp.scimEnabled) {
    c.header("WWW-Authenticate", 'Bearer realm="SCIM", error="invalid_token"');
    throw scimErrors.unauthorized(idp && valid ? "SCIM provisioning is disabled for this identity provider" : "The bearer token is missing or invalid for this identity provider");
  }
  const row = idp;
  c.set("directory", {
    env: c.env,
    db: c.env.DB,
    idp: row,
    scimBase: scimBaseUrl(baseUrlFor(c.var.config, c.req.url), row.id),
    config: c.var.config,
    actor: `scim:${row.id}`,
  });
  c.set("actor", `scim:${row.id}`);
  await next();
});
