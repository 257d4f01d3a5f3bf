import { publishedKeys } from "./keys";

/**
 * How long origins and caches may keep `/cdn-cgi/access/certs`. A newly rotated key signs at once in
 * the isolate that rotated it, so an origin holding a stale copy refuses those tokens until it
 * refetches: keep this short. Verifiers that refetch on an unknown `kid` (jose's
 * createRemoteJWKSet does) see the new key as soon as this copy and our isolate cache
 * (60 s, keys.ts) have expired, i.e. within two minutes.
 */
const CERTS_MAX_AGE_SECONDS = 60;

/**
 * `GET /cdn-cgi/access/certs` in Cloudflare's shape: `keys` (public JWKs), `public_cert` (the
 * current key's PEM certificate) and `public_certs` (every published key's). Public parts only.
 */
export async function certsResponse(env: Env): Promise<Response> {
  const { current, all } = await publishedKeys(env);
  const body = {
    keys: all.map((k) => ({ kid: k.kid, kty: k.jwk.kty, alg: "RS256", use: "sig", e: k.jwk.e, n: k.jwk.n })),
    public_cert: { kid: current.kid, cert: current.certPem },
    public_certs: all.map((k) => ({ kid: k.kid, cert: k.certPem })),
  };
  return new Response(JSON.stringify(body), {
    headers: { "content-type": "application/json", "cache-control": `public, max-age=${CERTS_MAX_AGE_SECONDS}` },
  });
}
