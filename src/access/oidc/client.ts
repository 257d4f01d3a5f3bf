import { createRemoteJWKSet, customFetch as joseCustomFetch, errors as joseErrors, jwtVerify, type FetchImplementation, type RemoteJWKSet } from "jose";
import {
  AuthorizationResponseError,
  authorizationCodeGrantRequest,
  calculatePKCECodeChallenge,
  ClientSecretPost,
  generateRandomCodeVerifier,
  generateRandomNonce,
  generateRandomState,
  getValidatedIdTokenClaims,
  None,
  nopkce,
  OperationProcessingError,
  processAuthorizationCodeResponse,
  ResponseBodyError,
  validateAuthResponse,
  WWWAuthenticateChallengeError,
  type AuthorizationServer,
  type Client,
} from "oauth4webapi";
import type { IdentityProviderRow } from "../../db";
import { openSecret } from "../../lib/secret-box";
import { DEFAULT_SCOPES, resolveProvider, type IdpConfig, type ResolvedProvider } from "./config";
import { idpFetch, oauthOptions } from "./http";

/**
 * The OpenID Connect relying party for Access login: authorization code flow with PKCE (S256),
 * `state` and `nonce` (OpenID Connect Core §3.1), entirely through oauth4webapi, plus a signature
 * check of the ID token with jose against the provider's JWKS.
 *
 * oauth4webapi validates the authorization response (state, `error=`), the token response and the
 * ID token's claims (iss, aud, exp/iat with 30 s tolerance, nonce, azp) but, for an ID token
 * received straight from the token endpoint over TLS, not its signature (OIDC Core §3.1.3.7 step 6
 * allows that). We verify the signature anyway, so a compromised or misrouted token endpoint
 * cannot mint identities: `jwtVerify` with a `createRemoteJWKSet` per JWKS URL kept for the life of
 * the isolate (jose caches the keys for 10 minutes and refetches when a token names an unknown `kid`,
 * which is how a provider's key rotation is picked up).
 *
 * Nothing here logs or returns tokens, codes or secrets; failures come back as `{ ok: false, error }`
 * with a short message that is safe to show on a refusal page.
 */

/** What the login page keeps (in its signed, short-lived cookie) between the redirect and the callback. */
export interface LoginStart {
  authorizationUrl: string;
  state: string;
  nonce: string;
  /** PKCE code verifier; `""` when the connection turned PKCE off (`pkce_enabled: false`). */
  codeVerifier: string;
}

/** A verified ID token, reduced to what login needs. */
export interface VerifiedLogin {
  subject: string;
  /** The claim named by `email_claim_name` (default `email`); no fallback to other claims. */
  email: string | null;
  /** `preferred_username`, else Entra ID's `upn` (Entra often sends no `email` claim; its UPN is the SCIM userName). */
  preferredUsername: string | null;
  /** The `groups` claim's strings (only meaningful for a connection without SCIM). */
  groupsClaim: string[];
  /** Every ID token claim. */
  claims: Record<string, unknown>;
}

/** Thrown by `startLogin` for a connection that has no client or endpoints configured. */
export class LoginNotConfiguredError extends Error {}

function parseConfig(idp: IdentityProviderRow): IdpConfig {
  try {
    return JSON.parse(idp.config) as IdpConfig;
  } catch {
    return {};
  }
}

function metadata(idp: IdentityProviderRow): { config: IdpConfig; provider: ResolvedProvider; as: AuthorizationServer; client: Client } | null {
  const config = parseConfig(idp);
  const provider = resolveProvider(idp.type, config);
  if (!provider || !config.client_id) return null;
  const as: AuthorizationServer = {
    issuer: provider.issuer,
    authorization_endpoint: provider.authorizationEndpoint,
    token_endpoint: provider.tokenEndpoint,
    jwks_uri: provider.jwksUri,
  };
  return { config, provider, as, client: { client_id: config.client_id } };
}

/** Whether a connection can log users in (has a client id and resolvable endpoints). */
export function isLoginConfigured(idp: IdentityProviderRow): boolean {
  return metadata(idp) !== null;
}

/** The scopes requested: the connection's (default openid, email, profile), always with `openid`. */
function scopesOf(config: IdpConfig): string {
  const scopes = config.scopes?.length ? config.scopes : DEFAULT_SCOPES;
  return [...new Set(["openid", ...scopes])].join(" ");
}

/** Builds the authorization request (PKCE S256 unless `pkce_enabled: false`, fresh state and nonce). Throws LoginNotConfiguredError. */
export async function startLogin(env: Env, idp: IdentityProviderRow, redirectUri: string): Promise<LoginStart> {
  const meta = metadata(idp);
  if (!meta) throw new LoginNotConfiguredError(`identity provider ${idp.id} is not configured for login (client_id and endpoints)`);
  const state = generateRandomState();
  const nonce = generateRandomNonce();
  const url = new URL(meta.provider.authorizationEndpoint);
  url.searchParams.set("client_id", meta.config.client_id!);
  url.searchParams.set("redirect_uri", redirectUri);
  url.searchParams.set("response_type", "code");
  url.searchParams.set("scope", scopesOf(meta.config));
  url.searchParams.set("state", state);
  url.searchParams.set("nonce", nonce);
  let codeVerifier = "";
  if (meta.config.pkce_enabled !== false) {
    codeVerifier = generateRandomCodeVerifier();
    url.searchParams.set("code_challenge", await calculatePKCECodeChallenge(codeVerifier));
    url.searchParams.set("code_challenge_method", "S256");
  }
  return { authorizationUrl: url.toString(), state, nonce, codeVerifier };
}

const jwksByUrl = new Map<string, RemoteJWKSet>();

