import { env } from "cloudflare:workers";
import { base64url, exportJWK, exportSPKI, generateKeyPair, importJWK, SignJWT, type JWK } from "jose";
import { X509Certificate } from "node:crypto";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { openSecret } from "../../src/lib/secret-box";
import { certsResponse, signAccessToken, verifyAccessToken, type AccessClaims } from "../../src/access/tokens/jwt";
import { resetKeyCaches } from "../../src/access/tokens/keys";
import { recordingD1 } from "../helpers";

const ISSUER = "https://team.edge.test";
const AUD = "a".repeat(64);
const expect_ = { audience: AUD, type: "app" as const, issuer: ISSUER };
const now = () => Math.floor(Date.now() / 1000);

function claims(over: Partial<Omit<AccessClaims, "iat" | "nbf" | "iss">> = {}): Omit<AccessClaims, "iat" | "nbf" | "iss"> {
  return {
    aud: [AUD],
    email: "alice@example.com",
    sub: "user-1",
    exp: now() + 3600,
    type: "app",
    identity_nonce: "nonce-1",
    sid: "session-1",
    groups_version: 3,
    idp_id: "idp-1",
    ...over,
  };
}

interface CertsBody {
  keys: (JWK & { kid: string })[];
  public_cert: { kid: string; cert: string };
  public_certs: { kid: string; cert: string }[];
}

const b64json = (v: unknown) => base64url.encode(JSON.stringify(v));

afterEach(() => vi.restoreAllMocks());

