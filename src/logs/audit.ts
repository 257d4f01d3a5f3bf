import { auditLog } from "../../schema";
import type { Database } from "../db";
import { nowIso } from "../db";

/** One audit-log row: who (`admin:token`, `scim:<idp id>`), did what, to which target. */
export interface AuditEntry {
  actor: string;
  action: string;
  targetType: string;
  targetId?: string | null;
  details?: Record<string, unknown>;
}

/** The drizzle insert for one audit row, for a drizzle `db.batch` with the change it records. */
export function auditInsert(db: Database, entry: AuditEntry) {
  return db.insert(auditLog).values({
    id: crypto.randomUUID(),
    loggedAt: nowIso(),
    actor: entry.actor,
    action: entry.action,
    targetType: entry.targetType,
    targetId: entry.targetId ?? null,
    details: JSON.stringify(entry.details ?? {}),
  });
}

/** The same row as a prepared D1 statement, for raw `db.batch` writes and standalone `.run()`. */
export function auditStatement(db: D1Database, entry: AuditEntry): D1PreparedStatement {
  return db
    .prepare("INSERT INTO audit_log (id, logged_at, actor, action, target_type, target_id, details) VALUES (?, ?, ?, ?, ?, ?, ?)")
    .bind(crypto.randomUUID(), nowIso(), entry.actor, entry.action, entry.targetType, entry.targetId ?? null, JSON.stringify(entry.details ?? {}));
}

/** Filters of `GET /api/v1/audit_logs` (Cloudflare's audit-log parameters, where they apply). */
export interface AuditQuery {
  since?: string;
  until?: string;
  action?: string;
  actor?: string;
  targetId?: string;
  direction: "asc" | "desc";
  limit: number;
}

/** Reads the audit log, newest first by default. */
export async function queryAuditLog(db: D1Database, q: AuditQuery) {
  const where: string[] = [];
  const params: (string | number)[] = [];
  const add = (clause: string, value: string | undefined) => {
    if (value !== undefined) (where.push(clause), params.push(value));
  };
  add("logged_at >= ?", q.since);
  add("logged_at <= ?", q.until);
  add("action = ?", q.action);
  add("actor = ?", q.actor);
  add("target_id = ?", q.targetId);
  const dir = q.direction === "asc" ? "ASC" : "DESC";
  const rows = await db
    .prepare(`SELECT * FROM audit_log ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY logged_at ${dir}, id ${dir} LIMIT ?`)
    .bind(...params, q.limit)
    .all<{ id: string; logged_at: string; actor: string; action: string; target_type: string; target_id: string | null; details: string }>();
  return rows.results.map((r) => ({ ...r, details: JSON.parse(r.details) as unknown }));
}
