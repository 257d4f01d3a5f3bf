import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { admin, createConnection, scim } from "../helpers";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";

type LogEntry = Record<string, any>;

async function logs(query = ""): Promise<LogEntry[]> {
  const res = await admin("GET", `/api/v1/access/logs/scim/updates${query}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { result: LogEntry[] }).result;
}

describe("provisioning log", () => {
  it("writes one redacted row per SCIM request with Cloudflare's fields", async () => {
    const conn = await createConnection();
    const created = await scim(conn, "POST", "/Users", {
      schemas: [USER],
      userName: "logged@example.com",
      externalId: "okta-00u9",
      password: "Sup3r-Secret!",
      emails: [{ value: "logged@example.com", primary: true }],
    });
    const id = ((await created.json()) as { id: string }).id;
    await scim(conn, "POST", "/Users", { schemas: [USER], userName: "LOGGED@example.com" }); // 409
    let rows: LogEntry[] = [];
    await vi.waitFor(async () => {
      rows = await logs(`?idp_id=${conn.id}&direction=asc`);
      expect(rows).toHaveLength(2);
    });
    expect(rows[0]).toMatchObject({
      idp_id: conn.id,
      request_method: "POST",
      resource_type: "USER",
      resource_user_email: "logged@example.com",
      cf_resource_id: id,
      idp_resource_id: "okta-00u9",
      status: "SUCCESS",
      error_description: null,
    });
    expect(rows[0]!.request_body).toContain("[REDACTED]");
    expect(rows[0]!.request_body).not.toContain("Sup3r-Secret");
    expect(rows[1]).toMatchObject({ status: "FAILURE", http_status: 409, error_description: expect.stringContaining("userName") });

    const failures = await logs(`?idp_id=${conn.id}&status[]=FAILURE`);
    expect(failures).toHaveLength(1);
    const posts = await logs(`?idp_id=${conn.id}&request_method[]=GET`);
    expect(posts).toHaveLength(0);
    const limited = await logs(`?idp_id=${conn.id}&limit=1`);
    expect(limited).toHaveLength(1);
    expect(limited[0]!.http_status).toBe(409); // newest first by default
    const future = await logs(`?idp_id=${conn.id}&since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
    expect(future).toHaveLength(0);
  });

  it("logs failed authentication against a known connection, but never the token", async () => {
    const conn = await createConnection();
    await scim({ ...conn, secret: "wrong-token-value" }, "GET", "/Users");
    await vi.waitFor(async () => expect(await logs(`?idp_id=${conn.id}`)).toHaveLength(1));
    const [row] = await logs(`?idp_id=${conn.id}`);
    expect(row).toMatchObject({ status: "FAILURE", http_status: 401 });
    expect(JSON.stringify(row)).not.toContain("wrong-token-value");
  });

  it("rejects invalid filters with 400", async () => {
    const res = await admin("GET", "/api/v1/access/logs/scim/updates?status[]=MAYBE");
    expect(res.status).toBe(400);
    const lim = await admin("GET", "/api/v1/access/logs/scim/updates?limit=0");
    expect(lim.status).toBe(400);
  });

  it("the daily cron prunes rows older than the retention period", async () => {
    const old = new Date(Date.now() - 40 * 86_400_000).toISOString();
    await env.DB.prepare(
      "INSERT INTO provisioning_log (id, logged_at, idp_id, request_method, resource_type, status, http_status) VALUES ('old', ?, 'x', 'GET', 'USER', 'SUCCESS', 200), ('new', ?, 'x', 'GET', 'USER', 'SUCCESS', 200)",
    )
      .bind(old, new Date().toISOString())
      .run();
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController(), env, ctx);
    await waitOnExecutionContext(ctx);
    const ids = (await env.DB.prepare("SELECT id FROM provisioning_log WHERE idp_id = 'x'").all<{ id: string }>()).results.map((r) => r.id);
    expect(ids).toEqual(["new"]);
    void exports;
  });
});
