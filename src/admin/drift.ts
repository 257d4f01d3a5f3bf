// The directory drift report (`GET /api/v1/drift`, the dashboard's /drift page), which neither
// Cloudflare nor Okta offers: where the policies, the sessions and the connections no longer agree
// with the SCIM directory. Three bounded lists, each read with a handful of statements:
//   groups    – SCIM groups named by Access policies, reusable Access groups or Gateway rules that no
//               longer exist (the rule silently matches nobody; in an `exclude` that fails OPEN) or have
//               no members;
//   sessions  – users the IdP deactivated (`active=false`) who still hold sessions: the connection has
//               `user_deprovision` off, or a revocation is still pending. Confirmed with the user's
//               Durable Object for the first `confirm_sessions` of them (the session index only says a
//               session was opened once);
//   connections – SCIM connections whose last provisioning-log entry is older than
//               `stale_after_hours` (Entra ID provisions every 40 minutes, Okta on change), or that
//               never synced.
import { z } from "zod";
import { apiErrors } from "../http/api-error";
import { parseGroupDefinition, type Rule } from "../access/policy/rules";
import { groupReferences, parseExpression } from "../gateway/rules/expression";
import { sessionsFor } from "../sessions/client";

/** Query of `GET /api/v1/drift` (also the dashboard page's form). */
export const driftQuerySchema = z.strictObject({
  stale_after_hours: z.coerce.number().min(0.1).max(24 * 365).default(24),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  confirm_sessions: z.coerce.number().int().min(0).max(100).default(25),
});
export type DriftQuery = z.output<typeof driftQuerySchema>;

/** Parses the query (unknown parameters refused), or throws a 400. */
export function parseDriftQuery(params: URLSearchParams): DriftQuery {
  const parsed = driftQuerySchema.safeParse(Object.fromEntries(params));
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue?.code === "unrecognized_keys" ? issue.keys.join(", ") : issue?.path.join(".");
  throw apiErrors.invalid(`${where}: ${issue?.code === "unrecognized_keys" ? "unknown parameter" : issue?.message}`);
}

/** Where a group reference was found. */
export interface Referrer {
  type: "access_policy" | "access_group" | "gateway_rule";
  id: string;
  name: string;
  app_id?: string;
  /** `include[0].okta.name`, `identity`, … */
  at: string;
}

/** One SCIM group as policies name it, and why it is drift. */
export interface GroupDrift {
  /** How it is named: an Access selector, or a Gateway `identity.groups.name`/`.id`. */
  selector: "azureAD" | "okta" | "oidc" | "gateway_name" | "gateway_id";
  /** The connection the Access rule names (Gateway names match in every connection: null). */
  identity_provider_id: string | null;
  value: string;
  problem: "missing" | "no_members" | "connection_missing";
  referenced_by: Referrer[];
}

/** A deactivated user who still holds sessions. */
export interface SessionDrift {
  user_id: string;
  identity_provider_id: string;
  email: string | null;
  user_name: string;
  deactivated_at: string;
  last_session_opened_at: string;
  /** Live sessions in the user's Durable Object; null when not checked (beyond `confirm_sessions`). */
  live_sessions: number | null;
}

/** A SCIM connection that has not synced within `stale_after_hours`. */
export interface ConnectionDrift {
  id: string;
  name: string;
  type: string;
  last_sync_at: string | null;
  hours_since_sync: number | null;
  /** Outcome of the last provisioning request (`FAILURE`: the IdP reached us and was refused). */
  last_status: "SUCCESS" | "FAILURE" | null;
}

interface Section<T> {
  items: T[];
  /** Items found (before `limit`); `sessions.total` counts index candidates, before confirmation. */
  total: number;
  truncated: boolean;
}

export interface DriftReport {
  generated_at: string;
  stale_after_hours: number;
  groups: Section<GroupDrift>;
  sessions: Section<SessionDrift> & { confirmed: number; cleared: number };
  connections: Section<ConnectionDrift>;
}

const MAX_REFERRERS = 20;

/** Builds the three drift lists. */
export async function driftReport(env: Env, query: DriftQuery, now = Date.now()): Promise<DriftReport> {
  const [groups, sessions, connections] = await Promise.all([
    groupDrift(env.DB, query.limit),
    sessionDrift(env, query.limit, query.confirm_sessions),
    connectionDrift(env.DB, query.limit, query.stale_after_hours, now),
  ]);
  return { generated_at: new Date(now).toISOString(), stale_after_hours: query.stale_after_hours, groups, sessions, connections };
}

// ---------------------------------------------------------------- groups

type Ref = Omit<GroupDrift, "problem" | "referenced_by">;
const refKey = (r: Ref) => JSON.stringify([r.selector, r.identity_provider_id, r.selector === "gateway_id" ? r.value : r.value.toLowerCase()]);

