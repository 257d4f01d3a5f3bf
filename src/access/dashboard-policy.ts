// The dashboard is an Access application of its own: its policy (access_settings `dashboard_policy`,
// an Access policy JSON) says whose org session may use it. First-run set-up (src/dashboard/pages/
// setup.tsx) and `PUT /api/v1/dashboard/policy` both save it through `saveDashboardPolicy`.
import { z } from "zod";
import { apiErrors } from "../http/api-error";
import { parseBody } from "../http/input";
import { auditStatement } from "../logs/audit";
import { parsePolicy, type Policy, type Rule } from "./policy/rules";

/** The access_settings key holding the dashboard's Access policy (JSON). */
export const DASHBOARD_POLICY_KEY = "dashboard_policy";

/** The dashboard policy, or null before first-run set-up. */
export async function dashboardPolicy(db: D1Database): Promise<Policy | null> {
  const row = await db.prepare("SELECT value FROM access_settings WHERE key = ?").bind(DASHBOARD_POLICY_KEY).first<{ value: string }>();
  if (!row) return null;
  const parsed = parsePolicy(JSON.parse(row.value));
  return parsed.ok ? parsed.value : null;
}

/**
 * The rule naming one SCIM group, in the selector Access uses for the connection's type: Entra ID
 * matches the group's object id (SCIM `externalId`), Okta the group name, generic OIDC the `groups`
 * claim value (src/access/policy/evaluate.ts matches each against SCIM membership).
 */
export function scimGroupRule(idp: { id: string; type: string }, group: { externalId: string | null; displayName: string }): Rule {
  if (idp.type === "azureAD") {
    if (!group.externalId) throw apiErrors.invalid("scim_group: this Entra ID group has no externalId (object id) to match on");
    return { azureAD: { id: group.externalId, identity_provider_id: idp.id } };
  }
  if (idp.type === "okta") return { okta: { name: group.displayName, identity_provider_id: idp.id } };
  return { oidc: { claim_name: "groups", claim_value: group.displayName, identity_provider_id: idp.id } };
}

/**
 * `PUT /api/v1/dashboard/policy`: exactly one of
 * - `emails`: the admins' addresses;
 * - `scim_group`: `{identity_provider_id, id}` (the group's `cf_resource_id`), turned into the right rule;
 * - `include` (with optional `exclude`/`require`): Access rules as they are.
 */
export const DashboardPolicyInputSchema = z.strictObject({
  emails: z.array(z.string().trim().toLowerCase()).min(1).max(100).optional(),
  scim_group: z.strictObject({ identity_provider_id: z.string().min(1), id: z.string().min(1) }).optional(),
  include: z.array(z.unknown()).min(1).max(100).optional(),
  exclude: z.array(z.unknown()).max(100).optional(),
  require: z.array(z.unknown()).max(100).optional(),
});
export type DashboardPolicyInput = z.output<typeof DashboardPolicyInputSchema>;

/** Builds the dashboard's Access policy from an input (400 on anything invalid, 404 on an unknown group). */
export async function buildDashboardPolicy(db: D1Database, input: DashboardPolicyInput): Promise<Policy> {
  const given = [input.emails, input.scim_group, input.include].filter((v) => v !== undefined).length;
  if (given !== 1) throw apiErrors.invalid("(body): exactly one of emails, scim_group or include is required");
  let include: unknown[];
  if (input.emails) include = input.emails.map((email) => ({ email: { email } }));
  else if (input.scim_group) {
    const { identity_provider_id: idpId, id } = input.scim_group;
    // Scoped by connection: a group id of another connection is "not found" here.
    const row = await db
      .prepare("SELECT g.external_id, g.display_name, i.id AS idp_id, i.type FROM groups g JOIN identity_providers i ON i.id = g.idp_id WHERE g.id = ? AND g.idp_id = ?")
      .bind(id, idpId)
      .first<{ external_id: string | null; display_name: string; idp_id: string; type: string }>();
    if (!row) throw apiErrors.notFound("SCIM group");
    include = [scimGroupRule({ id: row.idp_id, type: row.type }, { externalId: row.external_id, displayName: row.display_name })];
  } else include = input.include!;
  const parsed = parsePolicy({ name: "Dashboard admins", decision: "allow", include, exclude: input.exclude ?? [], require: input.require ?? [], precedence: 1 });
  if (!parsed.ok) throw apiErrors.invalid(parsed.error);
  return parsed.value;
}

/** Validates, saves and audits the dashboard policy (one batch); returns it. */
export async function saveDashboardPolicy(db: D1Database, actor: string, body: unknown): Promise<Policy> {
  const policy = await buildDashboardPolicy(db, parseBody(DashboardPolicyInputSchema, body));
  await db.batch([
    db.prepare("INSERT INTO access_settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").bind(DASHBOARD_POLICY_KEY, JSON.stringify(policy)),
    auditStatement(db, { actor, action: "dashboard_policy.update", targetType: "access_settings", targetId: DASHBOARD_POLICY_KEY, details: { include: policy.include } }),
  ]);
  return policy;
}

