import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import { calculatePKCECodeChallenge } from "oauth4webapi";

/**
 * An OpenID Connect provider that lives INSIDE the test, with its own RS256 keys, so login tests
 * exercise the real OIDC client (oauth4webapi + jose) end to end. Register `idp.handle` for
 * `idp.host` with `routeFetch` (the Worker's token and JWKS requests) and in `Browser`'s `external`
 * hosts (the browser's trip to the authorization endpoint).
 *
 * - `kind: "oidc"` (default): issuer `https://idp.test`; endpoints `/authorize`, `/token`, `/jwks`
 *   and discovery at `<issuer>/.well-known/openid-configuration` (the connection uses `issuer_url`).
 * - `kind: "entra"`: Entra ID's v2.0 shape for a tenant: issuer
 *   `https://login.microsoftonline.com/<tenantId>/v2.0`, endpoints `/<tenantId>/oauth2/v2.0/{authorize,token}`,
 *   `/<tenantId>/discovery/v2.0/keys`; tokens carry `tid` and `ver: "2.0"`.
 * - `kind: "okta"`: issuer `https://example.okta.com/oauth2/default` (a custom authorization server:
 *   endpoints `/oauth2/<id>/v1/{authorize,token,keys}`), or, given an issuer without a path, the org
 *   authorization server (`/oauth2/v1/{authorize,token,keys}`).
 *
 * The authorization endpoint approves at once as `idp.nextLogin` (redirect to `redirect_uri` with
 * `code` and `state`); with `nextLogin = null` or `misbehave.deny` it answers `error=access_denied`.
 * The token endpoint checks the client secret (post or basic), the code (single use, 60 s), the
 * `redirect_uri`, the `client_id` and the PKCE S256 verifier, like a real provider.
 */
export type TestIdpKind = "oidc" | "entra" | "okta";

export interface TestIdpOptions {
  kind?: TestIdpKind;
  /** Defaults per kind (see above). For `entra`, derived from `tenantId`. */
  issuer?: string;
  /** Entra tenant id (a GUID); random by default. */
  tenantId?: string;
  clientId?: string;
  clientSecret?: string;
}

/** Who the next authorization request signs in as. `sub` defaults to a stable value derived from the email. */
export interface NextLogin {
  email?: string;
  sub?: string;
  /** Extra ID token claims (e.g. `{ groups: ["a"], preferred_username: "x" }`); may override standard ones. */
  claims?: Record<string, unknown>;
}

/** Ways to misbehave, for the refusal tests. Each applies to every token issued while it is set. */
export interface Misbehaviour {
  /** Authorization endpoint answers `error=access_denied`. */
  deny?: boolean;
  /** ID token carries another `nonce`. */
  nonce?: boolean;
  /** ID token's `aud` is another client. */
  audience?: boolean;
  /** ID token expired an hour ago. */
  expired?: boolean;
  /** ID token signed by a key that is not in the JWKS (same `kid` as the current key). */
  badSignature?: boolean;
  /** ID token's `iss` is this value instead of the issuer. */
  issuer?: string;
  /** The token endpoint answers with this HTTP status and an OAuth error body (e.g. 500, 400). */
  tokenStatus?: number;
}

export interface TestIdp {
  readonly kind: TestIdpKind;
  readonly issuer: string;
  /** Host to register with `routeFetch` / `Browser` (e.g. `idp.test`, `login.microsoftonline.com`). */
  readonly host: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly tenantId: string | null;
  readonly endpoints: { discovery: string; authorization: string; token: string; jwks: string };
  /** The identity the authorization endpoint approves; `null`: it answers `access_denied`. */
  nextLogin: NextLogin | null;
  misbehave: Misbehaviour;
  /** How many requests each endpoint received (e.g. to assert that the JWKS is cached). */
  readonly requests: { discovery: number; authorize: number; token: number; jwks: number };
  /** The query of the last authorization request (to assert PKCE, scopes, nonce were sent). */
  lastAuthorization: URLSearchParams | null;
  /** The HTTP handler for every endpoint of this provider. */
  handle(request: Request): Promise<Response>;
  /** Publishes a new signing key (the previous one stays in the JWKS) and signs with it from now on; returns its `kid`. */
  rotateKey(): Promise<string>;
  /** Runs the authorization endpoint for an authorization URL (no browser) and returns the callback URL it redirects to. */
  approve(authorizationUrl: string): Promise<URL>;
  /** `{ type, config }` for `POST /api/v1/access/identity_providers` pointing at this provider. */
  connection(): { type: "oidc" | "azureAD" | "okta"; config: Record<string, unknown> };
}

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

