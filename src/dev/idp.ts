import { Hono, type Context } from "hono";
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from "jose";
import { calculatePKCECodeChallenge } from "oauth4webapi";
import { readConfig } from "../config";
import type { AppEnv } from "../http/app-env";
import { DEV_IDP_PATH, registerDevIdpDispatcher } from "../access/oidc/http";
import { openSecret, sealSecret } from "../lib/secret-box";
import { escapeHtml as esc } from "../http/html";

/**
 * A development OpenID Connect provider, so `npm run dev` shows Access login without Entra ID or
 * Okta. Mounted at `/__dev/idp` (src/app.ts) and answered only when DEV_ROUTES is on; NOT behind
 * the admin token, because a browser signs in through it. Point an `oidc` connection at it:
 * `{"client_id":"dev","issuer_url":"http://127.0.0.1:8787/__dev/idp"}` (any client id; the
 * client secret is not checked). The relying party's requests to it (discovery, token, JWKS) are
 * answered in-process (src/access/oidc/http.ts), so no network is needed.
 *
 * - `/authorize` shows "Development IdP — sign in as": an email field and the directory users of
 *   the connections whose `client_id` is the one asked for. Anyone can sign in as anyone: it is
 *   a development tool. Redirects go only to an Access callback (`…/cdn-cgi/access/callback`).
 * - `/token` checks the code's client_id, redirect_uri and PKCE S256 verifier, and returns an RS256
 *   ID token (jose) valid for 5 minutes.
 * - Keys: one RS256 key made on first use and kept in `access_settings` (`dev_idp_key`), its private
 *   JWK sealed with secret-box, so restarts and every isolate sign with the same key.
 * - Codes are stateless: the grant (email, nonce, PKCE challenge, client, redirect, expiry) sealed
 *   with secret-box; valid 60 s. Single use is enforced per isolate only (a set of spent code ids):
 *   two isolates could each redeem one copy within its minute. Acceptable for a development IdP;
 *   a real provider keeps codes in shared state.
 */
export const devIdpRoutes = new Hono<AppEnv>();

const KEY_SETTING = "dev_idp_key";
const CODE_TTL_MS = 60_000;
const ID_TOKEN_TTL_S = 300;
const CALLBACK_PATH = "/cdn-cgi/access/callback";

devIdpRoutes.use("*", async (c, next) => {
  if (!readConfig(c.env).devRoutes) return c.json({ success: false, errors: [{ code: 10404, message: "Route not found" }], messages: [], result: null }, 404);
  await next();
});

const issuerOf = (c: Context<AppEnv>) => `${new URL(c.req.url).origin}${DEV_IDP_PATH}`;

devIdpRoutes.get("/.well-known/openid-configuration", (c) => {
  const issuer = issuerOf(c);
  return c.json({
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    jwks_uri: `${issuer}/jwks`,
    response_types_supported: ["code"],
    subject_types_supported: ["public"],
    id_token_signing_alg_values_supported: ["RS256"],
    code_challenge_methods_supported: ["S256"],
    token_endpoint_auth_methods_supported: ["client_secret_post", "client_secret_basic", "none"],
    scopes_supported: ["openid", "email", "profile"],
    claims_supported: ["sub", "email", "email_verified", "name", "preferred_username", "nonce"],
  });
});

devIdpRoutes.get("/jwks", async (c) => {
  const key = await devKey(c.env);
  return c.json({ keys: [key.publicJwk] }, 200, { "cache-control": "no-store" });
});

// ---- Authorization endpoint (OpenID Connect Core §3.1.2).

interface AuthRequest {
  clientId: string;
  redirectUri: string;
  state: string;
  nonce: string;
  codeChallenge: string;
  scope: string;
}

/** The request's parameters, or a reason it cannot be redirected back (RFC 6749 §4.1.2.1: then no redirect). */
function readAuthRequest(q: (name: string) => string | undefined): AuthRequest | string {
  const clientId = q("client_id") ?? "";
  const redirectUri = q("redirect_uri") ?? "";
  if (!clientId || clientId.length > 512) return "client_id is missing";
  let redirect: URL;
  try {
    redirect = new URL(redirectUri);
  } catch {
    return "redirect_uri is not a URL";
  }
  if (!/^https?:$/.test(redirect.protocol) || redirect.pathname !== CALLBACK_PATH || redirect.hash) return `redirect_uri must be an Access callback (${CALLBACK_PATH})`;
  if (q("response_type") !== "code") return "response_type must be code";
  const codeChallenge = q("code_challenge") ?? "";
  if (codeChallenge && q("code_challenge_method") !== "S256") return "code_challenge_method must be S256";
  return { clientId, redirectUri, state: q("state") ?? "", nonce: q("nonce") ?? "", codeChallenge, scope: q("scope") ?? "" };
}

