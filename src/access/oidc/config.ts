import { discoveryRequest, processDiscoveryResponse } from "oauth4webapi";
import { z } from "zod";
import { isAllowedEndpoint, oauthOptions } from "./http";

/**
 * An IdP connection's `config` (Cloudflare's shape) and the OIDC endpoints it resolves to.
 *
 * Common fields: `client_id`, `client_secret` (write-only: taken out of the config and stored
 * encrypted by the admin module), `scopes`, `claims`, `email_claim_name`, `pkce_enabled`.
 * - `oidc`: `issuer_url` and `auth_url`, `token_url`, `certs_url`. Whatever is missing of the three
 *   is filled in from `<issuer_url>/.well-known/openid-configuration` WHEN THE CONNECTION IS SAVED
 *   (oauth4webapi discovery, which checks the document's `issuer` equals `issuer_url`), and stored:
 *   a login never waits on discovery, and a wrong issuer is a 400 for the admin, not a failed login
 *   for a user. Unlike Cloudflare, `issuer_url` is required for login: the ID token's `iss` must be
 *   checked against something (OpenID Connect Core §3.1.3.7 step 2).
 * - `azureAD`: `directory_id` (the tenant GUID, or one of its verified domains). Endpoints are
 *   Entra ID's v2.0 ones for the tenant. The issuer in Entra tokens always names the tenant GUID,
 *   so a domain is resolved to its GUID at save time through the tenant's discovery document and
 *   kept as `issuer_url`.
 * - `okta`: `okta_account` (e.g. `https://dev-1.okta.com`) and optionally `authorization_server_id`:
 *   a custom authorization server (issuer `{account}/oauth2/{id}`, endpoints `/oauth2/{id}/v1/...`),
 *   or without it the org authorization server (issuer `{account}`, endpoints `/oauth2/v1/...`).
 *
 * A connection without `client_id` is SCIM-only (no login); with one, its type's endpoint fields
 * are required. Endpoint URLs must be https (http only on a loopback host when DEV_ROUTES is on).
 */
export type IdpType = "azureAD" | "okta" | "oidc";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A DNS name with at least two labels (e.g. contoso.onmicrosoft.com, contoso.com). */
const DOMAIN = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;
export const DEFAULT_SCOPES = ["openid", "email", "profile"];

const url = z.string().max(2048);
const common = {
  client_id: z.string().min(1).max(512).optional(),
  client_secret: z.string().min(1).max(2048).optional(),
  scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, "a scope is a printable token without spaces (RFC 6749 §3.3)").max(128)).max(32).optional(),
  claims: z.array(z.string().min(1).max(128)).max(64).optional(),
  email_claim_name: z.string().min(1).max(128).optional(),
  pkce_enabled: z.boolean().optional(),
};

const schemas = {
  oidc: z.object({ ...common, issuer_url: url.optional(), auth_url: url.optional(), token_url: url.optional(), certs_url: url.optional() }).strict(),
  // `issuer_url` is ours for azureAD (the resolved tenant issuer); sent back on a PUT it is recomputed.
  azureAD: z.object({ ...common, directory_id: z.string().min(1).max(253).optional(), issuer_url: url.optional() }).strict(),
  okta: z
    .object({ ...common, okta_account: url.optional(), authorization_server_id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "letters, digits, - and _ only").optional() })
    .strict(),
};

export type IdpConfig = z.infer<(typeof schemas)["oidc"]> & z.infer<(typeof schemas)["azureAD"]> & z.infer<(typeof schemas)["okta"]>;

/** Where a connection logs users in: what oauth4webapi calls the authorization server. */
export interface ResolvedProvider {
  issuer: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  jwksUri: string;
}

/** A save-time refusal, with a message for the admin (400). */
export class IdpConfigError extends Error {}

const fail = (message: string): never => {
  throw new IdpConfigError(message);
};

function checkUrl(field: string, value: string | undefined, devRoutes: boolean): void {
  if (value === undefined) return;
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    return fail(`config.${field}: not a URL`);
  }
  if (!isAllowedEndpoint(parsed, devRoutes)) {
    fail(`config.${field}: must be an https URL without credentials or fragment${devRoutes ? " (http only on a loopback host)" : ""}`);
  }
}

const entraIssuer = (tenant: string) => `https://login.microsoftonline.com/${tenant}/v2.0`;
const ENTRA_ISSUER = /^https:\/\/login\.microsoftonline\.com\/([0-9a-f-]{36})\/v2\.0$/i;

/**
 * Validates a connection's `config` for its type and completes it (discovery for `oidc`, tenant
 * resolution for an Entra domain). Returns the config to store (without `client_secret`) and the
 * secret apart. Throws IdpConfigError (a 400 for the admin).
 */
