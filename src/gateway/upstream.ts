// Allowed queries: forwarded to the upstream DoH resolver (`GATEWAY_UPSTREAM`, RFC 8484 POST) through a
// per-isolate answer cache. The cache holds upstream answers only — never a policy decision: it is
// consulted after the user's rules allowed the name, so one user's block can never be served to another.
import { ageTtls, cacheTtl, FLAG, HEADER_LENGTH, lowerName, MAX_MESSAGE_OCTETS, parseMessage, setId, type DnsMessage } from "./dns/codec";
import { buildUpstreamQuery, type DnsQuery, type UpstreamQuestion } from "./dns/messages";

/** Longest an upstream answer is kept (and advertised in `cache-control`), whatever its TTLs say. */
export const MAX_CACHE_TTL_SECONDS = 300;
/** An upstream that has not answered by then is a failure (SERVFAIL to the client, who retries). */
export const UPSTREAM_TIMEOUT_MS = 2_500;
/** Bounds on the per-isolate cache (oldest insertion evicted first): an isolate has 128 MB, an answer may be 64 KB. */
const MAX_CACHE_ENTRIES = 10_000;
export const MAX_CACHE_BYTES = 8 * 1024 * 1024;
/**
 * What one parsed record costs in memory beside its octets (a `DnsRecord` object of seven fields).
 * Counting octets alone let a 64 KB answer of ~4,000 tiny records (a zone a device's user controls)
 * hold ~6× its size: 8 MB of "bytes" was ~50 MB of heap.
 */
const RECORD_COST = 96;

/** An answer for the client: its ID and question case, TTLs aged; `ttl` is what may be advertised. */
export type UpstreamAnswer = { ok: true; bytes: Uint8Array; ttl: number; cached: boolean } | { ok: false; reason: string };

interface Entry {
  bytes: Uint8Array;
  message: DnsMessage;
  storedAt: number;
  ttl: number;
  /** Octets plus the parsed records' estimated heap, counted against MAX_CACHE_BYTES. */
  cost: number;
}

// Concurrent misses for one key each ask the upstream: no promise is shared across requests (workerd
// ties I/O to the request that started it, and a cancelled request would strand the others).
const cache = new Map<string, Entry>();
let cachedBytes = 0;

/** Empties the answer cache (tests). */
export function clearAnswerCache(): void {
  cache.clear();
  cachedBytes = 0;
}

/** The cache's entry count and accounted cost (tests). */
export function answerCacheUsage(): { entries: number; cost: number } {
  return { entries: cache.size, cost: cachedBytes };
}

/** What makes two queries the same to the upstream: name (case-folded), type, class, EDNS, DO, CD. */
function upstreamQuestion(query: DnsQuery): UpstreamQuestion {
  return { wire: query.wire, type: query.type, class: query.class, edns: query.edns !== null, do: query.edns?.do ?? false, cd: (query.flags & FLAG.CD) !== 0 };
}

function keyOf(query: DnsQuery, q: UpstreamQuestion): string {
  return `${lowerName(query.name)}|${q.type}|${q.class}|${q.edns ? 1 : 0}${q.do ? 1 : 0}${q.cd ? 1 : 0}`;
}

/** Resolves an allowed query through the cache or the upstream; never throws (a failure is `{ok: false}` → SERVFAIL). */
export async function resolveUpstream(env: Pick<Env, "GATEWAY_UPSTREAM">, query: DnsQuery, now = Date.now()): Promise<UpstreamAnswer> {
  const q = upstreamQuestion(query);
  const key = keyOf(query, q);
  const hit = cache.get(key);
  if (hit && now < hit.storedAt + hit.ttl * 1000) return { ok: true, ...personalise(hit, query, now), cached: true };
  if (hit) evict(key);
  const entry = await fetchUpstream(env.GATEWAY_UPSTREAM, query, q, now);
  if ("failed" in entry) return { ok: false, reason: entry.failed };
  if (entry.ttl > 0) store(key, entry);
  return { ok: true, ...personalise(entry, query, now), cached: false };
}

