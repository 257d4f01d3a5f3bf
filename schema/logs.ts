import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

/** One row per SCIM request, with the fields of Cloudflare's SCIM provisioning log. */
export const provisioningLog = sqliteTable(
  "provisioning_log",
  {
    id: text("id").primaryKey(),
    loggedAt: text("logged_at").notNull(),
    idpId: text("idp_id").notNull(),
    requestMethod: text("request_method").notNull(),
    /** `USER` | `GROUP` | `OTHER` */
    resourceType: text("resource_type").notNull(),
    resourceUserEmail: text("resource_user_email"),
    resourceGroupName: text("resource_group_name"),
    cfResourceId: text("cf_resource_id"),
    idpResourceId: text("idp_resource_id"),
    /** `SUCCESS` | `FAILURE` */
    status: text("status").notNull(),
    httpStatus: integer("http_status").notNull(),
    errorDescription: text("error_description"),
    /** Request body with secrets and passwords redacted. */
    requestBody: text("request_body"),
  },
  (t) => [index("provisioning_log_logged_at").on(t.loggedAt), index("provisioning_log_idp_logged_at").on(t.idpId, t.loggedAt)],
);

/** Admin and system changes: who did what to which resource. */
export const auditLog = sqliteTable(
  "audit_log",
  {
    id: text("id").primaryKey(),
    loggedAt: text("logged_at").notNull(),
    /** e.g. `admin:bootstrap`, `scim:<idp id>`, `system:identity_update_behavior` */
    actor: text("actor").notNull(),
    action: text("action").notNull(),
    targetType: text("target_type").notNull(),
    targetId: text("target_id"),
    details: text("details").notNull().default("{}"),
  },
  (t) => [index("audit_log_logged_at").on(t.loggedAt), index("audit_log_target").on(t.targetType, t.targetId)],
);
