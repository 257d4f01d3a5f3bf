// Gateway rules (Cloudflare's `/gateway/rules`): validated and parsed when saved (an expression that
// does not parse, a field of the wrong filter, a group no SCIM connection has are all refused with a
// position), written in one batch with the audit row, and served to the resolver as a per-isolate RuleSet.
import { z } from "zod";
import { nowIso } from "../db";
import { apiErrors } from "../http/api-error";
import { auditStatement } from "../logs/audit";
import { isUniqueViolation, parseBody } from "../http/input";
import { FIRST_PAGE, pagedRows, type ListPage, type Paged } from "../http/pagination";
import { FIELDS, fieldsUsed, groupReferences, parseExpression, type Expr } from "./rules/expression";
import { buildRuleSet, type GatewayRule, type RuleSet } from "./rules/engine";

interface RuleRow {
  id: string;
  name: string;
  action: string;
  enabled: number;
  precedence: number;
  filters: string;
  traffic: string;
  identity: string;
  rule_settings: string;
  created_at: string;
  updated_at: string;
}

type Action = "allow" | "block" | "override";
type Filter = "dns" | "http";

/** A rule as the API shows it (Cloudflare's field names). */
export interface RuleView {
  id: string;
  name: string;
  action: Action;
  enabled: boolean;
  precedence: number;
  filters: Filter[];
  traffic: string;
  identity: string;
  rule_settings: { override_ips?: string[]; block_page_enabled?: boolean };
  created_at: string;
  updated_at: string;
}

export interface RulesContext {
  db: D1Database;
  actor: string;
}

const ip = z.union([z.ipv4(), z.ipv6()], { error: "must be an IPv4 or IPv6 address" });

/** Read-only members a client may send back from a GET (they are ignored). */
const readOnly = { id: z.unknown().optional(), created_at: z.unknown().optional(), updated_at: z.unknown().optional() };

const ruleSchema = z.strictObject({
  ...readOnly,
  name: z.string().trim().min(1).max(256),
  action: z.enum(["allow", "block", "override"]),
  enabled: z.boolean().default(true),
  precedence: z.number().int().min(0).max(2_147_483_647).optional(),
  filters: z.tuple([z.enum(["dns", "http"])], { error: 'must be ["dns"] or ["http"]' }).default(["dns"]),
  traffic: z.string().max(16 * 1024).default(""),
  identity: z.string().max(16 * 1024).default(""),
  rule_settings: z
    .strictObject({
      override_ips: z.array(ip).min(1).max(16).optional(),
      block_page_enabled: z.boolean().optional(),
    })
    .default({}),
});
type RuleInput = z.infer<typeof ruleSchema>;

/** `field: message at N: «excerpt»`: where in the expression the problem is. */
function at(field: string, source: string, message: string, position: number): string {
  const excerpt = source.slice(position, position + 24);
  return `${field}: ${message} at ${position}${excerpt === "" ? " (end of expression)" : `: ${excerpt}${source.length > position + 24 ? "…" : ""}`}`;
}

/** Parses one expression member; "" (or only spaces) is no condition. Fields must belong to `allowed`. */
function parseMember(field: "traffic" | "identity", source: string, allowed: "dns" | "http" | "identity"): Expr | null {
  if (source.trim() === "") return null;
  const parsed = parseExpression(source);
  if (!parsed.ok) throw apiErrors.invalid(at(field, source, parsed.error, parsed.position));
  for (const f of fieldsUsed(parsed.expr)) {
    if (FIELDS[f].filter === allowed) continue;
    const where = field === "identity" ? "the identity expression takes identity.* fields only" : `a ${allowed} rule's traffic expression takes ${allowed}.* fields only`;
    throw apiErrors.invalid(at(field, source, `${f} is not allowed here (${where})`, Math.max(0, source.indexOf(f))));
  }
  return parsed.expr;
}

interface Checked {
  input: RuleInput;
  traffic: Expr | null;
  identity: Expr | null;
}

/** Everything but the directory references: shape, action/settings coherence, expressions. */
function check(body: unknown, current?: RuleView): Checked {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw apiErrors.invalid("(body): must be a JSON object");
  const merged = current ? { ...(({ id: _i, created_at: _c, updated_at: _u, ...rest }) => rest)(current), ...(body as object) } : body;
  const input = parseBody(ruleSchema, merged);
  const filter = input.filters[0];
  if (input.action === "override") {
    if (filter !== "dns") throw apiErrors.invalid('action: override applies to DNS rules only (filters ["dns"])');
    if (!input.rule_settings.override_ips) throw apiErrors.invalid("rule_settings.override_ips: required for action override (the addresses to answer with)");
  } else if (input.rule_settings.override_ips) {
    throw apiErrors.invalid("rule_settings.override_ips: only for action override");
  }
  return { input, traffic: parseMember("traffic", input.traffic, filter), identity: parseMember("identity", input.identity, "identity") };
}

