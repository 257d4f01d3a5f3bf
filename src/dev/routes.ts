import { Hono } from "hono";
import { z } from "zod";
import { apiErrors, envelope } from "../http/api-error";
import type { AppEnv } from "../http/app-env";
import { requireAdmin } from "../auth/admin-token";
import { sessionsFor } from "../sessions/client";
import { teamOrigin } from "../access/login/team";
import { verifyAccessToken } from "../access/tokens/jwt";
import { seedGroup, seedGroups, seedUsers } from "./seed";
import { RCODE } from "../gateway/dns/codec";
import { buildResponse, parseQuery } from "../gateway/dns/messages";
import { resolveUpstream } from "../gateway/upstream";
import { invalidateRuleSet, loadRuleSet } from "../gateway/rules-store";
import { matchRule } from "../gateway/rules/engine";
import { parseExpression } from "../gateway/rules/expression";

/**
 * Development-only routes (DEV_ROUTES=true, still behind the admin token): benchmark floors and
 * seeding. Sessions are opened only by a real Access login (the development IdP at /__dev/idp
 * under `npm run dev`) and checked only by proxied requests.
 */
export const devRoutes = new Hono<AppEnv>();

devRoutes.use("*", async (c, next) => {
  if (!c.var.config.devRoutes) throw apiErrors.notFound("Route");
  await next();
});
devRoutes.use("*", requireAdmin);

// ---- Benchmark floors: the same Worker, one bare operation.
devRoutes.get("/bench/floor", async (c) => {
  const row = await c.env.DB.prepare("SELECT * FROM users WHERE id = ?").bind(c.req.query("id") ?? "").first();
  return c.json(row);
});
/** Floor for bench/paging.mjs: the same 100 users a cursor page reads, by the same keyset seek, returned bare. */
devRoutes.get("/bench/floor-page", async (c) => {
  const q = (k: string) => c.req.query(k) ?? "";
  const { results } = await c.env.DB.prepare("SELECT * FROM users WHERE idp_id = ? AND (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?")
    .bind(q("idp_id"), q("after_created"), q("after_id"), Number(q("count") || 100))
    .all();
  return c.json(results);
});
// Write floors for the throughput bench: the least a SCIM write can cost. `floor-write` is one
// `db.batch` holding one single-row UPDATE (every SCIM write is one batch); `floor-write-do` adds
// one Durable Object RPC after it, as a deactivation with `user_deprovision` on does. Both answer
// `{ changes }` so the bench can check they really wrote.
async function floorWrite(db: D1Database, id: string): Promise<number> {
  const [res] = await db.batch([db.prepare("UPDATE users SET updated_at = ? WHERE id = ?").bind(new Date().toISOString(), id)]);
  return res?.meta.changes ?? 0;
}
devRoutes.post("/bench/floor-write", async (c) => {
  return c.json({ changes: await floorWrite(c.env.DB, c.req.query("id") ?? "") });
});
devRoutes.post("/bench/floor-write-do", async (c) => {
  const id = c.req.query("id") ?? "";
  const changes = await floorWrite(c.env.DB, id);
  await sessionsFor(c.env, id || "bench").noop();
  return c.json({ changes });
});
devRoutes.get("/bench/do-noop", async (c) => {
  await sessionsFor(c.env, c.req.query("user_id") ?? "bench").noop();
  return c.json({ ok: true });
});
devRoutes.get("/bench/do-check", async (c) => {
  const result = await sessionsFor(c.env, c.req.query("user_id") ?? "bench").check(c.req.query("session_id") ?? "");
  return c.json(result);
});

/**
 * Floor for bench/access.mjs: JWT verification alone (signature, `kid`, `aud`, `type`, `iss`,
 * times), the first step of every proxied request, without the Durable Object check or the origin.
 * `aud` is the app's audience tag; the issuer is the team host the proxy would expect.
 */
devRoutes.get("/bench/jwt-verify", async (c) => {
  const team = teamOrigin(c.var.config, c.req.url);
  const result = await verifyAccessToken(c.env, c.req.query("token") ?? "", { audience: c.req.query("aud") ?? "", type: "app", issuer: team });
  return c.json(result.ok ? { ok: true, sub: result.claims.sub } : { ok: false, reason: result.reason }, result.ok ? 200 : 401);
});

/**
 * Floor for bench/gateway.mjs: a bare DoH forward (RFC 8484 POST) through the same answer cache to the
 * same GATEWAY_UPSTREAM as the resolver, with no device token, no session check and no rules: parse the
 * query, `resolveUpstream`, answer (SERVFAIL on failure, as the resolver does).
 */
devRoutes.post("/bench/doh-floor", async (c) => {
  const parsed = parseQuery(new Uint8Array(await c.req.arrayBuffer()));
  if (!parsed.ok) return c.text(`malformed DNS message: ${parsed.error}\n`, 400);
  const answer = await resolveUpstream(c.env, parsed.value);
  const bytes = answer.ok ? answer.bytes : buildResponse(parsed.value, RCODE.SERVFAIL);
  return new Response(bytes, { headers: { "content-type": "application/dns-message", "cache-control": answer.ok ? `private, max-age=${answer.ttl}` : "no-store" } });
});

