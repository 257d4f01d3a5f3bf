// Access tokens: RS256 JWTs with Cloudflare Access's claims, signed with the current key of
// ./keys.ts and verified against the published ones. All JOSE work is jose's; this module only
// decides which claims go in and maps jose's errors onto a small set of refusal reasons.
import { decodeProtectedHeader, errors, jwtVerify, SignJWT } from "jose";
import { currentSigningKey, MAX_TOKEN_LIFETIME_SECONDS, publishedKey } from "./keys";

export { certsResponse } from "./certs-response";

/** The claims of a Cloudflare Access token (`CF_Authorization`, `Cf-Access-Jwt-Assertion`). */
export interface AccessClaims {
  /** Application audience tags; always an array, as Cloudflare's. */
  aud: string[];
  email: string;
  /** The user id. */
  sub: string;
  iat: number;
  nbf: number;
  exp: number;
  iss: string;
  /** `app`: a token for one application host; `org`: the team-domain (login) session. */
  type: "app" | "org";
  identity_nonce: string;
  /** The session id in the user's Durable Object. */
  sid: string;
  /** `users.groups_version` when the policy was evaluated. */
  groups_version: number;
  idp_id: string;
}

/** Why a token was refused. */
export type VerifyFailure = "malformed" | "bad_signature" | "unknown_kid" | "expired" | "not_yet_valid" | "wrong_audience" | "wrong_type" | "wrong_issuer";

export type VerifyResult = { ok: true; claims: AccessClaims } | { ok: false; reason: VerifyFailure };

/** Longer than any token we sign (~1.5 KiB); anything bigger is refused before parsing. */
const MAX_TOKEN_LENGTH = 8192;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
/**
 * Seconds of clock skew allowed on `exp`/`nbf` (RFC 7519 §4.1.4 "some small leeway"): signer and
 * verifier are both Workers on NTP-synchronised hosts, so a few seconds is enough.
 */
const CLOCK_TOLERANCE_SECONDS = 5;

/** Signs an Access token with the current key; `iat`/`nbf` are now. Throws on an `exp` in the past or beyond the longest session. */
export async function signAccessToken(env: Env, claims: Omit<AccessClaims, "iat" | "nbf" | "iss">, issuer: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  if (!Number.isInteger(claims.exp) || claims.exp <= now || claims.exp > now + MAX_TOKEN_LIFETIME_SECONDS) {
    // Published keys are retired MAX_TOKEN_LIFETIME_SECONDS after rotation at the latest (keys.ts).
    throw new Error(`signAccessToken: exp must be within ${MAX_TOKEN_LIFETIME_SECONDS} s from now`);
  }
  if (claims.aud.length === 0) throw new Error("signAccessToken: aud must name at least one audience");
  const { kid, privateKey } = await currentSigningKey(env);
  return new SignJWT({
    email: claims.email,
    type: claims.type,
    identity_nonce: claims.identity_nonce,
    sid: claims.sid,
    groups_version: claims.groups_version,
    idp_id: claims.idp_id,
  })
    .setProtectedHeader({ alg: "RS256", kid, typ: "JWT" })
    .setAudience(claims.aud)
    .setSubject(claims.sub)
    .setIssuer(issuer)
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(claims.exp)
    .sign(privateKey);
}

/**
 * Verifies an Access token: RS256 only, signed by a published key, `aud` containing `audience`,
 * the expected `type` and `iss`, inside `nbf`..`exp`. Never throws on any token; only an
 * unavailable D1 while this isolate has no keys cached can reject (fail closed).
 */
export async function verifyAccessToken(env: Env, token: string, expect: { audience: string; type: "app" | "org"; issuer: string }): Promise<VerifyResult> {
  if (typeof token !== "string" || token.length > MAX_TOKEN_LENGTH || !COMPACT_JWS.test(token)) return fail("malformed");
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    return fail("malformed");
  }
  // Pinning the algorithm before any key lookup refuses `alg: none` and HS256-with-the-public-key
  // (RFC 8725 §2.1, §3.1) without touching D1; jwtVerify pins it again.
  if (header.alg !== "RS256") return fail("bad_signature");
  if (typeof header.kid !== "string" || header.kid.length === 0 || header.kid.length > 128) return fail("unknown_kid");
  const found = await publishedKey(env, header.kid);
  if (!found) return fail("unknown_kid");
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, found.keys.keySet, {
      algorithms: ["RS256"],
      audience: expect.audience,
      issuer: expect.issuer,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ["exp", "nbf", "iat", "sub", "aud"],
    }));
  } catch (e) {
    return fail(reasonFor(e));
  }
  if (payload.type !== expect.type) return fail(payload.type === "app" || payload.type === "org" ? "wrong_type" : "malformed");
  return isAccessClaims(payload) ? { ok: true, claims: payload } : fail("malformed");
}

const fail = (reason: VerifyFailure): VerifyResult => ({ ok: false, reason });

/** jose's error → our reason. */
function reasonFor(e: unknown): VerifyFailure {
  if (e instanceof errors.JWTExpired) return "expired";
  if (e instanceof errors.JWTClaimValidationFailed) {
    if (e.reason === "missing") return "malformed";
    if (e.claim === "nbf") return "not_yet_valid";
    if (e.claim === "aud") return "wrong_audience";
    if (e.claim === "iss") return "wrong_issuer";
    return "malformed";
  }
  if (e instanceof errors.JWSSignatureVerificationFailed || e instanceof errors.JOSEAlgNotAllowed) return "bad_signature";
  if (e instanceof errors.JWKSNoMatchingKey) return "unknown_kid";
  return "malformed";
}

/** The shape check after the signature: a token we signed always passes it. */
function isAccessClaims(p: Record<string, unknown>): p is Record<string, unknown> & AccessClaims {
  const str = (v: unknown) => typeof v === "string";
  return (
    Array.isArray(p.aud) &&
    p.aud.every(str) &&
    str(p.email) &&
    str(p.sub) &&
    str(p.iss) &&
    str(p.identity_nonce) &&
    str(p.sid) &&
    str(p.idp_id) &&
    Number.isInteger(p.groups_version) &&
    Number.isInteger(p.iat) &&
    Number.isInteger(p.nbf) &&
    Number.isInteger(p.exp)
  );
}