/**
 * Every group an expression names must exist in some SCIM connection: by name (case-insensitive, as
 * the engine compares, against `groups.display_name_lower`) or by id. Unknown ones are refused, named,
 * with the position of the first.
 */
async function checkGroups(db: D1Database, checked: Checked): Promise<void> {
  const refs = (["traffic", "identity"] as const).flatMap((member) => {
    const expr = checked[member];
    return expr ? groupReferences(expr).map((r) => ({ ...r, member })) : [];
  });
  if (refs.length === 0) return;
  const names = [...new Set(refs.filter((r) => r.kind === "name").map((r) => r.value.toLowerCase()))];
  const ids = [...new Set(refs.filter((r) => r.kind === "id").map((r) => r.value))];
  const found = new Set<string>();
  // One statement per kind; json_each keeps it one bound parameter however many values there are.
  const [byName, byId] = await db.batch([
    db.prepare("SELECT DISTINCT display_name_lower AS v FROM groups WHERE display_name_lower IN (SELECT value FROM json_each(?))").bind(JSON.stringify(names)),
    db.prepare("SELECT id AS v FROM groups WHERE id IN (SELECT value FROM json_each(?))").bind(JSON.stringify(ids)),
  ]);
  for (const r of [...(byName?.results ?? []), ...(byId?.results ?? [])] as { v: string }[]) found.add(r.v);
  const missing = refs.filter((r) => !found.has(r.kind === "name" ? r.value.toLowerCase() : r.value));
  if (missing.length === 0) return;
  const first = missing[0]!;
  const list = (kind: "name" | "id") => [...new Set(missing.filter((r) => r.kind === kind).map((r) => JSON.stringify(r.value)))].join(", ");
  const parts = [list("name") && `no SCIM connection has a group named ${list("name")}`, list("id") && `no SCIM group has the id ${list("id")}`].filter(Boolean);
  throw apiErrors.invalid(at(first.member, checked.input[first.member], parts.join("; "), first.position));
}

