// The identity-aware DoH resolver (RFC 8484): `GET /dns-query?dns=` and `POST /dns-query`, with the
// device token in the path (`/dns-query/<token>`: operating systems configure DoH with a URL only) or
// in the `CF-Authorization` header. Per query: token → the user's Durable Object session → the DNS
// rules with the user's identity (SCIM groups at their current version) → answer.
//
// HTTP status vs DNS rcode (RFC 8484 §4.2.1: 2xx for any DNS response, whatever its rcode; other
// statuses carry no DNS reply):
//   400 malformed request or DNS message · 401 no token, or a token that is not a live device (unknown,
//   forged, revoked or expired device) · 403 an authentic device whose user session is refused (user
//   deactivated/deprovisioned, session revoked, expired or needing re-authentication) · 405 other
//   methods · 413 a message over 65535 octets · 415 a POST that is not application/dns-message ·
//   503 (Retry-After) when the session authority or the rules cannot be read: fail closed, and not a
//   SERVFAIL, because we never got to the question (a SERVFAIL is a DNS reply a stub may cache, RFC
//   2308 §7.1; an HTTP error is not). Upstream failures ARE a DNS outcome: SERVFAIL in a 200.
// No answer ever carries a stack trace; the token is never logged nor sent upstream.
import { Hono, type Context } from "hono";
import type { AppEnv } from "../http/app-env";
import { sessionsFor } from "../sessions/client";
import { CLASS_IN, lowerName, MAX_MESSAGE_OCTETS, RCODE, TYPE, typeName } from "./dns/codec";
import { buildResponse, parseIp, parseQuery, type AnswerRecord, type DnsQuery } from "./dns/messages";
import { resolveUpstream } from "./upstream";
import { resolveDeviceToken } from "./devices";
import { loadRuleSet } from "./rules-store";
import { recordDnsQuery } from "./dns-log";
import { matchRule, type GatewayRule } from "./rules/engine";

export const DNS_MESSAGE = "application/dns-message";
/** TTL of blocked and overridden answers: short, so lifting a block (or a group change) is seen within a minute. */
export const POLICY_ANSWER_TTL_SECONDS = 60;
/** base64url of 65535 octets, unpadded. */
const MAX_GET_PARAM = Math.ceil((MAX_MESSAGE_OCTETS * 4) / 3);

type Decision = "allowed" | "blocked" | "overridden" | "servfail";

