import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { toConnectionRow } from "../../src/auth/scim-secret";
import { readConfig } from "../../src/config";
import type { DirectoryContext } from "../../src/directory/context";
import { patchGroup } from "../../src/directory/groups";
import { admin, createConnection, dumpDirectory, recordingD1, scim, type TestConnection } from "../helpers";

// A members-only Group PATCH without If-Match (Entra ID / Okta adding or removing one member) is
// applied in one write batch with no read of the group first; its outcome comes from the closing
// `UPDATE groups … RETURNING *`.

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR = "urn:ietf:params:scim:api:messages:2.0:Error";

let conn: TestConnection;

async function createUser(c: TestConnection, userName: string): Promise<string> {
  const res = await scim(c, "POST", "/Users", { schemas: [USER], userName });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

async function createGroup(c: TestConnection, displayName: string, members: string[] = [], externalId?: string): Promise<string> {
  const res = await scim(c, "POST", "/Groups", { schemas: [GROUP], displayName, ...(externalId ? { externalId } : {}), members: members.map((value) => ({ value })) });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

const version = (groupId: string) => env.DB.prepare("SELECT version FROM groups WHERE id = ?").bind(groupId).first<number>("version");
const memberIds = async (groupId: string) =>
  (await env.DB.prepare("SELECT user_id FROM group_members WHERE group_id = ? ORDER BY user_id").bind(groupId).all<{ user_id: string }>()).results.map((r) => r.user_id);

/** Everything a rejected write must leave as it was: the directory plus the outbox and per-user versions. */
async function snapshot() {
  const outbox = (await env.DB.prepare("SELECT * FROM identity_outbox ORDER BY id").all()).results;
  const outboxUsers = (await env.DB.prepare("SELECT * FROM identity_outbox_users ORDER BY outbox_id, user_id").all()).results;
  const versions = (await env.DB.prepare("SELECT id, groups_version FROM users ORDER BY id").all()).results;
  return { ...(await dumpDirectory()), outbox, outboxUsers, versions };
}

/**
 * A directory context for `conn` over a D1 that records every statement prepared and every round
 * trip (`batch`, `first`, `all`, `run`), as the SCIM middleware would build it once authenticated.
 */
async function countingContext(c: TestConnection) {
  const raw = await env.DB.prepare("SELECT * FROM identity_providers WHERE id = ?").bind(c.id).first<Record<string, unknown>>();
  const { db, calls, prepared } = recordingD1();
  const ctx: DirectoryContext = {
    env,
    db,
    idp: toConnectionRow(raw!),
    scimBase: c.scimBaseUrl,
    config: readConfig(env),
    actor: `scim:${c.id}`,
  };
  // Every recorded call (a batch, or one statement's first/all/run/raw) is one D1 round trip.
  return { ctx, prepared, roundTrips: () => calls.length };
}

const groupReads = (prepared: string[]) => prepared.filter((sql) => /^SELECT\b.*\bFROM groups\b/i.test(sql));

beforeEach(async () => {
  conn = await createConnection();
});

describe("members-only Group PATCH: one write batch, no read of the group", () => {
  it("an add issues exactly one D1 round trip and never reads the group", async () => {
    const u = await createUser(conn, "fast-add@example.com");
    const g = await createGroup(conn, "fast-add");
    const before = await version(g);
    const { ctx, prepared, roundTrips } = await countingContext(conn);
    const row = await patchGroup(ctx, g, { schemas: [PATCH_OP], Operations: [{ op: "Add", path: "members", value: [{ value: u }] }] }, undefined);
    expect(groupReads(prepared)).toEqual([]);
    expect(roundTrips()).toBe(1);
    expect(row).toMatchObject({ id: g, display_name: "fast-add", version: before! + 1 });
    expect(await memberIds(g)).toEqual([u]);
    expect(await version(g)).toBe(before! + 1);
  });

  it("Okta's filtered remove and Entra's value-array remove take the same path", async () => {
    const [a, b] = [await createUser(conn, "fast-a@example.com"), await createUser(conn, "fast-b@example.com")];
    const g = await createGroup(conn, "fast-remove", [a, b]);
    for (const Operations of [[{ op: "remove", path: `members[value eq "${a}"]` }], [{ op: "Remove", path: "members", value: [{ value: b }] }]]) {
      const { ctx, prepared, roundTrips } = await countingContext(conn);
      await patchGroup(ctx, g, { schemas: [PATCH_OP], Operations }, undefined);
      expect(groupReads(prepared)).toEqual([]);
      expect(roundTrips()).toBe(1);
    }
    expect(await memberIds(g)).toEqual([]);
  });

  it("with If-Match or an attribute change, the group is still read first (version check, read-modify-write)", async () => {
    const u = await createUser(conn, "slow@example.com");
    const g = await createGroup(conn, "slow");
    const v = await version(g);
    const add = { schemas: [PATCH_OP], Operations: [{ op: "add", path: "members", value: [{ value: u }] }] };
    const guarded = await countingContext(conn);
    await patchGroup(guarded.ctx, g, add, `W/"${v}"`);
    expect(groupReads(guarded.prepared)).toHaveLength(1);
    const rename = await countingContext(conn);
    await patchGroup(rename.ctx, g, { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "displayName", value: "renamed" }] }, undefined);
    expect(groupReads(rename.prepared)).toHaveLength(1);
  });

  it("answers 204 with the ETag of the new version, and logs the group's name and externalId", async () => {
    const u = await createUser(conn, "etag@example.com");
    const g = await createGroup(conn, "etag-group", [], "ext-etag");
    const res = await scim(conn, "PATCH", `/Groups/${g}`, { schemas: [PATCH_OP], Operations: [{ op: "add", path: "members", value: [{ value: u }] }] });
    expect(res.status).toBe(204);
    const now = await version(g);
    expect(now).toBe(2);
    expect(res.headers.get("etag")).toBe(`W/"${now}"`);
    await vi.waitFor(async () => {
      const logs = await admin("GET", `/api/v1/access/logs/scim/updates?idp_id=${conn.id}&request_method[]=PATCH`);
      const rows = ((await logs.json()) as { result: Record<string, unknown>[] }).result;
      expect(rows[0]).toMatchObject({ resource_group_name: "etag-group", idp_resource_id: "ext-etag", cf_resource_id: g, status: "SUCCESS" });
    });
  });

  it("with excludedAttributes=members, answers 200 with the group at its new version and no members", async () => {
    const u = await createUser(conn, "excl@example.com");
    const g = await createGroup(conn, "excl-group", [], "ext-excl");
    const res = await scim(conn, "PATCH", `/Groups/${g}?excludedAttributes=members`, { schemas: [PATCH_OP], Operations: [{ op: "add", path: "members", value: [{ value: u }] }] });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, any>;
    expect(body).toMatchObject({ id: g, displayName: "excl-group", externalId: "ext-excl", meta: { version: 'W/"2"' } });
    expect(body.members).toBeUndefined();
    expect(res.headers.get("etag")).toBe('W/"2"');
    expect(await memberIds(g)).toEqual([u]);
  });

  it("a missing group answers 404 and writes nothing", async () => {
    const u = await createUser(conn, "missing@example.com");
    const before = await snapshot();
    const missing = crypto.randomUUID();
    const res = await scim(conn, "PATCH", `/Groups/${missing}`, { schemas: [PATCH_OP], Operations: [{ op: "add", path: "members", value: [{ value: u }] }] });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ schemas: [ERROR], status: "404", detail: `Group ${missing} not found` });
    expect(await snapshot()).toEqual(before);
  });

  it("another connection's group answers 404 and is left untouched (members, version, outbox)", async () => {
    const other = await createConnection();
    const theirs = await createUser(other, "theirs@example.com");
    const g = await createGroup(other, "not-yours", [theirs]);
    const mine = await createUser(conn, "mine@example.com");
    const before = await snapshot();
    for (const Operations of [[{ op: "add", path: "members", value: [{ value: mine }] }], [{ op: "remove", path: `members[value eq "${theirs}"]` }], [{ op: "remove", path: "members" }]]) {
      const res = await scim(conn, "PATCH", `/Groups/${g}`, { schemas: [PATCH_OP], Operations });
      expect(res.status).toBe(404);
    }
    expect(await snapshot()).toEqual(before);
    expect(await memberIds(g)).toEqual([theirs]);
  });

  it("an unknown member answers 400 invalidValue naming it, with D1 unchanged", async () => {
    const u = await createUser(conn, "known@example.com");
    const g = await createGroup(conn, "unknown-member");
    const before = await snapshot();
    const ghost = crypto.randomUUID();
    const res = await scim(conn, "PATCH", `/Groups/${g}`, { schemas: [PATCH_OP], Operations: [{ op: "add", path: "members", value: [{ value: u }, { value: ghost }] }] });
    expect(res.status).toBe(400);
    const err = (await res.json()) as { scimType: string; detail: string };
    expect(err.scimType).toBe("invalidValue");
    expect(err.detail).toContain(ghost);
    expect(await snapshot()).toEqual(before);
  });

  it("a PATCH that changes nothing (empty add) still answers 404 for a missing group", async () => {
    const res = await scim(conn, "PATCH", `/Groups/${crypto.randomUUID()}`, { schemas: [PATCH_OP], Operations: [{ op: "add", path: "members", value: [] }] });
    expect(res.status).toBe(404);
  });
});