describe("Access tokens: sign and verify", () => {
  let token: string;
  let kid: string;
  beforeAll(async () => {
    token = await signAccessToken(env, claims(), ISSUER);
    kid = JSON.parse(new TextDecoder().decode(base64url.decode(token.split(".")[0]!))).kid;
  });

  it("round-trips Cloudflare's claims, with an RS256 header naming the key", async () => {
    const [h, p] = token.split(".");
    expect(JSON.parse(new TextDecoder().decode(base64url.decode(h!)))).toEqual({ alg: "RS256", kid, typ: "JWT" });
    const payload = JSON.parse(new TextDecoder().decode(base64url.decode(p!)));
    expect(payload.aud).toEqual([AUD]); // an array, as Cloudflare's
    expect(payload.iat).toBe(payload.nbf);
    const result = await verifyAccessToken(env, token, expect_);
    expect(result).toEqual({ ok: true, claims: { ...claims(), exp: payload.exp, iat: payload.iat, nbf: payload.nbf, iss: ISSUER } });
  });

  it("refuses a token signed by another key under the published kid", async () => {
    const other = await generateKeyPair("RS256");
    const forged = await new SignJWT({ ...claims(), type: "app" }).setProtectedHeader({ alg: "RS256", kid, typ: "JWT" }).setIssuer(ISSUER).setIssuedAt().setNotBefore(now()).sign(other.privateKey);
    expect(await verifyAccessToken(env, forged, expect_)).toEqual({ ok: false, reason: "bad_signature" });
  });

  it("refuses `alg: none` (crafted by hand) and HS256 keyed with the public key (key confusion)", async () => {
    const payload = { ...claims(), iss: ISSUER, iat: now(), nbf: now() };
    const none = `${b64json({ alg: "none", kid, typ: "JWT" })}.${b64json(payload)}.`;
    expect(await verifyAccessToken(env, none, expect_)).toEqual({ ok: false, reason: "bad_signature" });
    const noneNoKid = `${b64json({ alg: "none" })}.${b64json(payload)}.`;
    expect(await verifyAccessToken(env, noneNoKid, expect_)).toEqual({ ok: false, reason: "bad_signature" });

    const certs = (await (await certsResponse(env)).json()) as CertsBody;
    const publicJwk = certs.keys.find((k) => k.kid === kid)!;
    const publicPem = await exportSPKI((await importJWK(publicJwk, "RS256", { extractable: true })) as CryptoKey);
    for (const secret of [publicPem, JSON.stringify(publicJwk)]) {
      const hs = await new SignJWT(payload).setProtectedHeader({ alg: "HS256", kid, typ: "JWT" }).sign(new TextEncoder().encode(secret));
      expect(await verifyAccessToken(env, hs, expect_)).toEqual({ ok: false, reason: "bad_signature" });
    }
  });

  it("refuses a tampered payload", async () => {
    const [h, p, s] = token.split(".");
    const payload = JSON.parse(new TextDecoder().decode(base64url.decode(p!)));
    const tampered = `${h}.${b64json({ ...payload, email: "mallory@example.com" })}.${s}`;
    expect(await verifyAccessToken(env, tampered, expect_)).toEqual({ ok: false, reason: "bad_signature" });
    const flipped = `${h}.${p}.${s!.slice(0, -4)}${s!.slice(-4) === "AAAA" ? "BBBB" : "AAAA"}`;
    expect(await verifyAccessToken(env, flipped, expect_)).toEqual({ ok: false, reason: "bad_signature" });
  });

  it("refuses an expired token and a token not valid yet", async () => {
    const t = Date.now();
    vi.spyOn(Date, "now").mockReturnValue(t - 2 * 3600_000);
    const expired = await signAccessToken(env, claims({ exp: Math.floor(t / 1000) - 60 }), ISSUER);
    vi.spyOn(Date, "now").mockReturnValue(t + 3600_000);
    const early = await signAccessToken(env, claims({ exp: Math.floor(t / 1000) + 7200 }), ISSUER);
    vi.restoreAllMocks();
    expect(await verifyAccessToken(env, expired, expect_)).toEqual({ ok: false, reason: "expired" });
    expect(await verifyAccessToken(env, early, expect_)).toEqual({ ok: false, reason: "not_yet_valid" });
  });

  it.each([
    ["another audience", { ...expect_, audience: "b".repeat(64) }, "wrong_audience"],
    ["the org type where an app token is expected", { ...expect_, type: "org" as const }, "wrong_type"],
    ["another issuer", { ...expect_, issuer: "https://other.edge.test" }, "wrong_issuer"],
  ])("refuses a token checked against %s", async (_label, expectation, reason) => {
    expect(await verifyAccessToken(env, token, expectation)).toEqual({ ok: false, reason });
  });

  it("refuses an unknown kid", async () => {
    const other = await generateKeyPair("RS256");
    const t = await new SignJWT({ ...claims() }).setProtectedHeader({ alg: "RS256", kid: "no-such-key", typ: "JWT" }).setIssuer(ISSUER).setIssuedAt().setNotBefore(now()).sign(other.privateKey);
    expect(await verifyAccessToken(env, t, expect_)).toEqual({ ok: false, reason: "unknown_kid" });
    const noKid = await new SignJWT({ ...claims() }).setProtectedHeader({ alg: "RS256" }).setIssuer(ISSUER).setIssuedAt().setNotBefore(now()).sign(other.privateKey);
    expect(await verifyAccessToken(env, noKid, expect_)).toEqual({ ok: false, reason: "unknown_kid" });
  });

  it.each([
    ["empty", ""],
    ["one segment", "abc"],
    ["two segments", "abc.def"],
    ["four segments", "a.b.c.d"],
    ["not base64url", "%%%.***.!!!"],
    ["whitespace", ` ${"a".repeat(10)}.b.c `],
    ["a header that is not JSON", `${base64url.encode("not json")}.${b64json({})}.sig`],
    ["a header that is a JSON string", `${b64json("RS256")}.${b64json({})}.sig`],
    ["huge (1 MiB)", `${"a".repeat(1 << 20)}.b.c`],
    ["just over the length cap", `${b64json({ alg: "RS256", kid: "k" })}.${"a".repeat(8192)}.c`],
  ])("refuses garbage (%s) as malformed without throwing", async (_label, garbage) => {
    await expect(verifyAccessToken(env, garbage, expect_)).resolves.toEqual({ ok: false, reason: "malformed" });
  });

  it("refuses non-string input without throwing", async () => {
    for (const v of [undefined, null, 42, {}]) {
      await expect(verifyAccessToken(env, v as unknown as string, expect_)).resolves.toEqual({ ok: false, reason: "malformed" });
    }
  });

  it("refuses a validly signed token missing Access claims", async () => {
    // Only our key can sign; signAccessToken always writes every claim, so build one with jose and the stored key.
    const row = await env.DB.prepare("SELECT kid, private_jwk_ciphertext FROM access_signing_keys WHERE rotated_at IS NULL").first<{ kid: string; private_jwk_ciphertext: string }>();
    const priv = await importJWK(JSON.parse(await openSecret(env.ACCESS_SECRETS_KEY, "access_signing_key", row!.kid, row!.private_jwk_ciphertext)), "RS256");
    const partial = await new SignJWT({ type: "app", email: "alice@example.com" })
      .setProtectedHeader({ alg: "RS256", kid: row!.kid, typ: "JWT" })
      .setAudience([AUD]).setIssuer(ISSUER).setSubject("user-1").setIssuedAt().setNotBefore(now()).setExpirationTime(now() + 60)
      .sign(priv);
    expect(await verifyAccessToken(env, partial, expect_)).toEqual({ ok: false, reason: "malformed" });
  });

  it("refuses to sign an exp in the past or beyond the longest session", async () => {
    await expect(signAccessToken(env, claims({ exp: now() - 1 }), ISSUER)).rejects.toThrow(/exp/);
    await expect(signAccessToken(env, claims({ exp: now() + 32 * 86_400 }), ISSUER)).rejects.toThrow(/exp/);
  });

  it("verifies from the isolate cache without reading D1, and a forged kid re-reads D1 at most once per 5 s", async () => {
    const rec = recordingD1();
    const recEnv = { ...env, DB: rec.db };
    resetKeyCaches();
    expect((await verifyAccessToken(recEnv, token, expect_)).ok).toBe(true); // cold: loads the keys
    rec.calls.length = 0;
    for (let i = 0; i < 20; i++) expect((await verifyAccessToken(recEnv, token, expect_)).ok).toBe(true);
    expect(rec.calls).toEqual([]);

    const other = await generateKeyPair("RS256");
    const forged = (k: string) =>
      new SignJWT({ ...claims() }).setProtectedHeader({ alg: "RS256", kid: k, typ: "JWT" }).setIssuer(ISSUER).setIssuedAt().setNotBefore(now()).sign(other.privateKey);
    const results = await Promise.all(Array.from({ length: 50 }, async (_, i) => verifyAccessToken(recEnv, await forged(`forged-${i}`), expect_)));
    expect(results.every((r) => !r.ok && r.reason === "unknown_kid")).toBe(true);
    const reloads = rec.calls.length;
    expect(reloads).toBeGreaterThan(0);
    expect(reloads).toBeLessThanOrEqual(2); // one re-read: the current key, then the published set
    for (let i = 0; i < 20; i++) await verifyAccessToken(recEnv, await forged(`later-${i}`), expect_);
    expect(rec.calls.length).toBe(reloads);

    const t = Date.now();
    vi.spyOn(Date, "now").mockReturnValue(t + 5_001);
    await verifyAccessToken(recEnv, await forged("after-the-window"), expect_);
    expect(rec.calls.length).toBe(2 * reloads);
  });
});