interface IssuedCode {
  login: NextLogin;
  clientId: string;
  redirectUri: string;
  nonce: string | null;
  codeChallenge: string | null;
  expiresAt: number;
  used: boolean;
}

async function newKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const kid = `test-${crypto.randomUUID().slice(0, 8)}`;
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" } };
}

function endpointsFor(kind: TestIdpKind, issuer: string, tenantId: string | null) {
  const url = new URL(issuer);
  const origin = url.origin;
  const discovery = `${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`;
  if (kind === "entra") {
    const base = `${origin}/${tenantId}`;
    return { discovery, authorization: `${base}/oauth2/v2.0/authorize`, token: `${base}/oauth2/v2.0/token`, jwks: `${base}/discovery/v2.0/keys` };
  }
  if (kind === "okta") {
    const server = url.pathname.replace(/\/$/, ""); // "" (org server) or "/oauth2/<id>"
    const base = `${origin}${server || "/oauth2"}/v1`;
    return { discovery, authorization: `${base}/authorize`, token: `${base}/token`, jwks: `${base}/keys` };
  }
  return { discovery, authorization: `${origin}/authorize`, token: `${origin}/token`, jwks: `${origin}/jwks` };
}

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", "cache-control": "no-store" } });
const oauthError = (status: number, error: string, description: string) => json({ error, error_description: description }, status);

