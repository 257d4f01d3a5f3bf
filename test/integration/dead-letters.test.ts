import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import type { IdentityChangeMessage } from "../../src/sessions/fanout";
import { admin, checkSession, createConnection, openSession, scim } from "../helpers";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";

async function deliver(queue: string, messages: { id: string; body: unknown; attempts?: number }[]) {
  const batch = createMessageBatch<unknown>(queue, messages.map((m) => ({ id: m.id, timestamp: new Date(), attempts: m.attempts ?? 1, body: m.body })));
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  return getQueueResult(batch, ctx);
}

async function provisionWithSession(userName: string): Promise<{ userId: string; sid: string }> {
  const conn = await createConnection();
  const res = await scim(conn, "POST", "/Users", { schemas: [USER], userName });
  const userId = ((await res.json()) as { id: string }).id;
  return { userId, sid: await openSession(userId) };
}

type Envelope<T> = { success: boolean; result: T; result_info?: Record<string, number> };

describe("IDENTITY_CHANGES dead-letter queue", () => {
  it("every dead-lettered message becomes one identity_dead_letters row and one audit row, once", async () => {
    const id = `dl-${crypto.randomUUID()}`;
    const body: IdentityChangeMessage = { type: "deprovision", userIds: ["u-a", "u-b"], actor: "admin:token" };
    const first = await deliver("zt-identity-changes-dlq", [{ id, body }]);
    expect(first.explicitAcks).toEqual([id]);
    // A redelivery of the same dead letter is recorded once.
    expect((await deliver("zt-identity-changes-dlq", [{ id, body, attempts: 2 }])).explicitAcks).toEqual([id]);
    const rows = await env.DB.prepare("SELECT message_type, user_count, body, attempts, resolved_at FROM identity_dead_letters WHERE id = ?").bind(id).all();
    expect(rows.results).toEqual([{ message_type: "deprovision", user_count: 2, body: JSON.stringify(body), attempts: 11, resolved_at: null }]);
    const audit = await env.DB.prepare("SELECT actor, details FROM audit_log WHERE action = 'identity_change.dead_lettered' AND target_id = ?").bind(id).all<{ actor: string; details: string }>();
    expect(audit.results).toHaveLength(1);
    expect(JSON.parse(audit.results[0]!.details)).toMatchObject({ type: "deprovision", users: 2 });
  });

  it("a body that is not an identity change is still recorded (type unknown), never dropped", async () => {
    const id = `dl-${crypto.randomUUID()}`;
    expect((await deliver("zt-identity-changes-dlq", [{ id, body: { hello: "world" } }])).explicitAcks).toEqual([id]);
    expect(await env.DB.prepare("SELECT message_type FROM identity_dead_letters WHERE id = ?").bind(id).first("message_type")).toBe("unknown");
  });

  it("a batch from a queue this Worker does not know is retried, not acked", async () => {
    const result = await deliver("some-other-queue", [{ id: "x1", body: {} }]);
    expect(result.explicitAcks).toEqual([]);
    expect(result.retryBatch.retry).toBe(true);
  });

  it("lists dead letters in Cloudflare's envelope, newest first, paginated, filtered by status", async () => {
    const ids = [`dl-p1-${crypto.randomUUID()}`, `dl-p2-${crypto.randomUUID()}`, `dl-p3-${crypto.randomUUID()}`];
    for (const id of ids) {
      await deliver("zt-identity-changes-dlq", [{ id, body: { type: "revoke_app", userIds: ["u-1"], appId: "wiki", actor: "admin:token" } }]);
      await new Promise((r) => setTimeout(r, 3));
    }
    const all = (await (await admin("GET", "/api/v1/access/identity_changes/dead_letters?per_page=1000")).json()) as Envelope<{ id: string }[]>;
    const total = all.result_info!.total_count!;
    const page1 = await admin("GET", "/api/v1/access/identity_changes/dead_letters?per_page=2&page=1");
    expect(page1.status).toBe(200);
    const p1 = (await page1.json()) as Envelope<{ id: string; type: string; user_count: number; message: unknown; resolved_at: null }[]>;
    expect(p1).toMatchObject({ success: true, errors: [], messages: [], result_info: { page: 1, per_page: 2, count: 2, total_count: total, total_pages: Math.ceil(total / 2) } });
    expect(p1.result.map((r) => r.id)).toEqual([ids[2], ids[1]]);
    expect(p1.result[0]).toMatchObject({ type: "revoke_app", user_count: 1, resolved_at: null, message: { appId: "wiki" } });
    const one = (await (await admin("GET", `/api/v1/access/identity_changes/dead_letters/${ids[0]}`)).json()) as Envelope<{ id: string }>;
    expect(one.result.id).toBe(ids[0]);
    expect((await admin("GET", "/api/v1/access/identity_changes/dead_letters/nope")).status).toBe(404);
    expect((await admin("GET", "/api/v1/access/identity_changes/dead_letters?per_page=0")).status).toBe(400);
    expect((await admin("GET", "/api/v1/access/identity_changes/dead_letters?status=resolved")).status).toBe(200);
  });

  it("redrive re-applies a dead-lettered deprovisioning (skipping users reactivated since) once, and audits it", async () => {
    const gone = await provisionWithSession("gone@example.com");
    const back = await provisionWithSession("back@example.com");
    // `gone` was deleted with its connection; `back` is active in D1 (e.g. reactivated since).
    await env.DB.prepare("DELETE FROM users WHERE id = ?").bind(gone.userId).run();
    const id = `dl-${crypto.randomUUID()}`;
    await deliver("zt-identity-changes-dlq", [{ id, body: { type: "deprovision", userIds: [gone.userId, back.userId], actor: "admin:token" } satisfies IdentityChangeMessage }]);
    expect((await checkSession(gone.userId, gone.sid)).status).toBe("valid");

    const res = await admin("POST", `/api/v1/access/identity_changes/dead_letters/${id}/redrive`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ success: true, result: { redriven: true, mode: "inline", dead_letter: { id, resolved_at: expect.any(String) } } });
    expect(await checkSession(gone.userId, gone.sid)).toMatchObject({ status: "revoked", reason: "deprovisioned" });
    expect((await checkSession(back.userId, back.sid)).status).toBe("valid");

    // Idempotent: a second redrive changes nothing and says so.
    const again = await admin("POST", `/api/v1/access/identity_changes/dead_letters/${id}/redrive`);
    expect(await again.json()).toMatchObject({ success: true, result: { redriven: false } });
    const audits = await env.DB.prepare("SELECT actor FROM audit_log WHERE action = 'identity_change.redrive' AND target_id = ?").bind(id).all();
    expect(audits.results).toEqual([{ actor: "admin:token" }]);
    const unresolved = (await (await admin("GET", "/api/v1/access/identity_changes/dead_letters?status=unresolved&per_page=1000")).json()) as Envelope<{ id: string }[]>;
    expect(unresolved.result.map((r) => r.id)).not.toContain(id);
  });

  it("a dead letter that is not an identity change cannot be re-driven (400)", async () => {
    const id = `dl-${crypto.randomUUID()}`;
    await deliver("zt-identity-changes-dlq", [{ id, body: "garbage" }]);
    expect((await admin("POST", `/api/v1/access/identity_changes/dead_letters/${id}/redrive`)).status).toBe(400);
    expect((await admin("POST", "/api/v1/access/identity_changes/dead_letters/nope/redrive")).status).toBe(404);
  });
});