/** The isolate's key set for a JWKS URL (created once; jose caches and refreshes it). */
function jwksFor(env: Env, jwksUri: string): RemoteJWKSet {
  const key = `${env.DEV_ROUTES === "true" ? "dev" : "prod"} ${jwksUri}`;
  let jwks = jwksByUrl.get(key);
  if (!jwks) {
    jwks = createRemoteJWKSet(new URL(jwksUri), {
      [joseCustomFetch]: idpFetch(env) as FetchImplementation,
      // An unknown `kid` refetches at once (jose's default waits 30 s after a fetch): the ID token
      // comes from our own back-channel request to the token endpoint, so its `kid` is the
      // provider's, not an attacker's, and a freshly rotated key must work on the first login.
      cooldownDuration: 0,
      timeoutDuration: 5000,
    });
    jwksByUrl.set(key, jwks);
  }
  return jwks;
}

const stringOrNull = (v: unknown) => (typeof v === "string" && v.length > 0 ? v : null);

/**
 * Completes a login from the callback URL: validates the authorization response against `state`,
 * redeems the code (client_secret_post, PKCE verifier), validates the ID token (oauth4webapi, with
 * `nonce`) and its signature (jose, JWKS). Never throws.
 */
export async function finishLogin(
  env: Env,
  idp: IdentityProviderRow,
  redirectUri: string,
  callbackUrl: URL,
  expected: { state: string; nonce: string; codeVerifier: string },
): Promise<{ ok: true; login: VerifiedLogin } | { ok: false; error: string }> {
  const meta = metadata(idp);
  if (!meta) return { ok: false, error: "This identity provider is not configured for login" };
  const { config, provider, as, client } = meta;

  let params: URLSearchParams;
  try {
    params = validateAuthResponse(as, client, callbackUrl, expected.state);
  } catch (error) {
    if (error instanceof AuthorizationResponseError) return { ok: false, error: `The identity provider refused the login (${safeCode(error.error)})` };
    return { ok: false, error: `Invalid authorization response: ${shortMessage(error)}` };
  }

  let idToken: string;
  let claims: Record<string, unknown>;
  try {
    let clientSecret: string | null = null;
    if (idp.clientSecretCiphertext) clientSecret = await openSecret(env.ACCESS_SECRETS_KEY, "idp_client_secret", idp.id, idp.clientSecretCiphertext);
    // client_secret_post: accepted by Entra ID and Okta alike. Without a stored secret the client is public (PKCE only).
    const auth = clientSecret ? ClientSecretPost(clientSecret) : None();
    const response = await authorizationCodeGrantRequest(as, client, auth, params, redirectUri, expected.codeVerifier || nopkce, oauthOptions(env, new URL(provider.tokenEndpoint)));
    const result = await processAuthorizationCodeResponse(as, client, response, { expectedNonce: expected.nonce, requireIdToken: true });
    idToken = result.id_token!;
    claims = { ...getValidatedIdTokenClaims(result) };
  } catch (error) {
    return { ok: false, error: tokenError(error) };
  }

  try {
    await jwtVerify(idToken, jwksFor(env, provider.jwksUri), { issuer: as.issuer, audience: client.client_id, algorithms: ["RS256"], clockTolerance: 30 });
  } catch (error) {
    return { ok: false, error: signatureError(error) };
  }

  const groups = claims.groups;
  return {
    ok: true,
    login: {
      subject: String(claims.sub),
      email: stringOrNull(claims[config.email_claim_name ?? "email"]),
      preferredUsername: stringOrNull(claims.preferred_username) ?? stringOrNull(claims.upn),
      groupsClaim: Array.isArray(groups) ? groups.filter((g): g is string => typeof g === "string") : [],
      claims,
    },
  };
}

/** OAuth error codes are ASCII tokens (RFC 6749 §4.1.2.1); anything else is not echoed. */
const safeCode = (code: string) => (/^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}$/.test(code) ? code : "error");

/** oauth4webapi's messages name the check that failed, never a token or secret value. */
const shortMessage = (error: unknown) => (error instanceof Error ? error.message.replace(/"/g, "").slice(0, 160) : "unknown error");

function tokenError(error: unknown): string {
  if (error instanceof ResponseBodyError) return `The identity provider's token endpoint refused the code (${safeCode(error.error)}, HTTP ${error.status})`;
  if (error instanceof WWWAuthenticateChallengeError) return `The identity provider's token endpoint refused the client's credentials (HTTP ${error.status})`;
  if (error instanceof OperationProcessingError) {
    const status = error.cause instanceof Response ? error.cause.status : null;
    if (status && status !== 200) return `The identity provider's token endpoint failed (HTTP ${status})`;
    return `The ID token was rejected: ${shortMessage(error)}`;
  }
  if (error instanceof Error && /ACCESS_SECRETS_KEY|decrypt|secret-box/i.test(`${error.name} ${error.message}`)) return "The connection's client secret cannot be read (was ACCESS_SECRETS_KEY changed?)";
  return "The identity provider's token endpoint could not be reached";
}

function signatureError(error: unknown): string {
  if (error instanceof joseErrors.JWKSNoMatchingKey) return "The ID token is signed with a key the identity provider does not publish";
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return "The ID token's signature is invalid";
  if (error instanceof joseErrors.JWTExpired) return "The ID token has expired";
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `The ID token was rejected: ${error.claim} claim check failed`;
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return "The ID token's signing algorithm is not accepted (RS256 only)";
  if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid) return "The identity provider's signing keys could not be fetched";
  if (error instanceof joseErrors.JOSEError) return `The ID token was rejected (${error.code})`;
  return "The identity provider's signing keys could not be fetched";
}
