import { createMiddleware } from "hono/factory";
import { database } from "../db";
import { redactedBodyText } from "../logs/redact";
import { writeProvisioningLog } from "../logs/provisioning-log";
import { ScimError } from "../scim/errors";
import type { ScimObject } from "./context";
import type { ScimEnv } from "./scim-env";

function resourceTypeOf(path: string): "USER" | "GROUP" | "OTHER" {
  if (/\/scim\/v2\/Users(\/|$|\?)/i.test(path)) return "USER";
  if (/\/scim\/v2\/Groups(\/|$|\?)/i.test(path)) return "GROUP";
  return "OTHER";
}

function primaryEmail(resource: ScimObject | undefined): string | null {
  const emails = resource?.emails;
  if (!Array.isArray(emails)) return typeof resource?.userName === "string" && resource.userName.includes("@") ? resource.userName : null;
  const primary = (emails as ScimObject[]).find((e) => e?.primary === true) ?? emails[0];
  return typeof primary?.value === "string" ? primary.value : null;
}

/**
 * One provisioning-log row per SCIM request to an existing connection (Cloudflare's SCIM log
 * fields), written after the response with `waitUntil` so logging never slows or fails
 * provisioning. Bodies are redacted. Not logged: discovery GETs, requests naming an unknown
 * connection (there is no connection to attach them to), and failed authentications over the
 * `SCIM_AUTH_FAILURES` limit (so an attacker cannot fill D1). A failed authentication that is
 * logged carries only method, resource type, status and error: nothing an unauthenticated client sent.
 */
export const provisioningLogger = createMiddleware<ScimEnv>(async (c, next) => {
  await next();
  const idpId = c.var.scimIdpId;
  if (!idpId) return; // unknown connection: nothing to attach the row to
  if (c.var.scimLogSkip) return; // failed authentication over the limit: bounded log volume
  const method = c.req.method.toUpperCase();
  const resourceType = resourceTypeOf(new URL(c.req.url).pathname);
  if (method === "GET" && resourceType === "OTHER") return; // discovery reads are not provisioning
  const status = c.res.status;
  const error = c.error instanceof ScimError ? c.error.message : c.error ? "Internal error" : null;
  if (c.var.scimAuthFailed) {
    c.executionCtx.waitUntil(writeRow(c.env, { idpId, requestMethod: method, resourceType, status: "FAILURE", httpStatus: status, errorDescription: error ?? `HTTP ${status}`, requestBody: null }));
    return;
  }
  const resource = c.var.scimResource;
  const hint = c.var.scimLogHint ?? {};
  const body = c.var.scimRequestBody as ScimObject | undefined;
  const row = {
    idpId,
    requestMethod: method,
    resourceType,
    resourceUserEmail: resourceType === "USER" ? (primaryEmail(resource) ?? hint.email ?? primaryEmail(body)) : null,
    resourceGroupName: resourceType === "GROUP" ? ((resource?.displayName as string | undefined) ?? hint.groupName ?? (body?.displayName as string | undefined) ?? null) : null,
    cfResourceId: (resource?.id as string | undefined) ?? hint.cfResourceId ?? null,
    idpResourceId: (resource?.externalId as string | undefined) ?? hint.idpResourceId ?? (typeof body?.externalId === "string" ? body.externalId : null),
    status: status < 400 ? "SUCCESS" : "FAILURE",
    httpStatus: status,
    errorDescription: status < 400 ? null : (error ?? `HTTP ${status}`),
    requestBody: redactedBodyText(body),
  };
  c.executionCtx.waitUntil(writeRow(c.env, row));
});

function writeRow(env: Env, row: Parameters<typeof writeProvisioningLog>[1]): Promise<void> {
  return writeProvisioningLog(database(env), row).catch((e: unknown) => {
    // Never log the body here: only that the write failed.
    console.error("provisioning log write failed", e instanceof Error ? e.message : String(e));
  });
}
