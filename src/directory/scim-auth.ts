import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env";
import { scimBaseUrl } from "../admin/identity-providers";
import { bearerToken } from "../auth/admin-token";
import { baseUrlFor } from "../config";
import { secretMatches } from "../lib/crypto";
import { scimErrors } from "../scim/errors";
import type { DirectoryContext, IdentityProviderRow, ScimObject } from "./context";

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

/** Fixed-length dummy digest so an unknown connection costs the same work as a known one. */
const DUMMY_HASH = "0".repeat(64);

/**
 * SCIM bearer authentication (RFC 7644 §2): the secret is hashed and compared in constant time
 * against THIS connection's stored hash only, so one connection's secret can never act on another.
 * An unknown connection and a wrong secret get the same 401.
 */
export const scimAuth = createMiddleware<ScimEnv>(async (c, next) => {
  const idpId = c.req.param("idpId") ?? "";
  const token = bearerToken(c.req.header("authorization"));
  const idp = await c.env.DB.prepare("SELECT * FROM identity_providers WHERE id = ?").bind(idpId).first<Record<string, unknown>>();
  const valid = token !== undefined && (await secretMatches(token, (idp?.scim_secret_hash as string | undefined) ?? DUMMY_HASH));
  if (idp) c.set("scimIdpId", idpId);
  if (!idp || !valid || idp.scim_enabled !== 1) {
    c.header("WWW-Authenticate", 'Bearer realm="SCIM", error="invalid_token"');
    throw scimErrors.unauthorized(idp && valid ? "SCIM provisioning is disabled for this identity provider" : "The bearer token is missing or invalid for this identity provider");
  }
  const row = toIdpRow(idp);
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

function toIdpRow(r: Record<string, unknown>): IdentityProviderRow {
  return {
    id: r.id as string,
    name: r.name as string,
    type: r.type as string,
    config: r.config as string,
    scimEnabled: r.scim_enabled === 1,
    scimSecretHash: r.scim_secret_hash as string,
    userDeprovision: r.user_deprovision === 1,
    seatDeprovision: r.seat_deprovision === 1,
    identityUpdateBehavior: r.identity_update_behavior as string,
    createdAt: r.created_at as string,
    updatedAt: r.updated_at as string,
  };
}
