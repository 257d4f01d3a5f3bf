import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { admin, createConnection } from "../helpers";

describe("POST /__dev/bench/seed {groups}: many groups at once (bench/admin)", () => {
  it("creates count groups named '<name> NNNNNN' with size members each from the first pool users, listed and searchable like SCIM groups", async () => {
    const conn = await createConnection();
    const seed = (body: unknown) => admin("POST", "/__dev/bench/seed", { idp_id: conn.id, prefix: `s${conn.id.slice(0, 8)}`, ...(body as object) });
    expect((await seed({ users: { from: 1, count: 30 } })).status).toBe(200);
    expect((await seed({ groups: { count: 25, size: 4, pool: 30, name: "Team" } })).status).toBe(200);

    const counts = await env.DB.prepare(
      "SELECT (SELECT count(*) FROM groups WHERE idp_id = ?1) AS groups, (SELECT count(*) FROM group_members m JOIN groups g ON g.id = m.group_id WHERE g.idp_id = ?1) AS members, (SELECT count(*) FROM group_members m JOIN groups g ON g.id = m.group_id JOIN users u ON u.id = m.user_id WHERE g.idp_id = ?1 AND u.idp_id = ?1) AS joined",
    )
      .bind(conn.id)
      .first<{ groups: number; members: number; joined: number }>();
    expect(counts).toEqual({ groups: 25, members: 100, joined: 100 });

    const res = await admin("GET", `/api/v1/access/identity_providers/${conn.id}/scim/groups?name=${encodeURIComponent("team 000007")}`);
    const body = (await res.json()) as { result: { display_name: string; idp_resource_id: string }[] };
    expect(body.result).toEqual([expect.objectContaining({ display_name: "Team 000007", idp_resource_id: `${conn.id}-gext-000007` })]);
  });
});