/** The SCIM group an Access rule names, if it names one. */
function accessRef(rule: Rule): Ref | null {
  if ("azureAD" in rule) return { selector: "azureAD", identity_provider_id: rule.azureAD.identity_provider_id, value: rule.azureAD.id };
  if ("okta" in rule) return { selector: "okta", identity_provider_id: rule.okta.identity_provider_id, value: rule.okta.name };
  if ("oidc" in rule) return { selector: "oidc", identity_provider_id: rule.oidc.identity_provider_id, value: rule.oidc.claim_value };
  return null;
}

interface RuleRow {
  id: string;
  name: string;
  app_id: string | null;
  include: string;
  exclude: string;
  require: string;
}

async function groupDrift(db: D1Database, limit: number): Promise<Section<GroupDrift>> {
  const [policies, accessGroups, gatewayRules, idps] = await db.batch([
    db.prepare("SELECT id, name, app_id, include, exclude, require FROM access_policies ORDER BY app_id, precedence"),
    db.prepare("SELECT id, name, NULL AS app_id, include, exclude, require FROM access_groups ORDER BY name"),
    // Only rules that can name a group: `identity.groups…` appears in the text.
    db.prepare("SELECT id, name, traffic, identity FROM gateway_rules WHERE identity LIKE '%groups%' OR traffic LIKE '%groups%' ORDER BY precedence"),
    db.prepare("SELECT id FROM identity_providers"),
  ]);
  const refs = new Map<string, GroupDrift>();
  const note = (ref: Ref, referrer: Referrer) => {
    const key = refKey(ref);
    const entry = refs.get(key) ?? { ...ref, problem: "missing" as const, referenced_by: [] };
    if (entry.referenced_by.length < MAX_REFERRERS) entry.referenced_by.push(referrer);
    refs.set(key, entry);
  };
  const scan = (type: "access_policy" | "access_group", rows: RuleRow[]) => {
    for (const row of rows) {
      // Stored rows were validated when saved; parse them the same way (a row that no longer parses names nothing).
      const def = parseGroupDefinition({ include: JSON.parse(row.include), exclude: JSON.parse(row.exclude), require: JSON.parse(row.require) });
      if (!def.ok) continue;
      for (const section of ["include", "exclude", "require"] as const) {
        def.value[section].forEach((rule, i) => {
          const ref = accessRef(rule);
          const selector = Object.keys(rule)[0];
          const field = selector === "azureAD" ? "id" : selector === "okta" ? "name" : "claim_value";
          if (ref) note(ref, { type, id: row.id, name: row.name, ...(row.app_id ? { app_id: row.app_id } : {}), at: `${section}[${i}].${selector}.${field}` });
        });
      }
    }
  };
  scan("access_policy", (policies?.results ?? []) as RuleRow[]);
  scan("access_group", (accessGroups?.results ?? []) as RuleRow[]);
  for (const row of (gatewayRules?.results ?? []) as { id: string; name: string; traffic: string; identity: string }[]) {
    for (const member of ["traffic", "identity"] as const) {
      const parsed = row[member].trim() === "" ? null : parseExpression(row[member]);
      if (!parsed?.ok) continue;
      for (const r of groupReferences(parsed.expr)) {
        note({ selector: r.kind === "name" ? "gateway_name" : "gateway_id", identity_provider_id: null, value: r.value }, { type: "gateway_rule", id: row.id, name: row.name, at: member });
      }
    }
  }
  if (refs.size === 0) return { items: [], total: 0, truncated: false };

  // Look every reference up in one batch: one statement per selector kind, values as one JSON parameter.
  const all = [...refs.values()];
  const knownIdps = new Set(((idps?.results ?? []) as { id: string }[]).map((r) => r.id));
  const pairs = (selectors: GroupDrift["selector"][]) => JSON.stringify(all.filter((r) => selectors.includes(r.selector)).map((r) => [r.identity_provider_id, r.value.toLowerCase()]));
  const singles = (selector: GroupDrift["selector"]) => JSON.stringify(all.filter((r) => r.selector === selector).map((r) => (selector === "gateway_id" ? r.value : r.value.toLowerCase())));
  const HAS_MEMBERS = "EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = g.id)";
  const [azure, named, gwNames, gwIds] = await db.batch([
    // Entra object ids are GUIDs compared case-insensitively (as the evaluator and the save-time check do).
    db
      .prepare(`SELECT g.idp_id AS idp, lower(g.external_id) AS k, max(${HAS_MEMBERS}) AS members FROM groups g JOIN json_each(?) j ON g.idp_id = json_extract(j.value, '$[0]') AND lower(g.external_id) = json_extract(j.value, '$[1]') GROUP BY 1, 2`)
      .bind(pairs(["azureAD"])),
    db
      .prepare(`SELECT g.idp_id AS idp, g.display_name_lower AS k, max(${HAS_MEMBERS}) AS members FROM groups g JOIN json_each(?) j ON g.idp_id = json_extract(j.value, '$[0]') AND g.display_name_lower = json_extract(j.value, '$[1]') GROUP BY 1, 2`)
      .bind(pairs(["okta", "oidc"])),
    db.prepare(`SELECT NULL AS idp, g.display_name_lower AS k, max(${HAS_MEMBERS}) AS members FROM groups g WHERE g.display_name_lower IN (SELECT value FROM json_each(?)) GROUP BY 2`).bind(singles("gateway_name")),
    db.prepare(`SELECT NULL AS idp, g.id AS k, ${HAS_MEMBERS} AS members FROM groups g WHERE g.id IN (SELECT value FROM json_each(?))`).bind(singles("gateway_id")),
  ]);
  const found = new Map<string, boolean>();
  const record = (selectors: GroupDrift["selector"][], rows: unknown[] | undefined) => {
    for (const r of (rows ?? []) as { idp: string | null; k: string; members: number }[]) {
      for (const selector of selectors) found.set(refKey({ selector, identity_provider_id: r.idp, value: r.k }), r.members === 1);
    }
  };
  record(["azureAD"], azure?.results);
  record(["okta", "oidc"], named?.results);
  record(["gateway_name"], gwNames?.results);
  record(["gateway_id"], gwIds?.results);

  const drift: GroupDrift[] = [];
  for (const entry of all) {
    if (entry.identity_provider_id !== null && !knownIdps.has(entry.identity_provider_id)) drift.push({ ...entry, problem: "connection_missing" });
    else if (!found.has(refKey(entry))) drift.push({ ...entry, problem: "missing" });
    else if (!found.get(refKey(entry))) drift.push({ ...entry, problem: "no_members" });
  }
  return { items: drift.slice(0, limit), total: drift.length, truncated: drift.length > limit };
}