/**
 * Bulk DNS rules for bench/gateway.mjs (10,000 through the API would take minutes): `count` block rules
 * named `<prefix>-<i>`, each on its own domain(s) under `<prefix>.bench.test`, in the three indexable
 * shapes (`dns.domains ==`, `dns.domains in {…}`, `dns.fqdn ==`), every third one with a group condition,
 * appended after the existing precedences. Every expression is parsed first, as the rules API would.
 * `{prefix, enabled}` without `count` switches them all on or off (the 10- vs 10,000-rule phases).
 * Both drop this isolate's RuleSet at once, as an API write does.
 */
const benchRulesSchema = z.object({
  prefix: z.string().regex(/^[a-z0-9-]{1,32}$/),
  count: z.number().int().min(1).max(20_000).optional(),
  enabled: z.boolean().default(true),
  group: z.string().min(1).max(64).default("risky"),
});
devRoutes.post("/bench/gateway-rules", async (c) => {
  const parsed = benchRulesSchema.safeParse(await c.req.json().catch(() => null));
  if (!parsed.success) throw apiErrors.invalid(parsed.error.issues[0]?.message ?? "invalid body");
  const { prefix, count, enabled, group } = parsed.data;
  const db = c.env.DB;
  if (count === undefined) {
    const res = await db.prepare("UPDATE gateway_rules SET enabled = ? WHERE name LIKE ?").bind(enabled ? 1 : 0, `${prefix}-%`).run();
    invalidateRuleSet();
    return c.json(envelope({ changed: res.meta.changes ?? 0 }));
  }
  const top = (await db.prepare("SELECT COALESCE(MAX(precedence), 0) AS p FROM gateway_rules").first<{ p: number }>())?.p ?? 0;
  const now = new Date().toISOString();
  const insert = db.prepare(
    "INSERT INTO gateway_rules (id, name, action, enabled, precedence, filters, traffic, identity, rule_settings, created_at, updated_at) VALUES (?, ?, 'block', ?, ?, '[\"dns\"]', ?, ?, '{}', ?, ?)",
  );
  const statements: D1PreparedStatement[] = [];
  for (let i = 1; i <= count; i++) {
    const d = `r${i}.${prefix}.bench.test`;
    const traffic = i % 3 === 0 ? `dns.fqdn == "www.${d}"` : i % 3 === 1 ? `any(dns.domains[*] == "${d}")` : `any(dns.domains[*] in {"${d}" "alt-${d}"})`;
    const identity = i % 3 === 0 ? `any(identity.groups.name[*] in {"${group}"})` : "";
    for (const source of [traffic, identity]) if (source && !parseExpression(source).ok) throw apiErrors.invalid(`bench rule ${i} does not parse: ${source}`);
    statements.push(insert.bind(crypto.randomUUID(), `${prefix}-${i}`, enabled ? 1 : 0, top + i, traffic, identity, now, now));
  }
  for (let i = 0; i < statements.length; i += 500) await db.batch(statements.slice(i, i + 500));
  invalidateRuleSet();
  return c.json(envelope({ created: count, first_precedence: top + 1 }));
});

/**
 * `matchRule` alone, inside workerd, against the resolver's own RuleSet (`loadRuleSet`): `iterations`
 * matches of `name` (DNS filter) for a user in `group`. Answers the decision so the bench can check it;
 * the bench times the request with and without iterations (timers do not advance while a Worker computes).
 */
devRoutes.get("/bench/rule-match", async (c) => {
  const q = (k: string) => c.req.query(k) ?? "";
  const iterations = Math.min(1_000_000, Math.max(0, Number(q("iterations")) || 0));
  const set = await loadRuleSet(c.env);
  const ctx = { dns: { fqdn: q("name").toLowerCase(), type: "A" }, identity: { email: "bench@bench.example", groups: q("group") ? [{ id: "bench-group", name: q("group") }] : [] } };
  let rule = matchRule(set, "dns", ctx);
  for (let i = 0; i < iterations; i++) rule = matchRule(set, "dns", ctx);
  return c.json({ iterations, rule: rule ? { id: rule.id, name: rule.name, action: rule.action } : null });
});

const seedSchema = z.object({
  idp_id: z.string().min(1),
  prefix: z.string().regex(/^[a-z0-9-]{1,32}$/).default("bench-u"),
  users: z.object({ from: z.number().int().min(1), count: z.number().int().min(1).max(20_000) }).optional(),
  group: z.object({ display_name: z.string().min(1), size: z.number().int().min(0).max(200_000) }).optional(),
  // Many small groups at once (bench/admin: 10,000 groups): `<name> NNNNNN`, `size` members each from the first `pool` users.
  groups: z
    .object({ from: z.number().int().min(1).default(1), count: z.number().int().min(1).max(20_000), size: z.number().int().min(0).max(100).default(5), pool: z.number().int().min(1), name: z.string().min(1).max(64).default("Bench Group") })
    .optional(),
});

devRoutes.post("/bench/seed", async (c) => {
  const parsed = seedSchema.safeParse(await c.req.json().catch(() => null));
  if (!parsed.success) throw apiErrors.invalid(parsed.error.issues[0]?.message ?? "invalid body");
  const { idp_id, prefix, users, group, groups } = parsed.data;
  if (users) await seedUsers(c.env.DB, idp_id, users.from, users.count, prefix);
  if (groups) await seedGroups(c.env.DB, idp_id, { ...groups, prefix });
  const groupId = group ? await seedGroup(c.env.DB, idp_id, group.display_name, group.size, prefix) : undefined;
  // What the daily cron does in production: planner statistics after a bulk load.
  await c.env.DB.prepare("PRAGMA optimize").run();
  return c.json(envelope({ group_id: groupId ?? null }));
});
