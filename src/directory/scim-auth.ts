import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { bearerToken } from "../auth/admin-token";
import { presentedHash, type ScimAuthOutcome } from "../auth/scim-secret";
import { baseUrlFor, scimBaseUrl } from "../config";
import { ScimError, scimErrors } from "../scim/errors";
import { parseFilter } from "../scim/filter/parse";
import { parseListParams } from "../scim/list-params";
import { wantsAttribute } from "../scim/projection";
import { ScimAuthGate } from "./scim-gate";
import { SCIM_CONTENT_TYPE } from "./scim-http";
import type { ScimEnv } from "./scim-env";

/** Seconds a client is told to wait after too many failed authentications (the limiter's `period`). */
export const AUTH_FAILURE_RETRY_AFTER_S = 60;

/** `…/scim/v2/Users/<id>` or `…/scim/v2/Groups/<id>` (not `.search`). */
const BY_ID = /\/scim\/v2\/(Users|Groups)\/(?!\.search\/?$)[^/]+\/?$/i;
const LIST = /\/scim\/v2\/(Users|Groups)\/?$/i;
/**
 * Attributes an `eq` filter on which is one indexed lookup (the IdPs' "does it exist yet?" query), per
 * resource type. Not a User's `displayName`: case-insensitive, it compiles to `lower(u.display_name) = ?`,
 * which no index serves (users_idp_display_name holds the text as sent), so it scans the connection.
 */
const INDEXED_EQ: Record<string, Set<string>> = {
  users: new Set(["username", "externalid", "id"]),
  groups: new Set(["displayname", "externalid", "id"]),
};

/**
 * Requests whose auth check may ride with their first read: GETs whose D1 work is bounded whatever an
 * unauthenticated client puts in the URL, because that work is done before the secret is compared (and
 * before the failure limiter is consulted, so the limiter does not bound it either):
 * - by-id GETs (a point lookup and a user's groups; a group's members never, see below);
 * - list pages (GET /Users, /Groups) that are one index range of at most `maxResults` (+1) rows: the
 *   first page (`startIndex` absent or 1) or a cursor page (RFC 9865: a keyset seek at any depth), in
 *   the default order (`created_at, id`: the (idp_id, created_at, id) index), unfiltered (the total is
 *   one `directory_counts` row) or filtered by one `eq` on an indexed attribute (the IdPs' "does it exist
 *   yet?" query);
 * - for Groups, only reads without members (one group can hold 50,000 members; a page, maxResults such groups).
 * Authenticated first, in a round trip of their own: deeper `startIndex` pages (an OFFSET walk grows with
 * the depth), `sortBy` (a sort of the whole connection), other filters, and in particular
 * - `sw`: the caller picks the prefix, and `sw ""` or `sw "u"` ranges over the whole connection (page and count);
 * - `co`/`ew`: below 3 characters there is no trigram, so every user is probed; from 3 characters the FTS5
 *   trigram lookup is index-driven but reads the whole posting list of each of the needle's trigrams, across
 *   every connection (the index spans them): `co "com"` costs O(all email addresses stored), not O(matches).
 * Anything unparsable or invalid is also authenticated first (its 400 then reaches only the secret's holder).
 */
export function authRidesWithFirstRead(method: string, url: URL): boolean {
  if (method !== "GET" && method !== "HEAD") return false;
  const byId = BY_ID.exec(url.pathname);
  const match = byId ?? LIST.exec(url.pathname);
  if (!match) return false;
  const resourceType = match[1]!.toLowerCase();
  // maxResults only clamps `count`; any value gives the same start, order and filter to judge.
  const parsed = parseListParams(url.searchParams, { maxResults: 1 });
  if (!parsed.ok) return false;
  const params = parsed.value;
  // A group's members (50,000 and more) are read only for the secret's holder: Entra ID asks with
  // `excludedAttributes=members`, and such reads ride; a read WITH members pays its own round trip.
  if (resourceType === "groups" && wantsAttribute(params, "members", "Group")) return false;
  if (byId) return true;
  if (params.cursor === undefined && params.startIndex !== 1) return false;
  if (params.sortBy !== undefined) return false;
  if (params.filter === undefined || params.filter.trim() === "") return true;
  const filter = parseFilter(params.filter);
  return filter.ok && filter.value.kind === "compare" && filter.value.op === "eq" && typeof filter.value.value === "string" && INDEXED_EQ[resourceType]!.has(filter.value.path.toLowerCase());
}