devIdpRoutes.get("/authorize", async (c) => {
  const req = readAuthRequest((n) => c.req.query(n));
  if (typeof req === "string") return html(400, `<h1>Development IdP</h1><p>Invalid request: ${esc(req)}</p>`);
  const { results } = await c.env.DB.prepare(
    `SELECT u.user_name, u.display_name, u.active FROM users u JOIN identity_providers ip ON ip.id = u.idp_id
     WHERE json_extract(ip.config, '$.client_id') = ? ORDER BY u.user_name_lower LIMIT 50`,
  )
    .bind(req.clientId)
    .all<{ user_name: string; display_name: string | null; active: number }>();
  const hidden = (["client_id", "redirect_uri", "state", "nonce", "code_challenge", "scope"] as const)
    .map((name, i) => `<input type="hidden" name="${name}" value="${esc([req.clientId, req.redirectUri, req.state, req.nonce, req.codeChallenge, req.scope][i]!)}">`)
    .join("");
  const users = results
    .map((u) => `<li><button name="email" value="${esc(u.user_name)}">${esc(u.user_name)}</button> ${esc(u.display_name ?? "")}${u.active ? "" : " <em>(inactive)</em>"}</li>`)
    .join("");
  return html(
    200,
    `<h1>Development IdP — sign in as</h1>
<form method="post">${hidden}
<p><label>Email <input type="email" name="email" autofocus></label> <button>Sign in</button></p>
${users ? `<p>Directory users of client <code>${esc(req.clientId)}</code>:</p><ul>${users}</ul>` : `<p>No directory users for client <code>${esc(req.clientId)}</code>.</p>`}
<p><button name="deny" value="1">Deny</button></p></form>`,
  );
});

devIdpRoutes.post("/authorize", async (c) => {
  const form = await c.req.parseBody();
  const field = (n: string) => (typeof form[n] === "string" ? (form[n] as string) : undefined);
  const req = readAuthRequest((n) => (n === "response_type" ? "code" : n === "code_challenge_method" ? "S256" : field(n)));
  if (typeof req === "string") return html(400, `<h1>Development IdP</h1><p>Invalid request: ${esc(req)}</p>`);
  const back = new URL(req.redirectUri);
  if (req.state) back.searchParams.set("state", req.state);
  const email = field("email")?.trim() ?? "";
  if (field("deny")) {
    back.searchParams.set("error", "access_denied");
  } else if (!req.scope.split(" ").includes("openid")) {
    back.searchParams.set("error", "invalid_scope");
  } else {
    if (!/^[^\s@]{1,64}@[^\s@]{1,189}$/.test(email)) return html(400, `<h1>Development IdP</h1><p>Enter an email address.</p>`);
    const grant: Grant = { e: email, n: req.nonce, c: req.codeChallenge, ci: req.clientId, r: req.redirectUri, x: Date.now() + CODE_TTL_MS, j: crypto.randomUUID() };
    back.searchParams.set("code", await sealSecret(c.env.ACCESS_SECRETS_KEY, "dev_idp_code", DEV_IDP_PATH, JSON.stringify(grant)));
  }
  return c.redirect(back.toString(), 302);
});

// ---- Token endpoint (RFC 6749 §4.1.3, RFC 7636 §4.6).

/** What a code carries (sealed): email, nonce, PKCE challenge, client, redirect, expiry, id. */
interface Grant {
  e: string;
  n: string;
  c: string;
  ci: string;
  r: string;
  x: number;
  j: string;
}

/** Spent code ids → expiry, per isolate (see the trade-off above). */
const spent = new Map<string, number>();

const tokenError = (error: string, description: string, status = 400) =>
  new Response(JSON.stringify({ error, error_description: description }), { status, headers: { "content-type": "application/json", "cache-control": "no-store" } });