describe("Access signing keys at rest", () => {
  it("stores the private JWK sealed, bound to its kid", async () => {
    await signAccessToken(env, claims(), ISSUER);
    const row = await env.DB.prepare("SELECT * FROM access_signing_keys WHERE rotated_at IS NULL").first<{ kid: string; public_jwk: string; private_jwk_ciphertext: string }>();
    expect(row!.private_jwk_ciphertext).toMatch(/^v1\./);
    for (const value of Object.values(row!)) expect(String(value)).not.toMatch(/"(d|p|q|dp|dq|qi)"\s*:/);
    const opened = JSON.parse(await openSecret(env.ACCESS_SECRETS_KEY, "access_signing_key", row!.kid, row!.private_jwk_ciphertext)) as JWK;
    expect(opened).toMatchObject({ kty: "RSA", d: expect.any(String), n: JSON.parse(row!.public_jwk).n });
    await expect(openSecret(env.ACCESS_SECRETS_KEY, "access_signing_key", "another-kid", row!.private_jwk_ciphertext)).rejects.toThrow();
    await expect(openSecret(env.ACCESS_SECRETS_KEY, "idp_client_secret", row!.kid, row!.private_jwk_ciphertext)).rejects.toThrow();
  });
});

describe("GET /cdn-cgi/access/certs body", () => {
  it("has Cloudflare's shape, public parts only, and a short public cache lifetime", async () => {
    await signAccessToken(env, claims(), ISSUER);
    const res = await certsResponse(env);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.headers.get("cache-control")).toBe("public, max-age=60");
    const text = await res.text();
    for (const member of ["d", "p", "q", "dp", "dq", "qi"]) expect(text).not.toContain(`"${member}":`);
    const body = JSON.parse(text) as CertsBody;
    const current = await env.DB.prepare("SELECT kid FROM access_signing_keys WHERE rotated_at IS NULL").first<{ kid: string }>();
    expect(body.keys).toEqual([{ kid: current!.kid, kty: "RSA", alg: "RS256", use: "sig", e: "AQAB", n: expect.any(String) }]);
    expect(body.public_cert).toEqual({ kid: current!.kid, cert: expect.stringMatching(/^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+\n-----END CERTIFICATE-----\n$/) });
    expect(body.public_certs).toEqual([body.public_cert]);
  });

  it("publishes a self-signed X.509 v3 certificate of the JWK's key, verifiable with that key", async () => {
    const body = (await (await certsResponse(env)).json()) as CertsBody;
    const jwk = body.keys[0]!;
    const x509 = new X509Certificate(body.public_cert.cert);
    expect(x509.subject).toBe(`CN=${jwk.kid}`);
    expect(x509.issuer).toBe(x509.subject);
    expect(Date.parse(x509.validFrom)).toBeLessThanOrEqual(Date.now());
    expect(Date.parse(x509.validTo)).toBeGreaterThan(Date.now() + 365 * 86_400_000);
    // The certificate's key is the JWK's key, bit for bit…
    const jwkKey = (await importJWK(jwk, "RS256", { extractable: true })) as CryptoKey;
    const jwkSpki = new Uint8Array((await crypto.subtle.exportKey("spki", jwkKey)) as ArrayBuffer);
    expect(new Uint8Array(x509.publicKey.export({ type: "spki", format: "der" }))).toEqual(jwkSpki);
    // …and the signature verifies under it: with node:crypto (workerd only verifies with the
    // certificate's own KeyObject, equal to the JWK's as just shown) and independently with WebCrypto.
    expect(x509.verify(x509.publicKey)).toBe(true);
    const { tbs, signature } = splitCertificate(new Uint8Array(x509.raw));
    expect(await crypto.subtle.verify("RSASSA-PKCS1-v1_5", jwkKey, signature, tbs)).toBe(true);
    // A certificate signed by another key does not verify under this one.
    const other = await generateKeyPair("RS256");
    const otherKey = (await importJWK({ ...(await exportJWK(other.publicKey)), alg: "RS256" }, "RS256")) as CryptoKey;
    expect(await crypto.subtle.verify("RSASSA-PKCS1-v1_5", otherKey, signature, tbs)).toBe(false);
  });
});

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING } (RFC 5280 §4.1). */
function splitCertificate(der: Uint8Array): { tbs: Uint8Array; signature: Uint8Array } {
  const read = (at: number) => {
    let len = der[at + 1]!;
    let header = 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + der[at + 2 + i]!;
      header += n;
    }
    return { start: at, contentStart: at + header, end: at + header + len };
  };
  const outer = read(0);
  const tbs = read(outer.contentStart);
  const alg = read(tbs.end);
  const sig = read(alg.end);
  return { tbs: der.slice(tbs.start, tbs.end), signature: der.slice(sig.contentStart + 1, sig.end) };
}
