import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { createConnection, scim, type TestConnection } from "../helpers";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

let conn: TestConnection;
let ada: string;
let bob: string;

beforeEach(async () => {
  conn = await createConnection();
  ada = ((await (await scim(conn, "POST", "/Users", { schemas: [USER], userName: "ada@example.com", displayName: "Ada Lovelace" })).json()) as { id: string }).id;
  bob = ((await (await scim(conn, "POST", "/Users", { schemas: [USER], userName: "bob@example.com" })).json()) as { id: string }).id;
});

async function members(groupId: string): Promise<{ value: string; display?: string }[]> {
  const g = (await (await scim(conn, "GET", `/Groups/${groupId}`)).json()) as { members: { value: string; display?: string }[] };
  return g.members.map(({ value, display }) => ({ value, ...(display !== undefined ? { display } : {}) }));
}

const sorted = (xs: { value: string; display?: string }[]) => [...xs].sort((a, b) => a.value.localeCompare(b.value));

// RFC 7643 §2.4: `display` of a multi-valued attribute is set by the client and kept as sent
// (Microsoft's SCIM validator posts members with `display` and reads it back). Without one, the
// user's displayName (else userName) is shown.
describe("member display is the client's", () => {
  it("POST keeps a sent display and falls back to the user's name", async () => {
    const res = await scim(conn, "POST", "/Groups", { schemas: [GROUP], displayName: "g", members: [{ value: ada, display: "Ada (Finance)" }, { value: bob }] });
    expect(res.status).toBe(201);
    const created = (await res.json()) as { id: string; members: { value: string; display?: string }[] };
    const expected = sorted([{ value: ada, display: "Ada (Finance)" }, { value: bob, display: "bob@example.com" }]);
    expect(sorted(created.members.map(({ value, display }) => ({ value, display: display! })))).toEqual(expected);
    expect(sorted(await members(created.id))).toEqual(expected);
    const stored = await env.DB.prepare("SELECT user_id, display FROM group_members WHERE group_id = ?").bind(created.id).all<{ user_id: string; display: string | null }>();
    expect(Object.fromEntries(stored.results.map((r) => [r.user_id, r.display]))).toEqual({ [ada]: "Ada (Finance)", [bob]: null });
  });

  it("PATCH add stores the display; once stored it is kept (immutable), a member without one takes the first sent", async () => {
    const g = ((await (await scim(conn, "POST", "/Groups", { schemas: [GROUP], displayName: "g" })).json()) as { id: string }).id;
    const add = (display?: string) =>
      scim(conn, "PATCH", `/Groups/${g}`, { schemas: [PATCH_OP], Operations: [{ op: "add", path: "members", value: [{ value: ada, ...(display ? { display } : {}) }] }] });
    expect((await add("Ada L.")).status).toBe(204);
    expect(await members(g)).toEqual([{ value: ada, display: "Ada L." }]);
    expect((await add()).status).toBe(204); // no display sent: the stored one stays
    expect(await members(g)).toEqual([{ value: ada, display: "Ada L." }]);
    expect((await add("Countess")).status).toBe(204);
    expect(await members(g)).toEqual([{ value: ada, display: "Ada L." }]);
  });

  it("PUT stores displays of new members and of kept members that had none", async () => {
    const g = ((await (await scim(conn, "POST", "/Groups", { schemas: [GROUP], displayName: "g", members: [{ value: ada }] })).json()) as { id: string }).id;
    const res = await scim(conn, "PUT", `/Groups/${g}`, { schemas: [GROUP], displayName: "g", members: [{ value: ada, display: "A" }, { value: bob, display: "B" }] });
    expect(res.status).toBe(200);
    expect(sorted(await members(g))).toEqual(sorted([{ value: ada, display: "A" }, { value: bob, display: "B" }]));
  });

  it("a member without a sent display shows the user's current name", async () => {
    const g = ((await (await scim(conn, "POST", "/Groups", { schemas: [GROUP], displayName: "g", members: [{ value: ada }] })).json()) as { id: string }).id;
    expect(await members(g)).toEqual([{ value: ada, display: "Ada Lovelace" }]);
  });
});
