// Save-time checks of what a policy's or reusable group's rules name: identity providers, the SCIM
// groups of those connections, and other reusable groups. A rule naming something that does not
// exist would match nobody, silently: in `exclude` that fails OPEN, so it is refused when saved.
import type { Rule } from "../policy/rules";
import type { Section } from "../policy/evaluate";

/** The three rule sections of a policy or reusable group. */
export interface RuleSections {
  include: Rule[];
  exclude: Rule[];
  require: Rule[];
}

const SECTIONS: Section[] = ["include", "exclude", "require"];
/** Rules per section: an admin's policy, not a data store (each check is a statement in one batch). */
export const MAX_RULES_PER_SECTION = 100;

interface Located {
  at: string;
  rule: Rule;
}

function located(s: RuleSections): Located[] {
  return SECTIONS.flatMap((section) => s[section].map((rule, i) => ({ at: `${section}[${i}]`, rule })));
}

/** Reusable group ids named by `{"group":{"id"}}` rules (deduplicated). */
export function referencedGroupIds(s: RuleSections): string[] {
  return [...new Set(located(s).flatMap(({ rule }) => ("group" in rule ? [rule.group.id] : [])))];
}

/** A SQL condition that holds only while every named reusable group exists (for a write's WHERE). */
export function groupsExistGuard(ids: string[]): { sql: string; params: string[] } {
  if (ids.length === 0) return { sql: "1", params: [] };
  return { sql: `(SELECT count(*) FROM access_groups WHERE id IN (${ids.map(() => "?").join(",")})) = ${ids.length}`, params: ids };
}

interface ScimCheck {
  at: string;
  idpId: string;
  field: string;
  describe: string;
  stmt: D1PreparedStatement;
}

/** The reusable groups reachable from `ids` through group rules (recursive, cycle-safe). */
const REACHABLE = (n: number) => `
WITH RECURSIVE reach(id) AS (
  SELECT value FROM json_each(json_array(${Array(n).fill("?").join(",")}))
  UNION
  SELECT json_extract(t.value, '$.id') FROM reach JOIN access_groups g ON g.id = reach.id,
    json_tree(json_array(json(g.include), json(g.exclude), json(g.require))) t
    WHERE t.key = 'group' AND t.type = 'object'
)
SELECT 1 AS hit FROM reach WHERE id = ? LIMIT 1`;

/**
 * Every problem with what `sections` name, as `include[0].okta.name: …` messages (empty: fine), read
 * in one D1 batch. `selfId` (a reusable group being updated) refuses a group that names itself,
 * directly or through other groups.
 */
export async function checkReferences(db: D1Database, sections: RuleSections, selfId?: string): Promise<string[]> {
  const rules = located(sections);
  const problems: string[] = [];
  for (const s of SECTIONS) {
    if (sections[s].length > MAX_RULES_PER_SECTION) problems.push(`${s}: at most ${MAX_RULES_PER_SECTION} rules`);
  }
  if (problems.length > 0) return problems;
  const idpIds = new Set<string>();
  const scim: ScimCheck[] = [];
  for (const { at, rule } of rules) {
    if ("azureAD" in rule) {
      const { id, identity_provider_id: idp } = rule.azureAD;
      idpIds.add(idp);
      // Entra object ids are GUIDs; the evaluator compares them case-insensitively, so does this check.
      const stmt = db.prepare("SELECT 1 FROM groups WHERE idp_id = ? AND external_id = ? COLLATE NOCASE LIMIT 1").bind(idp, id);
      scim.push({ at: `${at}.azureAD.id`, idpId: idp, field: "id", describe: `no SCIM group with externalId "${id}"`, stmt });
    } else if ("okta" in rule || "oidc" in rule) {
      const [kind, name, idp] = "okta" in rule ? ["okta", rule.okta.name, rule.okta.identity_provider_id] : ["oidc", rule.oidc.claim_value, rule.oidc.identity_provider_id];
      idpIds.add(idp);
      const stmt = db.prepare("SELECT 1 FROM groups WHERE idp_id = ? AND display_name_lower = ? LIMIT 1").bind(idp, name.toLowerCase());
      const field = kind === "okta" ? "name" : "claim_value";
      scim.push({ at: `${at}.${kind}.${field}`, idpId: idp, field, describe: `no SCIM group with displayName "${name}"`, stmt });
    }
  }
  const groupIds = referencedGroupIds(sections);
  const idps = [...idpIds];
  const statements: D1PreparedStatement[] = [
    db.prepare(`SELECT id, name, scim_enabled FROM identity_providers WHERE id IN (${idps.map(() => "?").join(",") || "NULL"})`).bind(...idps),
    db.prepare(`SELECT id FROM access_groups WHERE id IN (${groupIds.map(() => "?").join(",") || "NULL"})`).bind(...groupIds),
    ...scim.map((c) => c.stmt),
  ];
  const cycleCheck = selfId !== undefined && groupIds.length > 0 && !groupIds.includes(selfId);
  if (cycleCheck) statements.push(db.prepare(REACHABLE(groupIds.length)).bind(...groupIds, selfId));
  const results = await db.batch(statements);
  const idpRows = new Map(((results[0]?.results ?? []) as { id: string; name: string; scim_enabled: number }[]).map((r) => [r.id, r]));
  const knownGroups = new Set(((results[1]?.results ?? []) as { id: string }[]).map((r) => r.id));

  for (const { at, rule } of rules) {
    if ("group" in rule) {
      if (rule.group.id === selfId) problems.push(`${at}.group.id: a reusable group cannot name itself`);
      else if (!knownGroups.has(rule.group.id)) problems.push(`${at}.group.id: no reusable Access group with id "${rule.group.id}"`);
    }
    const body = "azureAD" in rule ? rule.azureAD : "okta" in rule ? rule.okta : "oidc" in rule ? rule.oidc : null;
    if (body && !idpRows.has(body.identity_provider_id)) {
      const kind = Object.keys(rule)[0];
      problems.push(`${at}.${kind}.identity_provider_id: no identity provider with id "${body.identity_provider_id}"`);
    }
  }
  scim.forEach((c, i) => {
    const idp = idpRows.get(c.idpId);
    // Without SCIM the rule matches the IdP token's group claim, which cannot be checked in advance.
    if (!idp || idp.scim_enabled !== 1) return;
    if ((results[2 + i]?.results.length ?? 0) === 0) {
      problems.push(`${c.at}: ${c.describe} in identity provider "${idp.name}" (${idp.id}); SCIM groups are created by the IdP's provisioning, so provision the group first or fix the name`);
    }
  });
  if (cycleCheck && (results[results.length - 1]?.results.length ?? 0) > 0) {
    problems.push(`a reusable group cannot name itself through other groups: group "${selfId}" is reachable from ${groupIds.map((g) => `"${g}"`).join(", ")}`);
  }
  return problems;
}