function evict(key: string): void {
  const entry = cache.get(key);
  if (!entry) return;
  cache.delete(key);
  cachedBytes -= entry.cost;
}

function store(key: string, entry: Entry): void {
  evict(key);
  while (cache.size > 0 && (cache.size >= MAX_CACHE_ENTRIES || cachedBytes + entry.cost > MAX_CACHE_BYTES)) {
    evict(cache.keys().next().value!);
  }
  cache.set(key, entry);
  cachedBytes += entry.cost;
}

/**
 * A copy of a stored answer for this client: its message ID (RFC 8484 §4.1: the upstream saw ID 0),
 * its RD bit, its question name's case (DNS 0x20 clients compare it), TTLs lowered by the answer's age
 * (RFC 1035 §7.4 / RFC 8767 §4 — a cached answer never claims more life than it has left).
 */
function personalise(entry: Entry, query: DnsQuery, now: number): { bytes: Uint8Array; ttl: number } {
  const bytes = entry.bytes.slice();
  const age = Math.max(0, Math.floor((now - entry.storedAt) / 1000));
  ageTtls(bytes, entry.message, age);
  setId(bytes, query.id);
  bytes[2] = (bytes[2]! & ~(FLAG.RD >> 8)) | ((query.flags & FLAG.RD) >> 8);
  const question = entry.message.questions[0];
  if (question && question.nameStart === HEADER_LENGTH && question.nameEnd - question.nameStart === query.wire.length) {
    bytes.set(query.wire, HEADER_LENGTH);
  }
  return { bytes, ttl: Math.max(0, entry.ttl - age) };
}

/** One upstream exchange: POST `application/dns-message`, with no header naming the device, user or client. */
async function fetchUpstream(upstream: string, query: DnsQuery, q: UpstreamQuestion, now: number): Promise<Entry | { failed: string }> {
  let res: Response;
  try {
    // Only the media-type headers: no token, no identity, no client address (X-Forwarded-For, CF-Connecting-IP).
    res = await fetch(upstream, {
      method: "POST",
      headers: { "content-type": "application/dns-message", accept: "application/dns-message" },
      body: buildUpstreamQuery(q),
      signal: AbortSignal.timeout(UPSTREAM_TIMEOUT_MS),
      redirect: "manual",
    });
  } catch (e) {
    return { failed: e instanceof Error && (e.name === "TimeoutError" || e.name === "AbortError") ? "upstream timeout" : "upstream unreachable" };
  }
  try {
    const type = (res.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    if (res.status !== 200 || type !== "application/dns-message") {
      await res.body?.cancel();
      return { failed: `upstream answered HTTP ${res.status} ${type || "(no content type)"}` };
    }
    if (Number(res.headers.get("content-length") ?? 0) > MAX_MESSAGE_OCTETS) {
      await res.body?.cancel();
      return { failed: "upstream answer too large" };
    }
    const bytes = new Uint8Array(await res.arrayBuffer());
    const parsed = parseMessage(bytes);
    if (!parsed.ok) return { failed: `upstream answer malformed: ${parsed.error}` };
    const m = parsed.value;
    const answered = m.questions[0];
    // The answer must be to our question (RFC 5452 §9.1 spirit: ID and question must match).
    if ((m.header.flags & FLAG.QR) === 0 || m.header.id !== 0 || m.questions.length !== 1 || !answered) return { failed: "upstream answer does not match the query" };
    if (lowerName(answered.name) !== lowerName(query.name) || answered.type !== q.type || answered.class !== q.class) return { failed: "upstream answer is for another question" };
    return { bytes, message: m, storedAt: now, ttl: cacheTtl(bytes, m, MAX_CACHE_TTL_SECONDS), cost: bytes.length + m.records.length * RECORD_COST };
  } catch (e) {
    return { failed: e instanceof Error && (e.name === "TimeoutError" || e.name === "AbortError") ? "upstream timeout" : "upstream read failed" };
  }
}
