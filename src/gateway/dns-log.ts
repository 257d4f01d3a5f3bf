// The DNS activity log: time, user, device, query name and type, decision, matching rule. Written off
// the resolver's hot path (buffered per isolate, one D1 batch per flush, under `waitUntil`), read by
// `GET /api/v1/gateway/logs/dns`, pruned daily to GATEWAY_LOG_RETENTION_DAYS.
import { z } from "zod";
import { apiErrors } from "../http/api-error";

export type DnsDecision = "allowed" | "blocked" | "overridden" | "servfail";

/** One answered query. Never a token: the device id names the device. */
export interface DnsLogEntry {
  userId: string | null;
  deviceId: string | null;
  queryName: string;
  queryType: string;
  decision: DnsDecision;
  ruleId: string | null;
}

/** Flush when this many entries wait (D1 batches are one round trip; 50 rows stay well within limits). */
export const FLUSH_AT = 50;
/** Otherwise flush this long after the first waiting entry: queries close together share a batch. */
export const FLUSH_DELAY_MS = 250;
/** If flushes keep failing, older waiting entries are dropped past this (the log is best-effort). */
const BUFFER_MAX = 1_000;

interface Row extends DnsLogEntry {
  id: string;
  at: string;
}

let buffer: Row[] = [];

/**
 * Records one query without delaying its answer: the entry joins this isolate's buffer and the
 * request's `waitUntil` covers the flush that will write it (at FLUSH_AT entries, or FLUSH_DELAY_MS
 * after the first). A failed flush is logged (counts only, no query data) and dropped, never thrown.
 * Without a ctx (scripts, tests) the entry is flushed at once, fire-and-forget.
 */
export function recordDnsQuery(env: Pick<Env, "DB">, ctx: Pick<ExecutionContext, "waitUntil"> | undefined, entry: DnsLogEntry): void {
  buffer.push({ ...entry, queryName: entry.queryName.slice(0, 255), queryType: entry.queryType.slice(0, 16), id: crypto.randomUUID(), at: new Date().toISOString() });
  if (buffer.length > BUFFER_MAX) buffer.splice(0, buffer.length - BUFFER_MAX);
  if (!ctx) {
    void flushDnsLog(env);
    return;
  }
  if (buffer.length >= FLUSH_AT) {
    ctx.waitUntil(flushDnsLog(env));
    return;
  }
  // Each request waits on its OWN delayed flush: workerd ties a promise to the request that made it,
  // so sharing one timer promise across requests would resolve it from another request's context.
  // The first flush to run writes everything waiting; the later ones find the buffer empty (no D1 call).
  ctx.waitUntil(
    (async () => {
      await new Promise((resolve) => setTimeout(resolve, FLUSH_DELAY_MS));
      await flushDnsLog(env);
    })(),
  );
}

