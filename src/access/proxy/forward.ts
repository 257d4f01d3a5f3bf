// Forwarding an allowed request to the app's origin, as a reverse proxy should (RFC 9110 §7.6.1):
// hop-by-hop headers, and those the client lists in `Connection`, are not forwarded; identity
// headers are ours alone (a copy sent by the client is always removed, then ours is set); the
// origin's redirects are passed back to the browser, not followed here.
import { proxy } from "hono/proxy";
import type { AccessApp } from "../apps/types";

/** Headers only this edge may set towards an origin; the client's copies are dropped. */
const IDENTITY_HEADERS = ["cf-access-jwt-assertion", "cf-access-authenticated-user-email", "cf-access-token", "cf-access-client-id", "cf-access-client-secret"];
/** RFC 9110 §7.6.1 plus the de-facto ones (`keep-alive`, `proxy-connection`). */
/**
 * Client-address headers a client may forge. This edge is the first hop an origin trusts, so it
 * replaces them rather than appending (origins commonly read the left-most X-Forwarded-For entry):
 * `X-Forwarded-For` becomes `CF-Connecting-IP` (set by Cloudflare's edge, which a client cannot
 * spoof); the rest (RFC 7239 `Forwarded`, `X-Real-IP`, `True-Client-IP`, `X-Forwarded-Port`) are dropped.
 */
const CLIENT_ADDRESS_HEADERS = ["x-forwarded-for", "forwarded", "x-real-ip", "true-client-ip", "x-forwarded-port"];
const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"];
const TOKEN = /^[!#$%&'*+\-.0-9A-Z^_`a-z|~]+$/;

/** The origin URL for a request: the app's origin with the request's path and query appended. */
export function originUrl(app: AccessApp, requestUrl: URL): URL {
  const origin = new URL(app.origin);
  const base = origin.pathname.replace(/\/+$/, "");
  // Set the path on the origin's URL; never resolve it as a reference: `//evil.example/x` is a
  // network-path reference (RFC 3986 §4.2) that would send the request, with the user's assertion
  // and cookies, to evil.example.
  const out = new URL(origin.origin);
  out.pathname = `${base}${requestUrl.pathname}`;
  out.search = requestUrl.search;
  return out;
}

/** Who the request is for, when it carries an identity (bypass and service-auth requests do not). */
export interface ForwardIdentity {
  /** The app token, sent as `Cf-Access-Jwt-Assertion`. */
  assertion: string;
  email: string;
}

/** Sends `request` to `app.origin`; a network failure is a 502 page, never an exception. */
export async function forwardToOrigin(request: Request, app: AccessApp, identity: ForwardIdentity | null): Promise<Response> {
  const url = new URL(request.url);
  const headers = new Headers(request.headers);
  for (const listed of (headers.get("connection") ?? "").split(",").map((h) => h.trim()).filter((h) => TOKEN.test(h))) headers.delete(listed);
  for (const h of HOP_BY_HOP) headers.delete(h);
  for (const h of IDENTITY_HEADERS) headers.delete(h);
  headers.delete("host");
  if (identity) {
    headers.set("cf-access-jwt-assertion", identity.assertion);
    // Header values must be ISO-8859-1 (Fetch `Headers`); an internationalised address (RFC 6531) is
    // left out of this convenience header rather than failing the request: the assertion carries it.
    if (/^[\x20-\x7e]+$/.test(identity.email)) headers.set("cf-access-authenticated-user-email", identity.email);
  }
  for (const h of CLIENT_ADDRESS_HEADERS) headers.delete(h);
  const client = request.headers.get("cf-connecting-ip");
  if (client) headers.set("x-forwarded-for", client);
  headers.set("x-forwarded-host", url.host);
  headers.set("x-forwarded-proto", url.protocol.replace(":", ""));
  try {
    return await proxy(originUrl(app, url), {
      method: request.method,
      headers,
      body: request.body,
      // @ts-expect-error -- `duplex` is required by the Fetch standard for streamed bodies; workerd accepts it.
      duplex: request.body ? "half" : undefined,
      redirect: "manual",
    });
  } catch (error) {
    console.error("origin unreachable", app.id, error instanceof Error ? error.name : "error");
    return new Response("The application's origin could not be reached.", { status: 502, headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" } });
  }
}