/** Creates an in-test OIDC provider (async: it generates its first RS256 key). */
export async function createTestIdp(options: TestIdpOptions = {}): Promise<TestIdp> {
  const kind = options.kind ?? "oidc";
  const tenantId = kind === "entra" ? (options.tenantId ?? crypto.randomUUID()) : null;
  const issuer =
    options.issuer ??
    (kind === "entra" ? `https://login.microsoftonline.com/${tenantId}/v2.0` : kind === "okta" ? "https://example.okta.com/oauth2/default" : "https://idp.test");
  const endpoints = endpointsFor(kind, issuer, tenantId);
  const keys: SigningKey[] = [await newKey()];
  const codes = new Map<string, IssuedCode>();
  const requests = { discovery: 0, authorize: 0, token: 0, jwks: 0 };
  const clientId = options.clientId ?? `client-${crypto.randomUUID().slice(0, 8)}`;
  const clientSecret = options.clientSecret ?? `secret-${crypto.randomUUID()}`;
  const pathOf = (u: string) => new URL(u).pathname;

  const idp: TestIdp = {
    kind,
    issuer,
    host: new URL(issuer).host,
    clientId,
    clientSecret,
    tenantId,
    endpoints,
    nextLogin: null,
    misbehave: {},
    requests,
    lastAuthorization: null,

    async handle(request) {
      const url = new URL(request.url);
      switch (url.pathname) {
        case pathOf(endpoints.discovery):
          requests.discovery++;
          return json({
            issuer,
            authorization_endpoint: endpoints.authorization,
            token_endpoint: endpoints.token,
            jwks_uri: endpoints.jwks,
            response_types_supported: ["code"],
            subject_types_supported: ["public"],
            id_token_signing_alg_values_supported: ["RS256"],
            code_challenge_methods_supported: ["S256"],
            token_endpoint_auth_methods_supported: ["client_secret_post", "client_secret_basic"],
            scopes_supported: ["openid", "email", "profile", "groups"],
          });
        case pathOf(endpoints.jwks):
          requests.jwks++;
          return json({ keys: keys.map((k) => k.publicJwk) });
        case pathOf(endpoints.authorization):
          requests.authorize++;
          return authorize(url.searchParams);
        case pathOf(endpoints.token):
          requests.token++;
          if (request.method !== "POST") return oauthError(405, "invalid_request", "POST only");
          return token(request);
        default:
          return new Response(`test IdP: no route for ${url.pathname}`, { status: 404 });
      }
    },

    async rotateKey() {
      const key = await newKey();
      keys.unshift(key);
      return key.kid;
    },

    async approve(authorizationUrl) {
      const res = await idp.handle(new Request(authorizationUrl));
      const location = res.headers.get("location");
      if (res.status !== 302 || !location) throw new Error(`test IdP: authorization did not redirect (${res.status} ${await res.text()})`);
      return new URL(location);
    },

    connection() {
      const common = { client_id: clientId, client_secret: clientSecret };
      if (kind === "entra") return { type: "azureAD", config: { ...common, directory_id: tenantId } };
      if (kind === "okta") {
        const server = /^\/oauth2\/([^/]+)$/.exec(new URL(issuer).pathname)?.[1];
        return { type: "okta", config: { ...common, okta_account: new URL(issuer).origin, ...(server ? { authorization_server_id: server } : {}) } };
      }
      return { type: "oidc", config: { ...common, issuer_url: issuer } };
    },
  };

  function authorize(q: URLSearchParams): Response {
    idp.lastAuthorization = q;
    const redirectUri = q.get("redirect_uri");
    if (q.get("client_id") !== clientId || !redirectUri) return new Response("test IdP: unknown client_id or no redirect_uri", { status: 400 });
    const back = new URL(redirectUri);
    const state = q.get("state");
    if (state !== null) back.searchParams.set("state", state);
    if (idp.misbehave.deny || !idp.nextLogin) {
      back.searchParams.set("error", "access_denied");
      back.searchParams.set("error_description", "The user denied the request");
    } else if (q.get("response_type") !== "code" || !(q.get("scope") ?? "").split(" ").includes("openid")) {
      back.searchParams.set("error", "invalid_request");
    } else {
      if (q.has("code_challenge") && q.get("code_challenge_method") !== "S256") return new Response("test IdP: S256 only", { status: 400 });
      const code = crypto.randomUUID();
      codes.set(code, {
        login: structuredClone(idp.nextLogin),
        clientId,
        redirectUri,
        nonce: q.get("nonce"),
        codeChallenge: q.get("code_challenge"),
        expiresAt: Date.now() + 60_000,
        used: false,
      });
      back.searchParams.set("code", code);
    }
    return new Response(null, { status: 302, headers: { location: back.toString() } });
  }

  async function token(request: Request): Promise<Response> {
    const form = new URLSearchParams(new TextDecoder().decode(await request.arrayBuffer()));
    // Client authentication: client_secret_post or client_secret_basic (RFC 6749 §2.3.1).
    let id = form.get("client_id");
    let secret = form.get("client_secret");
    const basic = /^Basic (.+)$/i.exec(request.headers.get("authorization") ?? "")?.[1];
    if (basic) [id, secret] = atob(basic).split(":").map((s) => decodeURIComponent(s)) as [string, string];
    if (id !== clientId || secret !== clientSecret) return oauthError(401, "invalid_client", "client authentication failed");
    if (idp.misbehave.tokenStatus) return oauthError(idp.misbehave.tokenStatus, "server_error", "the test IdP was told to fail");
    if (form.get("grant_type") !== "authorization_code") return oauthError(400, "unsupported_grant_type", "authorization_code only");
    const issued = codes.get(form.get("code") ?? "");
    if (!issued || issued.used || issued.expiresAt < Date.now()) return oauthError(400, "invalid_grant", "unknown, used or expired code");
    issued.used = true;
    if (form.get("redirect_uri") !== issued.redirectUri) return oauthError(400, "invalid_grant", "redirect_uri mismatch");
    const verifier = form.get("code_verifier");
    if (issued.codeChallenge) {
      if (!verifier || (await calculatePKCECodeChallenge(verifier)) !== issued.codeChallenge) return oauthError(400, "invalid_grant", "PKCE verification failed");
    } else if (verifier) {
      return oauthError(400, "invalid_grant", "code_verifier without code_challenge");
    }
    const now = Math.floor(Date.now() / 1000);
    const m = idp.misbehave;
    const email = issued.login.email;
    const claims: Record<string, unknown> = {
      ...(email ? { email } : {}),
      ...(issued.nonce ? { nonce: m.nonce ? "not-the-nonce" : issued.nonce } : {}),
      ...(kind === "entra" ? { tid: tenantId, ver: "2.0", ...(email ? { preferred_username: email } : {}) } : {}),
      ...issued.login.claims,
    };
    const signer = m.badSignature ? { ...keys[0]!, privateKey: (await newKey()).privateKey } : keys[0]!;
    const idToken = await new SignJWT(claims)
      .setProtectedHeader({ alg: "RS256", kid: signer.kid, typ: "JWT" })
      .setIssuer(m.issuer ?? issuer)
      .setSubject(issued.login.sub ?? `sub-${email ?? "anonymous"}`)
      .setAudience(m.audience ? "another-client" : clientId)
      .setIssuedAt(m.expired ? now - 7200 : now)
      .setExpirationTime(m.expired ? now - 3600 : now + 3600)
      .sign(signer.privateKey);
    return json({ access_token: crypto.randomUUID(), token_type: "Bearer", expires_in: 3600, scope: "openid email profile", id_token: idToken });
  }

  return idp;
}