function render(row: RuleRow): RuleView {
  return {
    id: row.id,
    name: row.name,
    action: row.action as Action,
    enabled: row.enabled === 1,
    precedence: row.precedence,
    filters: JSON.parse(row.filters) as Filter[],
    traffic: row.traffic,
    identity: row.identity,
    rule_settings: JSON.parse(row.rule_settings) as RuleView["rule_settings"],
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

async function precedenceTaken(db: D1Database, precedence: number) {
  const other = await db.prepare("SELECT id, name FROM gateway_rules WHERE precedence = ?").bind(precedence).first<{ id: string; name: string }>();
  const who = other ? `rule "${other.name}" (${other.id})` : "another rule";
  return apiErrors.conflict(`precedence: ${precedence} is already used by ${who}; precedences are unique (leave precedence out to append)`);
}

async function write(db: D1Database, precedence: number | undefined, statements: D1PreparedStatement[]) {
  try {
    return await db.batch(statements);
  } catch (error) {
    if (precedence !== undefined && isUniqueViolation(error, "gateway_rules.precedence")) throw await precedenceTaken(db, precedence);
    throw error;
  } finally {
    invalidateRuleSet();
  }
}

/** `POST /api/v1/gateway/rules`; without `precedence` the rule goes last (max + 1 inside the INSERT, so concurrent creates never collide). */
export async function createRule(ctx: RulesContext, body: unknown): Promise<RuleView> {
  const checked = check(body);
  await checkGroups(ctx.db, checked);
  const { input } = checked;
  const id = crypto.randomUUID();
  const now = nowIso();
  const precedence = input.precedence === undefined ? { sql: "(SELECT COALESCE(MAX(precedence), 0) + 1 FROM gateway_rules)", params: [] } : { sql: "?", params: [input.precedence] };
  const [inserted] = await write(ctx.db, input.precedence, [
    ctx.db
      .prepare(
        `INSERT INTO gateway_rules (id, name, action, enabled, precedence, filters, traffic, identity, rule_settings, created_at, updated_at)
         SELECT ?, ?, ?, ?, ${precedence.sql}, ?, ?, ?, ?, ?, ? RETURNING *`,
      )
      .bind(id, input.name, input.action, input.enabled ? 1 : 0, ...precedence.params, JSON.stringify(input.filters), input.traffic, input.identity, JSON.stringify(input.rule_settings), now, now),
    auditStatement(ctx.db, { actor: ctx.actor, action: "gateway_rule.create", targetType: "gateway_rule", targetId: id, details: { name: input.name, action: input.action, filters: input.filters } }),
  ]);
  return render(inserted!.results[0] as RuleRow);
}

/** `GET /api/v1/gateway/rules?page=&per_page=`: one page of the rules in precedence order (a deployment may hold 10,000). */
export async function listRules(db: D1Database, page: ListPage = FIRST_PAGE): Promise<Paged<RuleView>> {
  const { rows, info } = await pagedRows<RuleRow>(db, "SELECT * FROM gateway_rules ORDER BY precedence, id", "SELECT count(*) AS n FROM gateway_rules", [], page);
  return { result: rows.map(render), result_info: info };
}

/** `GET /api/v1/gateway/rules/:id`. */
export async function getRule(db: D1Database, id: string): Promise<RuleView> {
  const row = await db.prepare("SELECT * FROM gateway_rules WHERE id = ?").bind(id).first<RuleRow>();
  if (!row) throw apiErrors.notFound("Gateway rule");
  return render(row);
}

/** `PUT /api/v1/gateway/rules/:id`: members left out keep their values. */
export async function updateRule(ctx: RulesContext, id: string, body: unknown): Promise<RuleView> {
  const current = await getRule(ctx.db, id);
  const checked = check(body, current);
  await checkGroups(ctx.db, checked);
  const { input } = checked;
  const precedence = input.precedence ?? current.precedence;
  const [updated] = await write(ctx.db, precedence, [
    ctx.db
      .prepare(
        "UPDATE gateway_rules SET name = ?, action = ?, enabled = ?, precedence = ?, filters = ?, traffic = ?, identity = ?, rule_settings = ?, updated_at = ? WHERE id = ? RETURNING *",
      )
      .bind(input.name, input.action, input.enabled ? 1 : 0, precedence, JSON.stringify(input.filters), input.traffic, input.identity, JSON.stringify(input.rule_settings), nowIso(), id),
    auditStatement(ctx.db, { actor: ctx.actor, action: "gateway_rule.update", targetType: "gateway_rule", targetId: id, details: { fields: Object.keys(body as object) } }),
  ]);
  const row = updated?.results[0] as RuleRow | undefined;
  if (!row) throw apiErrors.notFound("Gateway rule"); // deleted in between (the audit row is then a no-op record)
  return render(row);
}

/** `DELETE /api/v1/gateway/rules/:id`. */
export async function deleteRule(ctx: RulesContext, id: string): Promise<{ id: string }> {
  const current = await getRule(ctx.db, id);
  await write(ctx.db, undefined, [
    ctx.db.prepare("DELETE FROM gateway_rules WHERE id = ?").bind(id),
    auditStatement(ctx.db, { actor: ctx.actor, action: "gateway_rule.delete", targetType: "gateway_rule", targetId: id, details: { name: current.name } }),
  ]);
  return { id };
}

// ---- The resolver's view.

/**
 * Per-isolate RuleSet, rebuilt at most every RULESET_TTL_MS. A write through this isolate's API drops
 * it at once; other isolates see a rule change within RULESET_TTL_MS (the documented propagation delay).
 * A load that started before a write never installs its (older) result: the generation moved on.
 * Concurrent misses each read D1 (no promise is shared across requests: workerd ties I/O to the
 * request that started it, and a cancelled request would strand the others).
 */
const RULESET_TTL_MS = 5_000;
let cached: { set: RuleSet; at: number } | null = null;
let generation = 0;

/** Forgets this isolate's RuleSet (called after every rule write). */
export function invalidateRuleSet(): void {
  generation++;
  cached = null;
}

/** A stored rule as the engine takes it. A row that no longer parses (never saved so) is skipped, loudly. */
function toGatewayRule(row: RuleRow): GatewayRule | null {
  const view = render(row);
  const parse = (source: string) => {
    if (source.trim() === "") return null;
    const parsed = parseExpression(source);
    if (!parsed.ok) throw new Error(parsed.error);
    return parsed.expr;
  };
  try {
    return { id: view.id, name: view.name, action: view.action, precedence: view.precedence, enabled: view.enabled, filters: view.filters, traffic: parse(view.traffic), identity: parse(view.identity), settings: view.rule_settings };
  } catch (e) {
    console.error("gateway: stored rule does not parse; skipped", view.id, e instanceof Error ? e.message : String(e));
    return null;
  }
}

/** The enabled rules as a RuleSet, from this isolate's cache when it is fresh. */
export async function loadRuleSet(env: Pick<Env, "DB">): Promise<RuleSet> {
  if (cached && Date.now() - cached.at < RULESET_TTL_MS) return cached.set;
  const mine = generation;
  const rows = await env.DB.prepare("SELECT * FROM gateway_rules WHERE enabled = 1 ORDER BY precedence").all<RuleRow>();
  const set = buildRuleSet(rows.results.map(toGatewayRule).filter((r): r is GatewayRule => r !== null));
  if (mine === generation) cached = { set, at: Date.now() };
  return set;
}

/** The rule body schema, for the OpenAPI document (src/admin/openapi.ts). */
export { ruleSchema };
