import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { createConnection, dumpDirectory, scim, type TestConnection } from "../helpers";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

let conn: TestConnection;
let userId: string;
let groupId: string;
let memberId: string;

beforeAll(async () => {
  conn = await createConnection();
  const u = await scim(conn, "POST", "/Users", {
    schemas: [USER, ENTERPRISE],
    userName: "prop@example.com",
    emails: [{ value: "prop@example.com", type: "work", primary: true }],
    name: { givenName: "Prop", familyName: "Erty" },
    [ENTERPRISE]: { department: "QA" },
  });
  userId = ((await u.json()) as { id: string }).id;
  const m = await scim(conn, "POST", "/Users", { schemas: [USER], userName: "member@example.com" });
  memberId = ((await m.json()) as { id: string }).id;
  const g = await scim(conn, "POST", "/Groups", { schemas: [GROUP], displayName: "props", members: [{ value: memberId }] });
  groupId = ((await g.json()) as { id: string }).id;
});

const attrPaths = ["userName", "displayName", "name.givenName", "emails", "emails.value", "emails.type", "emails.primary", "active", "meta.lastModified", "meta.created", "id", "externalId", `${ENTERPRISE}:department`, `${ENTERPRISE}:manager.value`, "groups.value", "members.value", "title", "bogus", "password", "urn:x:y"];
const ops = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr", "EQ", "xx"];
const literals = fc.oneof(
  fc.string({ maxLength: 12 }).map((s) => JSON.stringify(s)),
  fc.integer().map(String),
  fc.constantFrom("true", "false", "null", '"2026-01-01T00:00:00Z"', '"%"', '"_"', '"\\""', "'x'", '"'),
);
const comparison = fc.tuple(fc.constantFrom(...attrPaths), fc.constantFrom(...ops), literals).map(([a, o, v]) => (o === "pr" ? `${a} pr` : `${a} ${o} ${v}`));
const filterText: fc.Arbitrary<string> = fc.letrec((tie) => ({
  f: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    comparison,
    fc.tuple(tie("f"), fc.constantFrom("and", "or", "AND", "nor"), tie("f")).map(([a, j, b]) => `${a} ${j} ${b}`),
    tie("f").map((f) => `not (${f})`),
    tie("f").map((f) => `(${f}`),
    fc.tuple(fc.constantFrom("emails", "members", "phoneNumbers"), comparison).map(([a, c]) => `${a}[${c}]`),
  ),
})).f as fc.Arbitrary<string>;

const patchPaths = ["active", "displayName", "name.givenName", "emails", 'emails[type eq "work"].value', 'emails[type eq "home"]', "members", `members[value eq "${"x"}"]`, "groups", "id", "meta", `${ENTERPRISE}:manager`, `${ENTERPRISE}:department`, "urn:acme:ext:2.0:User:badge", "nope", "emails[", "userName", ""];
const patchValue = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom("False", "True", true, false, null, [{ value: "x" }], { "name.givenName": "A" }, { active: false }));
const operation = fc.record(
  { op: fc.constantFrom("add", "replace", "remove", "Add", "Replace", "Remove", "move", 7), path: fc.constantFrom(...patchPaths), value: patchValue },
  { requiredKeys: ["op"] },
);
const patchBody = fc.oneof(
  fc.record({ schemas: fc.constant([PATCH_OP]), Operations: fc.array(operation, { maxLength: 4 }) }),
  fc.jsonValue({ maxDepth: 3 }),
);

describe("properties over the SCIM HTTP surface (in workerd, real D1)", () => {
  it("random filters never produce a 5xx; errors are 400 invalidFilter/invalidValue", async () => {
    await fc.assert(
      fc.asyncProperty(filterText, async (filter) => {
        const res = await scim(conn, "GET", `/Users?filter=${encodeURIComponent(filter)}`);
        expect(res.status, filter).toBeLessThan(500);
        if (res.status >= 400) expect(((await res.json()) as { scimType?: string }).scimType).toMatch(/^(invalidFilter|invalidValue)$/);
        else await res.arrayBuffer();
        const groups = await scim(conn, "GET", `/Groups?filter=${encodeURIComponent(filter)}`);
        expect(groups.status, filter).toBeLessThan(500);
        await groups.arrayBuffer();
      }),
      { numRuns: 150 },
    );
  });

  it("random PATCH bodies never produce a 5xx, and a rejected one leaves the database byte-for-byte unchanged", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom("Users", "Groups"), patchBody, async (type, body) => {
        const before = await dumpDirectory();
        const res = await scim(conn, "PATCH", `/${type}/${type === "Users" ? userId : groupId}`, body);
        expect(res.status, JSON.stringify(body)).toBeLessThan(500);
        await res.arrayBuffer();
        if (res.status >= 400) expect(await dumpDirectory()).toEqual(before);
      }),
      { numRuns: 150 },
    );
  });
});
