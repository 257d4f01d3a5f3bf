import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { admin, checkSession, createConnection, openSession, scim } from "../helpers";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";

afterEach(() => {
  vi.restoreAllMocks();
});

type DeleteBody = { success: boolean; result: { id: string; sessions: { users: number; status: string } }; messages: { code: number; message: string }[] };

describe("deleting a connection revokes its users' sessions", () => {
  it("up to 100 users with sessions: 200 only after every session is revoked", async () => {
    const conn = await createConnection();
    const ids: string[] = [];
    for (const name of ["a@example.com", "b@example.com", "never@example.com"]) {
      ids.push(((await (await scim(conn, "POST", "/Users", { schemas: [USER], userName: name })).json()) as { id: string }).id);
    }
    const sa = await openSession(ids[0]!);
    const sb = await openSession(ids[1]!, "gateway");
    const res = await admin("DELETE", `/api/v1/access/identity_providers/${conn.id}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ success: true, result: { id: conn.id, sessions: { users: 2, status: "revoked" } } });
    expect(await checkSession(ids[0]!, sa)).toMatchObject({ status: "revoked", reason: "deprovisioned" });
    expect(await checkSession(ids[1]!, sb)).toMatchObject({ status: "revoked", reason: "deprovisioned" });
    expect(await env.DB.prepare("SELECT count(*) AS n FROM identity_outbox WHERE idp_id = ?").bind(conn.id).first("n")).toBe(0);
    expect((await admin("GET", `/api/v1/access/identity_providers/${conn.id}`)).status).toBe(404);
  });

  it("more than 100 users with sessions: 202 at once; no new login from then on; the queue revokes every session", { timeout: 40_000 }, async () => {
    const conn = await createConnection();
    const seeded = await admin("POST", "/__dev/bench/seed", { idp_id: conn.id, prefix: "cdel", users: { from: 1, count: 150 } });
    expect(seeded.status).toBe(200);
    const users = Array.from({ length: 150 }, (_, i) => `cdel-${String(i + 1).padStart(7, "0")}`);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM users WHERE idp_id = ? AND id IN (?, ?)").bind(conn.id, users[0], users[149]).first("n")).toBe(2);
    const live = [users[0]!, users[77]!, users[149]!];
    const sessions = await Promise.all(live.map((u) => openSession(u)));
    // The others signed in once too (their objects must hear about the deletion).
    await env.DB.batch(users.map((u) => env.DB.prepare("INSERT OR IGNORE INTO session_index (user_id, scope, last_opened_at) VALUES (?, 'access:*', ?)").bind(u, new Date().toISOString())));
    const send = vi.spyOn(env.IDENTITY_CHANGES, "sendBatch");

    const res = await admin("DELETE", `/api/v1/access/identity_providers/${conn.id}`);
    expect(res.status).toBe(202);
    const body = (await res.json()) as DeleteBody;
    expect(body).toMatchObject({ success: true, result: { id: conn.id, sessions: { users: 150, status: "pending" } } });
    expect(body.messages[0]?.message).toMatch(/being revoked by the queue/);
    expect(send).toHaveBeenCalled();
    // What the 202 promises at once: the users are gone and no new session can be opened for them.
    expect(await env.DB.prepare("SELECT count(*) AS n FROM users WHERE idp_id = ?").bind(conn.id).first("n")).toBe(0);
    await expect(openSession(live[1]!)).rejects.toThrow(/403/);
    // And then: every existing session ends, and the outbox row is cleared.
    await vi.waitFor(
      async () => {
        for (const [i, u] of live.entries()) expect(await checkSession(u, sessions[i]!)).toMatchObject({ status: "revoked", reason: "deprovisioned" });
      },
      { timeout: 15_000, interval: 200 },
    );
    await vi.waitFor(async () => expect(await env.DB.prepare("SELECT count(*) AS n FROM identity_outbox WHERE idp_id = ?").bind(conn.id).first("n")).toBe(0), { timeout: 15_000, interval: 200 });
  });

  it("if the queue cannot take the work, the deletion still stands and the outbox keeps it for the cron (202)", async () => {
    const conn = await createConnection();
    await admin("POST", "/__dev/bench/seed", { idp_id: conn.id, prefix: "cdelq", users: { from: 1, count: 101 } });
    const users = Array.from({ length: 101 }, (_, i) => `cdelq-${String(i + 1).padStart(7, "0")}`);
    await env.DB.batch(users.map((u) => env.DB.prepare("INSERT OR IGNORE INTO session_index (user_id, scope, last_opened_at) VALUES (?, 'access:*', ?)").bind(u, new Date().toISOString())));
    vi.spyOn(env.IDENTITY_CHANGES, "sendBatch").mockRejectedValue(new Error("queue unavailable"));
    const res = await admin("DELETE", `/api/v1/access/identity_providers/${conn.id}`);
    expect(res.status).toBe(202);
    const row = await env.DB.prepare("SELECT kind, (SELECT count(*) FROM identity_outbox_users WHERE outbox_id = o.id) AS users FROM identity_outbox o WHERE idp_id = ?").bind(conn.id).first();
    expect(row).toEqual({ kind: "deprovision", users: 101 });
  });
});