/** Writes every waiting entry in one D1 batch; never rejects. Returns how many rows were written. */
export async function flushDnsLog(env: Pick<Env, "DB">): Promise<number> {
  const rows = buffer;
  buffer = [];
  if (rows.length === 0) return 0;
  try {
    const insert = env.DB.prepare("INSERT INTO gateway_dns_log (id, at, user_id, device_id, query_name, query_type, decision, rule_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    await env.DB.batch(rows.map((r) => insert.bind(r.id, r.at, r.userId, r.deviceId, r.queryName, r.queryType, r.decision, r.ruleId)));
    return rows.length;
  } catch (e) {
    console.error("gateway: DNS log flush failed; entries dropped", rows.length, e instanceof Error ? e.name : "error");
    return 0;
  }
}

/** Test hook: forgets waiting entries. */
export function resetDnsLogBuffer(): void {
  buffer = [];
}

/** The configured retention in days (GATEWAY_LOG_RETENTION_DAYS, default 7). */
export function dnsLogRetentionDays(env: Pick<Env, "GATEWAY_LOG_RETENTION_DAYS">): number {
  const n = Number.parseInt(env.GATEWAY_LOG_RETENTION_DAYS ?? "", 10);
  return Number.isFinite(n) && n > 0 ? n : 7;
}

/** Rows deleted per statement, so one prune never becomes one enormous write. */
const PRUNE_CHUNK = 5_000;
const PRUNE_MAX_CHUNKS = 200;

/** Deletes entries older than `retentionDays` (daily cron), in chunks over the `at` index. */
export async function pruneDnsLog(db: D1Database, retentionDays: number, now = Date.now()): Promise<number> {
  const cutoff = new Date(now - retentionDays * 86_400_000).toISOString();
  let deleted = 0;
  for (let i = 0; i < PRUNE_MAX_CHUNKS; i++) {
    const result = await db.prepare("DELETE FROM gateway_dns_log WHERE id IN (SELECT id FROM gateway_dns_log WHERE at < ? LIMIT ?)").bind(cutoff, PRUNE_CHUNK).run();
    const changes = result.meta.changes ?? 0;
    deleted += changes;
    if (changes < PRUNE_CHUNK) break;
  }
  return deleted;
}

const iso = z.iso.datetime({ offset: true }).transform((v) => new Date(v).toISOString());
const querySchema = z.strictObject({
  user_id: z.string().max(128).optional(),
  device_id: z.string().max(128).optional(),
  decision: z.enum(["allowed", "blocked", "overridden", "servfail"]).optional(),
  since: iso.optional(),
  until: iso.optional(),
  page: z.coerce.number().int().min(1).max(10_000).default(1),
  per_page: z.coerce.number().int().min(1).max(1000).default(100),
});

/**
 * `GET /api/v1/gateway/logs/dns`: newest first, filtered by user, device, decision and time
 * (`since` inclusive, `until` exclusive). `result_info` has no total: counting a busy log on every page
 * would read every row; `has_more` says whether another page exists.
 *
 * Each entry also names its user (`user_email`, `user_name`) and device (`device_name`), null once
 * they are deleted. They come from LEFT JOINs in the same query: a LEFT JOIN keeps the log as SQLite's
 * outer loop, so the page's rows (at most per_page + 1) each cost two primary-key lookups, not a
 * query per row.
 */
export async function queryDnsLog(db: D1Database, params: URLSearchParams) {
  const parsed = querySchema.safeParse(Object.fromEntries(params));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.code === "unrecognized_keys" ? issue.keys.join(", ") : issue?.path.join(".");
    throw apiErrors.invalid(`${where}: ${issue?.code === "unrecognized_keys" ? "unknown parameter" : issue?.message}`);
  }
  const q = parsed.data;
  const where: string[] = [];
  const binds: string[] = [];
  const add = (clause: string, value: string | undefined) => value !== undefined && (where.push(clause), binds.push(value));
  add("l.user_id = ?", q.user_id);
  add("l.device_id = ?", q.device_id);
  add("l.decision = ?", q.decision);
  add("l.at >= ?", q.since);
  add("l.at < ?", q.until);
  const rows = await db
    .prepare(
      `SELECT l.*, u.email AS user_email, u.user_name AS user_name, d.name AS device_name FROM gateway_dns_log l
       LEFT JOIN users u ON u.id = l.user_id LEFT JOIN gateway_devices d ON d.id = l.device_id
       ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY l.at DESC, l.id DESC LIMIT ? OFFSET ?`,
    )
    .bind(...binds, q.per_page + 1, (q.page - 1) * q.per_page)
    .all<{ id: string; at: string; user_id: string | null; device_id: string | null; query_name: string; query_type: string; decision: string; rule_id: string | null; user_email: string | null; user_name: string | null; device_name: string | null }>();
  const hasMore = rows.results.length > q.per_page;
  const result = rows.results.slice(0, q.per_page).map((r) => ({
    id: r.id,
    datetime: r.at,
    user_id: r.user_id,
    device_id: r.device_id,
    query_name: r.query_name,
    query_type: r.query_type,
    decision: r.decision,
    rule_id: r.rule_id,
    user_email: r.user_email,
    user_name: r.user_name,
    device_name: r.device_name,
  }));
  return { result, result_info: { page: q.page, per_page: q.per_page, count: result.length, has_more: hasMore } };
}

/** The DNS log query schema, for the OpenAPI document (src/admin/openapi.ts). */
export { querySchema as dnsLogQuerySchema };
