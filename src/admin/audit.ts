import { auditLog } from "../../schema";
import type { Database } from "../db";
import { nowIso } from "../db";

export interface AuditEntry {
  actor: string;
  action: string;
  targetType: string;
  targetId?: string | null;
  details?: Record<string, unknown>;
}

/** The insert for one audit-log row; callers put it in the same `db.batch` as the change it records. */
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