// ---------------------------------------------------------------- sessions

async function sessionDrift(env: Env, limit: number, confirm: number): Promise<DriftReport["sessions"]> {
  // The session index is written when a session opens; only users who ever opened one are read.
  const FROM = "FROM session_index s JOIN users u ON u.id = s.user_id WHERE u.active = 0";
  const [rows, count] = await env.DB.batch([
    env.DB
      .prepare(`SELECT u.id, u.idp_id, u.email, u.user_name, u.updated_at, max(s.last_opened_at) AS last_opened ${FROM} GROUP BY u.id ORDER BY u.updated_at DESC, u.id LIMIT ?`)
      .bind(limit),
    env.DB.prepare(`SELECT count(DISTINCT u.id) AS n ${FROM}`),
  ]);
  const candidates = (rows?.results ?? []) as { id: string; idp_id: string; email: string | null; user_name: string; updated_at: string; last_opened: string }[];
  const total = (count?.results[0] as { n: number } | undefined)?.n ?? 0;
  // Ask the authority itself for the first `confirm` users (one Durable Object call each, in parallel).
  const live = await Promise.all(candidates.slice(0, confirm).map((u) => sessionsFor(env, u.id).listSessions().then((s) => s.length, () => null)));
  const items: SessionDrift[] = [];
  let cleared = 0;
  candidates.forEach((u, i) => {
    const n = i < live.length ? live[i]! : null;
    // Confirmed empty: the index is stale (sessions expired or were revoked), so no drift.
    if (n === 0) return void cleared++;
    items.push({ user_id: u.id, identity_provider_id: u.idp_id, email: u.email, user_name: u.user_name, deactivated_at: u.updated_at, last_session_opened_at: u.last_opened, live_sessions: n });
  });
  return { items, total, truncated: total > candidates.length, confirmed: live.filter((n) => n !== null && n > 0).length, cleared };
}

// ---------------------------------------------------------------- connections

async function connectionDrift(db: D1Database, limit: number, staleAfterHours: number, now: number): Promise<Section<ConnectionDrift>> {
  const cutoff = new Date(now - staleAfterHours * 3_600_000).toISOString();
  // Each subquery is one seek on provisioning_log_idp_logged_at; connections are few.
  const { results } = await db
    .prepare(
      `SELECT * FROM (
         SELECT p.id, p.name, p.type, p.created_at,
           (SELECT max(l.logged_at) FROM provisioning_log l WHERE l.idp_id = p.id) AS last_sync,
           (SELECT l.status FROM provisioning_log l WHERE l.idp_id = p.id ORDER BY l.logged_at DESC LIMIT 1) AS last_status
         FROM identity_providers p WHERE p.scim_enabled = 1)
       WHERE last_sync IS NULL OR last_sync < ? ORDER BY last_sync IS NOT NULL, last_sync, id`,
    )
    .bind(cutoff)
    .all<{ id: string; name: string; type: string; last_sync: string | null; last_status: "SUCCESS" | "FAILURE" | null }>();
  const items = results.map((r) => ({
    id: r.id,
    name: r.name,
    type: r.type,
    last_sync_at: r.last_sync,
    hours_since_sync: r.last_sync === null ? null : Math.round(((now - Date.parse(r.last_sync)) / 3_600_000) * 10) / 10,
    last_status: r.last_status,
  }));
  return { items: items.slice(0, limit), total: items.length, truncated: items.length > limit };
}