/**
 * SCIM bearer authentication (RFC 7644 §2, RFC 6750): the secret is hashed and compared in constant
 * time against the hash D1 holds for THIS connection at this moment (never a cached copy), so one
 * connection's secret can never act on another and a rotated secret stops working at once.
 *
 * GETs of bounded cost (`authRidesWithFirstRead`: by id, first or cursor pages): the check travels with the handler's first read
 * (see scim-gate.ts); the handler may run before the check completes, but it can see no D1 result,
 * write nothing and call no Durable Object until it passed, and whatever it answered is replaced by
 * the 401 if it failed. Every other request is checked before the handler runs (a body is never
 * read, nor an expensive query run, for an unauthenticated client).
 *
 * Unknown connection, wrong or missing secret: the same 401. Failed checks are counted per
 * connection by the `SCIM_AUTH_FAILURES` rate limiter; over its limit the answer is 429 with
 * `Retry-After`. The limiter is consulted only AFTER a failed compare, so a correct secret is never
 * throttled, whatever anyone else sends.
 */
export const scimAuth = createMiddleware<ScimEnv>(async (c, next) => {
  const idpId = c.req.param("idpId") ?? "";
  const gate = new ScimAuthGate(c.env.DB, idpId, await presentedHash(bearerToken(c.req.header("authorization"))));
  c.set("directory", {
    env: gate.env(c.env),
    db: gate.db,
    idp: gate.idp,
    scimBase: scimBaseUrl(baseUrlFor(c.var.config, c.req.url), idpId),
    config: c.var.config,
    actor: `scim:${idpId}`,
  });
  c.set("actor", `scim:${idpId}`);
  if (!authRidesWithFirstRead(c.req.method.toUpperCase(), new URL(c.req.url))) {
    const refused = await refusal(c, await gate.settle());
    if (refused) return refused;
  }
  await next();
  const refused = await refusal(c, await gate.settle());
  if (refused) {
    c.res = undefined; // drop the handler's answer and its headers; Hono merges headers into a replaced response
    c.res = refused;
  }
});

/** The response for a failed check (401 or 429), or undefined when the request is authenticated. */
async function refusal(c: Context<ScimEnv>, outcome: ScimAuthOutcome): Promise<Response | undefined> {
  if (outcome.idp) c.set("scimIdpId", outcome.idp.id);
  if (outcome.valid && outcome.idp?.scimEnabled) return undefined;
  c.set("scimAuthFailed", true);
  if (outcome.valid) {
    // The right secret for a connection whose SCIM is switched off: only its holder sees this.
    return errorResponse(scimErrors.unauthorized("SCIM provisioning is disabled for this identity provider"), c, { "www-authenticate": challenge });
  }
  const limit = await failureLimit(c);
  if (limit !== "under") c.set("scimLogSkip", true);
  if (limit === "over") {
    return errorResponse(new ScimError(429, "Too many failed authentications for this identity provider; retry later"), c, {
      "retry-after": String(AUTH_FAILURE_RETRY_AFTER_S),
    });
  }
  return errorResponse(scimErrors.unauthorized("The bearer token is missing or invalid for this identity provider"), c, { "www-authenticate": challenge });
}

const challenge = 'Bearer realm="SCIM", error="invalid_token"';

/**
 * Counts one failed authentication against the connection named in the path, known or not (so the
 * answer does not reveal whether it exists). Keyed by connection alone, not by client IP: a correct
 * secret never reaches the limiter, so the key cannot lock the IdP out, and a per-connection key
 * bounds what an attacker spread over many addresses can make us log. If the limiter itself fails,
 * the answer stays 401 but nothing is logged (the log bound must not depend on the limiter being up).
 */
async function failureLimit(c: Context<ScimEnv>): Promise<"under" | "over" | "unknown"> {
  try {
    const { success } = await c.env.SCIM_AUTH_FAILURES.limit({ key: `scim-auth:${c.req.param("idpId") ?? ""}` });
    return success ? "under" : "over";
  } catch (e) {
    console.error("SCIM auth-failure limiter unavailable", e instanceof Error ? e.message : String(e));
    return "unknown";
  }
}

/** An RFC 7644 §3.12 error response, built here so its headers (`Retry-After`, the challenge) are kept. */
function errorResponse(error: ScimError, c: Context<ScimEnv>, headers: Record<string, string>): Response {
  c.error = error;
  return new Response(JSON.stringify(error), { status: error.status, headers: { "content-type": SCIM_CONTENT_TYPE, ...headers } });
}