export async function prepareIdpConfig(env: Env, type: IdpType, raw: unknown): Promise<{ config: IdpConfig; clientSecret: string | undefined }> {
  const parsed = schemas[type].safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `config.${issue.path.join(".")}` : "config";
    if (issue?.code === "unrecognized_keys") fail(`config: ${issue.keys.join(", ")} ${issue.keys.length > 1 ? "are not fields" : "is not a field"} of ${type} connections`);
    fail(`${where}: ${issue?.message ?? "invalid"}`);
  }
  const devRoutes = env.DEV_ROUTES === "true";
  const { client_secret: clientSecret, ...config } = parsed.data as IdpConfig;
  for (const field of ["issuer_url", "auth_url", "token_url", "certs_url", "okta_account"] as const) checkUrl(field, config[field], devRoutes);
  const login = config.client_id !== undefined;

  if (type === "azureAD" && config.directory_id !== undefined) {
    const id = config.directory_id;
    if (GUID.test(id)) config.issuer_url = entraIssuer(id.toLowerCase());
    else if (DOMAIN.test(id)) config.issuer_url = await entraTenantIssuer(env, id);
    else fail("config.directory_id: must be the tenant id (a GUID) or one of the tenant's verified domains");
  } else if (type === "azureAD") {
    delete config.issuer_url;
    if (login) fail("config.directory_id is required for an azureAD connection with a client_id");
  }

  if (type === "okta" && config.okta_account !== undefined) {
    const account = new URL(config.okta_account);
    if (account.pathname !== "/" || account.search) fail("config.okta_account: the account's URL without a path (e.g. https://dev-123456.okta.com)");
    config.okta_account = account.origin;
  } else if (type === "okta" && (login || config.authorization_server_id)) {
    fail("config.okta_account is required for an okta connection with a client_id");
  }

  if (type === "oidc") {
    const missing = (["auth_url", "token_url", "certs_url"] as const).filter((f) => config[f] === undefined);
    if (missing.length > 0 && config.issuer_url) await discover(env, config);
    else if (login && !config.issuer_url) fail("config.issuer_url is required for an oidc connection with a client_id: the ID token's issuer is checked against it");
    else if (login && missing.length > 0) fail(`config: ${missing.join(", ")} missing`);
  }
  return { config, clientSecret };
}

/** Fills `auth_url`, `token_url`, `certs_url` from the issuer's discovery document (fields the admin gave win). */
async function discover(env: Env, config: IdpConfig): Promise<void> {
  const issuer = new URL(config.issuer_url!);
  let as;
  try {
    const response = await discoveryRequest(issuer, oauthOptions(env, issuer));
    as = await processDiscoveryResponse(issuer, response);
  } catch (error) {
    return fail(`config.issuer_url: OpenID discovery at ${issuer.href.replace(/\/$/, "")}/.well-known/openid-configuration failed (${reason(error)})`);
  }
  // Tokens carry the issuer exactly as the provider spells it (a trailing slash matters to the
  // ID token `iss` comparison, which is exact), so keep the document's spelling.
  config.issuer_url = as.issuer;
  const found = { auth_url: as.authorization_endpoint, token_url: as.token_endpoint, certs_url: as.jwks_uri };
  for (const [field, value] of Object.entries(found) as [keyof typeof found, string | undefined][]) {
    if (config[field] !== undefined) continue;
    if (!value) fail(`config.issuer_url: the discovery document has no ${field === "auth_url" ? "authorization_endpoint" : field === "token_url" ? "token_endpoint" : "jwks_uri"}`);
    checkUrl(field, value, env.DEV_ROUTES === "true");
    config[field] = value;
  }
}

/** The tenant issuer (with its GUID) for an Entra verified domain, from the tenant's discovery document. */
async function entraTenantIssuer(env: Env, domain: string): Promise<string> {
  const authority = new URL(entraIssuer(domain.toLowerCase()));
  try {
    const response = await discoveryRequest(authority, oauthOptions(env, authority));
    // The document names the tenant by GUID, so it cannot match the domain URL it was asked for;
    // read its issuer, require Entra's v2.0 tenant format, then validate the document against it.
    const issuer = String(((await response.clone().json()) as { issuer?: unknown }).issuer ?? "");
    if (!ENTRA_ISSUER.test(issuer)) throw new Error("not an Entra ID v2.0 tenant issuer");
    await processDiscoveryResponse(new URL(issuer), response);
    return issuer.toLowerCase();
  } catch (error) {
    return fail(`config.directory_id: could not resolve the Entra ID tenant for ${domain} (${reason(error)})`);
  }
}

/** A short, secret-free description of a failure. */
function reason(error: unknown): string {
  if (error instanceof Error) return error.message.slice(0, 200);
  return "unknown error";
}

/** The endpoints a stored connection logs in with, or null when it is not configured for login. */
export function resolveProvider(type: string, config: IdpConfig): ResolvedProvider | null {
  if (!config.client_id) return null;
  if (type === "azureAD") {
    const tenant = ENTRA_ISSUER.exec(config.issuer_url ?? "")?.[1];
    if (!tenant) return null;
    const base = `https://login.microsoftonline.com/${tenant}`;
    return { issuer: entraIssuer(tenant), authorizationEndpoint: `${base}/oauth2/v2.0/authorize`, tokenEndpoint: `${base}/oauth2/v2.0/token`, jwksUri: `${base}/discovery/v2.0/keys` };
  }
  if (type === "okta") {
    if (!config.okta_account) return null;
    const account = config.okta_account.replace(/\/$/, "");
    const server = config.authorization_server_id;
    const base = server ? `${account}/oauth2/${server}/v1` : `${account}/oauth2/v1`;
    return { issuer: server ? `${account}/oauth2/${server}` : account, authorizationEndpoint: `${base}/authorize`, tokenEndpoint: `${base}/token`, jwksUri: `${base}/keys` };
  }
  if (!config.issuer_url || !config.auth_url || !config.token_url || !config.certs_url) return null;
  return { issuer: config.issuer_url, authorizationEndpoint: config.auth_url, tokenEndpoint: config.token_url, jwksUri: config.certs_url };
}
