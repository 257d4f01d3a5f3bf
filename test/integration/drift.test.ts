import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ADMIN_TOKEN, admin, createConnection, openSession, ORIGIN, provisionUser, scim, type TestConnection } from "../helpers";
import type { DriftReport } from "../../src/admin/drift";

const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const tag = () => crypto.randomUUID().slice(0, 8);

async function drift(query = ""): Promise<DriftReport> {
  const res = await admin("GET", `/api/v1/drift${query}`);
  expect(res.status, await res.clone().text()).toBe(200);
  return ((await res.json()) as { result: DriftReport }).result;
}

async function scimGroup(conn: TestConnection, displayName: string, members: string[], externalId?: string): Promise<string> {
  const res = await scim(conn, "POST", "/Groups", { schemas: [GROUP], displayName, ...(externalId ? { externalId } : {}), members: members.map((value) => ({ value })) });
  expect(res.status, await res.clone().text()).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

async function ok(res: Response): Promise<{ id: string }> {
  expect(res.status, await res.clone().text()).toBe(200);
  return ((await res.json()) as { result: { id: string } }).result;
}

describe("directory drift: groups named by policies and rules", () => {
  it("lists groups that are gone or empty, and references to a deleted connection; live groups with members are not drift", async () => {
    const t = tag();
    const conn = await createConnection({ type: "azureAD" });
    const user = await provisionUser(conn);
    const guid = crypto.randomUUID().toUpperCase();
    await scimGroup(conn, `alive-${t}`, [user.id]);
    await scimGroup(conn, `empty-${t}`, []);
    const doomed = await scimGroup(conn, `doomed-${t}`, [user.id], guid);
    const other = await createConnection({ type: "okta" });
    await scimGroup(other, `elsewhere-${t}`, []);

    const app = await ok(await admin("POST", "/api/v1/access/apps", { name: `drift-${t}`, domain: `drift-${t}.example.com`, origin: "https://origin.example.com" }));
    const policy = await ok(
      await admin("POST", `/api/v1/access/apps/${app.id}/policies`, {
        name: `p-${t}`,
        decision: "allow",
        precedence: 1,
        include: [{ okta: { name: `alive-${t}`, identity_provider_id: conn.id } }, { azureAD: { id: guid.toLowerCase(), identity_provider_id: conn.id } }],
        exclude: [{ okta: { name: `EMPTY-${t}`, identity_provider_id: conn.id } }],
      }),
    );
    const reusable = await ok(await admin("POST", "/api/v1/access/groups", { name: `g-${t}`, include: [{ oidc: { claim_name: "groups", claim_value: `elsewhere-${t}`, identity_provider_id: other.id } }] }));
    const rule = await ok(await admin("POST", "/api/v1/gateway/rules", { name: `r-${t}`, action: "block", traffic: `any(dns.domains[*] == "${t}.example.com")`, identity: `any(identity.groups.name[*] in {"doomed-${t}"})` }));

    // Nothing is missing yet; only the empty group is drift.
    let mine = (await drift()).groups.items.filter((g) => g.value.includes(t) || g.value.toLowerCase() === guid.toLowerCase());
    expect(mine.map((g) => [g.selector, g.value, g.problem]).sort()).toEqual([
      ["oidc", `elsewhere-${t}`, "no_members"],
      ["okta", `EMPTY-${t}`, "no_members"],
    ]);

    // The IdP deletes a group, and another connection goes away.
    expect((await scim(conn, "DELETE", `/Groups/${doomed}`)).status).toBe(204);
    expect((await admin("DELETE", `/api/v1/access/identity_providers/${other.id}`)).status).toBe(200);
    const report = await drift();
    mine = report.groups.items.filter((g) => g.value.includes(t) || g.value.toLowerCase() === guid.toLowerCase());
    const byValue = Object.fromEntries(mine.map((g) => [`${g.selector}:${g.value}`, g]));
    expect(Object.keys(byValue).sort()).toEqual([`azureAD:${guid.toLowerCase()}`, `gateway_name:doomed-${t}`, `oidc:elsewhere-${t}`, `okta:EMPTY-${t}`].sort());
    expect(byValue[`azureAD:${guid.toLowerCase()}`]).toMatchObject({
      problem: "missing",
      identity_provider_id: conn.id,
      referenced_by: [{ type: "access_policy", id: policy.id, app_id: app.id, at: "include[1].azureAD.id" }],
    });
    expect(byValue[`gateway_name:doomed-${t}`]).toMatchObject({ problem: "missing", identity_provider_id: null, referenced_by: [{ type: "gateway_rule", id: rule.id, at: "identity" }] });
    expect(byValue[`oidc:elsewhere-${t}`]).toMatchObject({ problem: "connection_missing", referenced_by: [{ type: "access_group", id: reusable.id, at: "include[0].oidc.claim_value" }] });
    expect(byValue[`okta:EMPTY-${t}`]).toMatchObject({ problem: "no_members", referenced_by: [{ type: "access_policy", at: "exclude[0].okta.name" }] });
  });

  it("bounds the list with limit and says it is truncated", async () => {
    const t = tag();
    const conn = await createConnection({ type: "okta" });
    const app = await ok(await admin("POST", "/api/v1/access/apps", { name: `lim-${t}`, domain: `lim-${t}.example.com`, origin: "https://origin.example.com" }));
    const include = [];
    for (let i = 0; i < 3; i++) {
      await scimGroup(conn, `e${i}-${t}`, []);
      include.push({ okta: { name: `e${i}-${t}`, identity_provider_id: conn.id } });
    }
    await ok(await admin("POST", `/api/v1/access/apps/${app.id}/policies`, { name: "p", decision: "allow", precedence: 1, include }));
    const report = await drift("?limit=2");
    expect(report.groups.items).toHaveLength(2);
    expect(report.groups.total).toBeGreaterThanOrEqual(3);
    expect(report.groups.truncated).toBe(true);
  });
});

describe("directory drift: deactivated users who still hold sessions", () => {
  it("lists a user deactivated with user_deprovision off whose Durable Object still has live sessions, not one whose sessions were revoked", async () => {
    const keep = await createConnection({ scim_config: { user_deprovision: false } });
    const revoke = await createConnection({ scim_config: { user_deprovision: true } });
    const kept = await provisionUser(keep);
    const gone = await provisionUser(revoke);
    const active = await provisionUser(keep);
    for (const u of [kept, gone, active]) await openSession(u.id);
    await openSession(kept.id, "gateway");
    for (const [conn, u] of [[keep, kept], [revoke, gone]] as const) {
      const res = await scim(conn, "PATCH", `/Users/${u.id}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "active", value: false }] });
      expect(res.status).toBe(200);
    }

    const report = await drift();
    const ids = report.sessions.items.map((s) => s.user_id);
    expect(ids).toContain(kept.id);
    expect(ids).not.toContain(gone.id); // deprovisioned: the object revoked every session (an index row may remain)
    expect(ids).not.toContain(active.id);
    expect(report.sessions.items.find((s) => s.user_id === kept.id)).toMatchObject({ identity_provider_id: keep.id, user_name: kept.userName, live_sessions: 2 });

    // Beyond confirm_sessions the count is not asked for (null), but the index candidate is listed.
    const unchecked = await drift("?confirm_sessions=0");
    expect(unchecked.sessions.items.find((s) => s.user_id === kept.id)).toMatchObject({ live_sessions: null });
  });
});

describe("directory drift: connections that have not synced", () => {
  it("lists never-synced connections and those whose last provisioning-log entry is older than stale_after_hours", async () => {
    const never = await createConnection();
    const fresh = await createConnection();
    await provisionUser(fresh); // a SCIM write: a provisioning-log entry now
    const old = await createConnection();
    const at = new Date(Date.now() - 30 * 3_600_000).toISOString();
    await env.DB.prepare("INSERT INTO provisioning_log (id, logged_at, idp_id, request_method, resource_type, status, http_status) VALUES (?, ?, ?, 'POST', 'USER', 'FAILURE', 409)")
      .bind(crypto.randomUUID(), at, old.id)
      .run();

    const report = await drift();
    const byId = Object.fromEntries(report.connections.items.map((c) => [c.id, c]));
    expect(byId[never.id]).toMatchObject({ last_sync_at: null, hours_since_sync: null, last_status: null });
    expect(byId[old.id]).toMatchObject({ last_sync_at: at, hours_since_sync: 30, last_status: "FAILURE" });
    expect(byId[fresh.id]).toBeUndefined();
    expect(report.stale_after_hours).toBe(24);

    const lenient = await drift("?stale_after_hours=48");
    const ids = lenient.connections.items.map((c) => c.id);
    expect(ids).toContain(never.id);
    expect(ids).not.toContain(old.id);
  });
});

describe("GET /api/v1/drift input and auth", () => {
  it.each([
    ["?stale_after_hours=0", "stale_after_hours"],
    ["?stale_after_hours=abc", "stale_after_hours"],
    ["?limit=501", "limit"],
    ["?confirm_sessions=101", "confirm_sessions"],
    ["?bogus=1", "bogus: unknown parameter"],
  ])("refuses %s", async (query, message) => {
    const res = await admin("GET", `/api/v1/drift${query}`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { errors: { message: string }[] }).errors[0]!.message).toContain(message);
  });

  it("requires a token", async () => {
    expect((await exports.default.fetch(`${ORIGIN}/api/v1/drift`)).status).toBe(401);
  });
});

describe("dashboard drift page", () => {
  it("renders the three lists from the same report", async () => {
    const conn = await createConnection({ name: `never-${tag()}` });
    const res = await exports.default.fetch(`${ORIGIN}/dashboard/drift?stale_after_hours=12`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.status).toBe(200);
    const page = await res.text();
    for (const id of ["drift-groups", "drift-sessions", "drift-connections", "drift-stale-after"]) expect(page).toContain(`data-testid="${id}"`);
    expect(page).toContain(conn.id);
    expect(page).toMatch(/name="stale_after_hours"[^>]*value="12"/);
  });

  it("shows a refused query as an error, not a 500", async () => {
    const res = await exports.default.fetch(`${ORIGIN}/dashboard/drift?stale_after_hours=-1`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("stale_after_hours");
  });
});