devIdpRoutes.post("/token", async (c) => {
  const form = new URLSearchParams(new TextDecoder().decode(await c.req.arrayBuffer()));
  let clientId = form.get("client_id");
  const basic = /^Basic (.+)$/i.exec(c.req.header("authorization") ?? "")?.[1];
  if (basic) clientId = decodeURIComponent(atob(basic).split(":")[0] ?? "");
  if (form.get("grant_type") !== "authorization_code") return tokenError("unsupported_grant_type", "authorization_code only");
  let grant: Grant;
  try {
    grant = JSON.parse(await openSecret(c.env.ACCESS_SECRETS_KEY, "dev_idp_code", DEV_IDP_PATH, form.get("code") ?? "")) as Grant;
  } catch {
    return tokenError("invalid_grant", "unknown code");
  }
  const now = Date.now();
  for (const [id, exp] of spent) if (exp < now) spent.delete(id);
  if (grant.x < now || spent.has(grant.j)) return tokenError("invalid_grant", "expired or already used code");
  spent.set(grant.j, grant.x);
  if (!clientId || clientId !== grant.ci) return tokenError("invalid_client", "the code was issued to another client", 401);
  if (form.get("redirect_uri") !== grant.r) return tokenError("invalid_grant", "redirect_uri differs from the authorization request");
  const verifier = form.get("code_verifier");
  if (grant.c ? !verifier || (await calculatePKCECodeChallenge(verifier)) !== grant.c : verifier) return tokenError("invalid_grant", "PKCE verification failed");

  const key = await devKey(c.env);
  const email = grant.e;
  const idToken = await new SignJWT({ email, email_verified: true, name: email, preferred_username: email, ...(grant.n ? { nonce: grant.n } : {}) })
    .setProtectedHeader({ alg: "RS256", kid: key.kid, typ: "JWT" })
    .setIssuer(issuerOf(c))
    .setSubject(`dev:${email.toLowerCase()}`)
    .setAudience(grant.ci)
    .setIssuedAt()
    .setExpirationTime(`${ID_TOKEN_TTL_S}s`)
    .sign(key.privateKey);
  return c.json({ access_token: crypto.randomUUID(), token_type: "Bearer", expires_in: ID_TOKEN_TTL_S, scope: "openid email profile", id_token: idToken }, 200, { "cache-control": "no-store" });
});

// ---- The signing key, shared by every isolate through D1.

interface DevKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

let cachedKey: Promise<DevKey> | null = null;

/** The dev IdP's key: read from `access_settings`, or made and stored by whichever isolate gets there first. */
function devKey(env: Env): Promise<DevKey> {
  cachedKey ??= loadOrCreateKey(env).catch((error: unknown) => {
    cachedKey = null;
    throw error;
  });
  return cachedKey;
}

async function loadOrCreateKey(env: Env): Promise<DevKey> {
  const read = () => env.DB.prepare("SELECT value FROM access_settings WHERE key = ?").bind(KEY_SETTING).first<{ value: string }>();
  let row = await read();
  if (!row) {
    const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
    const kid = `dev-${crypto.randomUUID().slice(0, 8)}`;
    const value = JSON.stringify({
      kid,
      public_jwk: { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" },
      private_jwk: await sealSecret(env.ACCESS_SECRETS_KEY, "dev_idp_key", KEY_SETTING, JSON.stringify(await exportJWK(privateKey))),
    });
    // Two isolates may race here: the first INSERT wins and both use the stored row.
    await env.DB.prepare("INSERT INTO access_settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING").bind(KEY_SETTING, value).run();
    row = await read();
  }
  const stored = JSON.parse(row!.value) as { kid: string; public_jwk: JWK; private_jwk: string };
  const privateJwk = JSON.parse(await openSecret(env.ACCESS_SECRETS_KEY, "dev_idp_key", KEY_SETTING, stored.private_jwk)) as JWK;
  return { kid: stored.kid, publicJwk: stored.public_jwk, privateKey: (await importJWK(privateJwk, "RS256")) as CryptoKey };
}

// ---- HTML.

function html(status: number, body: string): Response {
  const page = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>Development IdP</title>
<style>body{font:16px system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}</style></head><body>${body}</body></html>`;
  return new Response(page, {
    status,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
      "x-frame-options": "DENY",
      "referrer-policy": "no-referrer",
    },
  });
}

// The OIDC client's requests to this IdP are answered here, in-process (DEV_ROUTES only).
const standalone = new Hono<AppEnv>().route(DEV_IDP_PATH, devIdpRoutes);
registerDevIdpDispatcher(async (request, env) => standalone.fetch(request, env));
