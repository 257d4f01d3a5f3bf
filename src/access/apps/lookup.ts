// The proxy's hot path: which app a request belongs to, with its policies and the reusable groups
// they name, read in ONE D1 round trip (a batch of three statements sharing the app selection).
import type { GroupDefinition } from "../policy/rules";
import { candidatePrefixes, normaliseRequestHost } from "./domain";
import { appFromRow, groupFromRow, policyFromRow, type AppRow, type AppWithPolicies, type GroupRow, type PolicyRow } from "./types";

export { parseDuration } from "./duration";

/** SQL selecting one app id, with its parameters (spliced into each statement of the batch). */
interface AppSelector {
  sql: string;
  params: string[];
}

/**
 * The reusable groups the selected app's policies name, transitively (a group may name groups).
 * `json_tree` finds every `{"group":{"id"}}` rule in the three sections; UNION (not UNION ALL)
 * drops ids already seen, so a cycle between groups ends the recursion.
 */
const groupsSql = (app: string) => `
WITH RECURSIVE
  pol AS (SELECT include, exclude, require FROM access_policies WHERE app_id = (${app})),
  refs(id) AS (
    SELECT json_extract(t.value, '$.id') FROM pol, json_tree(json_array(json(pol.include), json(pol.exclude), json(pol.require))) t
      WHERE t.key = 'group' AND t.type = 'object'
    UNION
    SELECT json_extract(t.value, '$.id') FROM refs JOIN access_groups g ON g.id = refs.id,
      json_tree(json_array(json(g.include), json(g.exclude), json(g.require))) t
      WHERE t.key = 'group' AND t.type = 'object'
  )
SELECT * FROM access_groups WHERE id IN (SELECT id FROM refs)`;

async function load(db: D1Database, sel: AppSelector): Promise<AppWithPolicies | null> {
  const [apps, policies, groups] = await db.batch([
    db.prepare(`SELECT * FROM access_apps WHERE id = (${sel.sql})`).bind(...sel.params),
    db.prepare(`SELECT * FROM access_policies WHERE app_id = (${sel.sql}) ORDER BY precedence`).bind(...sel.params),
    db.prepare(groupsSql(sel.sql)).bind(...sel.params),
  ]);
  const row = apps?.results[0] as AppRow | undefined;
  if (!row) return null;
  const groupsById = new Map<string, GroupDefinition>();
  for (const g of (groups?.results ?? []) as GroupRow[]) {
    const { id, createdAt: _c, updatedAt: _u, ...def } = groupFromRow(g);
    groupsById.set(id, def);
  }
  return { app: appFromRow(row), policies: ((policies?.results ?? []) as PolicyRow[]).map(policyFromRow), groupsById };
}

/**
 * The app serving `host` + `path`: host compared case-insensitively with its port (as `URL.host`
 * gives it: no default port), and the LONGEST path prefix that matches at a segment boundary
 * (`/admin` serves `/admin` and `/admin/x`, never `/administrator`). Null when no app matches.
 */
export function findAppForRequest(db: D1Database, host: string, path: string): Promise<AppWithPolicies | null> {
  const prefixes = candidatePrefixes(path);
  const sql = `SELECT id FROM access_apps WHERE host = ? AND path_prefix IN (${prefixes.map(() => "?").join(",")}) ORDER BY length(path_prefix) DESC LIMIT 1`;
  return load(db, { sql, params: [normaliseRequestHost(host), ...prefixes] });
}

/** One app by id with its policies and groups (same single round trip), or null. */
export function getAppById(db: D1Database, id: string): Promise<AppWithPolicies | null> {
  return load(db, { sql: "SELECT id FROM access_apps WHERE id = ?", params: [id] });
}

/** Every host that has at least one app (lower case, with port when one was configured). */
export async function listAppHosts(db: D1Database): Promise<string[]> {
  const rows = await db.prepare("SELECT DISTINCT host FROM access_apps ORDER BY host").all<{ host: string }>();
  return rows.results.map((r) => r.host);
}