/** Plain-text refusal: never cached, never a stack trace. */
function refuse(status: number, message: string, extra: Record<string, string> = {}): Response {
  return new Response(`${message}\n`, { status, headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store", ...extra } });
}

/**
 * A DNS answer. RFC 8484 §5.1 says a DoH answer's freshness should follow its TTL; but every answer
 * here depends on who asked (one user's block, another's allowed name under the same URL when the
 * token travels in a header), so a shared HTTP cache must never keep it: allowed answers are
 * `private, max-age=<remaining TTL>` (the device's own HTTP cache may reuse them as its stub would),
 * policy answers and SERVFAIL are `no-store` (a lifted block or a group change applies at the next query).
 */
function dnsAnswer(bytes: Uint8Array, cacheControl: string): Response {
  return new Response(bytes, { status: 200, headers: { "content-type": DNS_MESSAGE, "cache-control": cacheControl } });
}

function base64UrlDecode(s: string): Uint8Array | null {
  // RFC 8484 §4.1: base64url (RFC 4648 §5) with the padding left out ("MUST NOT be included").
  if (!/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) return null;
  try {
    const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (s.length % 4)) % 4));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

/** Reads the request's DNS message (GET `dns=` or POST body), or the HTTP refusal. */
async function readMessage(c: Context<AppEnv>): Promise<Uint8Array | Response> {
  if (c.req.method === "GET") {
    const param = c.req.query("dns");
    if (param === undefined || param === "") return refuse(400, "missing dns parameter");
    if (param.length > MAX_GET_PARAM) return refuse(413, "DNS message too large");
    return base64UrlDecode(param) ?? refuse(400, "dns parameter is not unpadded base64url");
  }
  const type = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== DNS_MESSAGE) return refuse(415, `content-type must be ${DNS_MESSAGE}`);
  const declared = c.req.header("content-length");
  if (declared !== undefined && !(Number(declared) <= MAX_MESSAGE_OCTETS)) return refuse(413, "DNS message too large");
  const body = c.req.raw.body;
  if (!body) return new Uint8Array(0);
  // Read with a cap: a chunked body without content-length must not be buffered whole.
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > MAX_MESSAGE_OCTETS) {
        await reader.cancel().catch(() => {});
        return refuse(413, "DNS message too large");
      }
      chunks.push(value);
    }
  } catch {
    return refuse(400, "could not read the request body");
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

/** The token from the path, else from `CF-Authorization` (raw, or as a Bearer credential). */
function tokenOf(c: Context<AppEnv>): string | null {
  const fromPath = c.req.param("token");
  if (fromPath) return fromPath;
  const header = c.req.header("cf-authorization")?.trim();
  if (!header) return null;
  return header.replace(/^bearer\s+/i, "") || null;
}

/** The records a blocked or overridden answer carries for this query type (none for other types). */
function policyRecords(rule: GatewayRule, query: DnsQuery): AnswerRecord[] {
  const family = query.type === TYPE.A ? 4 : query.type === TYPE.AAAA ? 6 : null;
  if (family === null) return [];
  const ips = (rule.settings.override_ips ?? []).map(parseIp).filter((ip) => ip?.family === family);
  if (ips.length > 0) return ips.map((ip) => ({ type: query.type, ttl: POLICY_ANSWER_TTL_SECONDS, rdata: ip!.bytes }));
  // A block without override IPs of this family is the unspecified address (Cloudflare's 0.0.0.0 / ::);
  // an override without them is NODATA.
  if (rule.action !== "block") return [];
  return [{ type: query.type, ttl: POLICY_ANSWER_TTL_SECONDS, rdata: new Uint8Array(family === 4 ? 4 : 16) }];
}

async function handle(c: Context<AppEnv>): Promise<Response> {
  const bytes = await readMessage(c);
  if (bytes instanceof Response) return bytes;
  const parsed = parseQuery(bytes);
  if (!parsed.ok) return refuse(400, `malformed DNS message: ${parsed.error}`);
  const query = parsed.value;

  const token = tokenOf(c);
  if (!token) return refuse(401, "device token required", { "www-authenticate": 'Bearer realm="gateway"' });
  let device: Awaited<ReturnType<typeof resolveDeviceToken>>;
  try {
    device = await resolveDeviceToken(c.env, token);
  } catch (e) {
    console.error("gateway: device lookup failed", e instanceof Error ? e.message : String(e));
    return refuse(503, "resolver temporarily unavailable", { "retry-after": "1" });
  }
  if (!device) return refuse(401, "invalid device token", { "www-authenticate": 'Bearer realm="gateway", error="invalid_token"' });

  const check = await sessionsFor(c.env, device.userId).check(device.sessionId);
  if (check.status === "unavailable") return refuse(503, "resolver temporarily unavailable", { "retry-after": "1" });
  if (check.status !== "valid") return refuse(403, "device no longer authorized");

  // Only standard queries in class IN are ours to answer (after authentication: strangers learn nothing).
  if (query.opcode !== 0) return dnsAnswer(buildResponse(query, RCODE.NOTIMP), "no-store");
  if (query.class !== CLASS_IN) return dnsAnswer(buildResponse(query, RCODE.REFUSED), "no-store");

  const fqdn = lowerName(query.name);
  const type = typeName(query.type);
  let rule: GatewayRule | null;
  try {
    rule = matchRule(await loadRuleSet(c.env), "dns", { dns: { fqdn, type }, identity: { email: check.identity.email, groups: check.identity.groups } });
  } catch (e) {
    console.error("gateway: rules unavailable", e instanceof Error ? e.message : String(e));
    return refuse(503, "resolver temporarily unavailable", { "retry-after": "1" });
  }

  let response: Response;
  let decision: Decision;
  if (rule && rule.action !== "allow") {
    decision = rule.action === "block" ? "blocked" : "overridden";
    response = dnsAnswer(buildResponse(query, RCODE.NOERROR, policyRecords(rule, query)), "no-store");
  } else {
    const answer = await resolveUpstream(c.env, query);
    if (answer.ok) {
      decision = "allowed";
      response = dnsAnswer(answer.bytes, `private, max-age=${answer.ttl}`);
    } else {
      console.error("gateway: upstream failed", answer.reason);
      decision = "servfail";
      response = dnsAnswer(buildResponse(query, RCODE.SERVFAIL), "no-store");
    }
  }
  log(c, { userId: device.userId, deviceId: device.deviceId, queryName: fqdn, queryType: type, decision, ruleId: rule?.id ?? null });
  return response;
}

function log(c: Context<AppEnv>, entry: Parameters<typeof recordDnsQuery>[2]): void {
  let ctx: ExecutionContext | undefined;
  try {
    ctx = c.executionCtx as unknown as ExecutionContext; // Hono types a subset of the Workers one
  } catch {
    ctx = undefined; // app.fetch called without one (tests)
  }
  try {
    recordDnsQuery(c.env, ctx, entry);
  } catch (e) {
    console.error("gateway: could not record a DNS query", e instanceof Error ? e.message : String(e));
  }
}

/** Wraps a handler so nothing escapes as a 5xx with a stack trace: an unexpected fault is a plain 503. */
async function safely(c: Context<AppEnv>): Promise<Response> {
  try {
    return await handle(c);
  } catch (e) {
    console.error("gateway: DoH request failed", e instanceof Error ? e.name : "error");
    return refuse(503, "resolver temporarily unavailable", { "retry-after": "1" });
  }
}

const notAllowed = () => refuse(405, "use GET or POST", { allow: "GET, POST" });

/** The DoH routes, mounted at `/dns-query` in src/app.ts. */
export const dohRoutes = new Hono<AppEnv>();
dohRoutes.on(["GET", "POST"], "/", safely);
dohRoutes.on(["GET", "POST"], "/:token", safely);
dohRoutes.all("/", notAllowed);
dohRoutes.all("/:token", notAllowed);
