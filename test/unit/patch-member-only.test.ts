import { describe, expect, it } from "vitest";
import { applyPatch, memberOnlyOps, type MemberOp } from "../../src/scim/patch";
import { GROUP_SCHEMA, PATCH_OP_SCHEMA } from "../../src/scim/registry";

const body = (...Operations: unknown[]) => ({ schemas: [PATCH_OP_SCHEMA], Operations });
const GROUP = { schemas: [GROUP_SCHEMA], id: "g-1", displayName: "Eng" };

describe("memberOnlyOps: a Group PATCH whose every operation targets members", () => {
  const qualifying: [string, unknown, MemberOp[]][] = [
    ["RFC add with path members", body({ op: "add", path: "members", value: [{ value: "u1" }] }), [{ op: "add", members: [{ value: "u1" }] }]],
    ["Entra capitalised Add", body({ op: "Add", path: "members", value: [{ value: "u1" }] }), [{ op: "add", members: [{ value: "u1" }] }]],
    ["Entra Remove with a value array", body({ op: "Remove", path: "members", value: [{ value: "u1" }, { value: "u2" }] }), [{ op: "remove", ids: ["u1", "u2"] }]],
    ["Okta remove with a value filter", body({ op: "remove", path: 'members[value eq "u1"]' }), [{ op: "remove", ids: ["u1"] }]],
    ["filter joined with or", body({ op: "remove", path: 'members[value eq "u1" or value eq "u2"]' }), [{ op: "remove", ids: ["u1", "u2"] }]],
    ["add with display", body({ op: "add", path: "members", value: [{ value: "u1", display: "Ann" }] }), [{ op: "add", members: [{ value: "u1", display: "Ann" }] }]],
    ["a single member object", body({ op: "add", path: "members", value: { value: "u1" } }), [{ op: "add", members: [{ value: "u1" }] }]],
    ["path-less add of members", body({ op: "add", value: { members: [{ value: "u1" }] } }), [{ op: "add", members: [{ value: "u1" }] }]],
    ["URN-qualified path", body({ op: "add", path: `${GROUP_SCHEMA}:members`, value: [{ value: "u1" }] }), [{ op: "add", members: [{ value: "u1" }] }]],
    ["case-insensitive path", body({ op: "add", path: "Members", value: [{ value: "u1" }] }), [{ op: "add", members: [{ value: "u1" }] }]],
    [
      "several member ops, in order",
      body({ op: "add", path: "members", value: [{ value: "u1" }] }, { op: "remove", path: 'members[value eq "u2"]' }),
      [{ op: "add", members: [{ value: "u1" }] }, { op: "remove", ids: ["u2"] }],
    ],
    ["replace of the member list", body({ op: "replace", path: "members", value: [{ value: "u1" }] }), [{ op: "replace", members: [{ value: "u1" }] }]],
    ["remove without a value (all members)", body({ op: "remove", path: "members" }), [{ op: "removeAll" }]],
    ["a no-op beside a real op", body({ op: "add", path: "members", value: [] }, { op: "add", path: "members", value: [{ value: "u1" }] }), [{ op: "add", members: [{ value: "u1" }] }]],
  ];

  it.each(qualifying)("%s", (_name, patch, expected) => {
    expect(memberOnlyOps(patch)).toEqual(expected);
    // The same member ops the full engine derives from a resource.
    const full = applyPatch("Group", GROUP, patch);
    expect(full.ok && full.value.memberOps).toEqual(expected);
  });

  const notQualifying: [string, unknown][] = [
    ["a rename", body({ op: "replace", path: "displayName", value: "New" })],
    ["a rename beside a member add", body({ op: "add", path: "members", value: [{ value: "u1" }] }, { op: "replace", path: "displayName", value: "New" })],
    ["Okta path-less replace with id and members", body({ op: "replace", value: { id: "g-1", members: [{ value: "u1" }] } })],
    ["externalId", body({ op: "replace", path: "externalId", value: "x" })],
    ["an unknown extension attribute", body({ op: "add", path: "urn:acme:params:scim:schemas:extension:acme:1.0:Group:code", value: "x" })],
    ["a member sub-attribute (an error)", body({ op: "replace", path: 'members[value eq "u1"].display', value: "x" })],
    ["add with a filter (an error)", body({ op: "add", path: 'members[value eq "u1"]', value: [{ value: "u1" }] })],
    ["a member without a value (an error)", body({ op: "add", path: "members", value: [{ display: "x" }] })],
    ["nothing to do", body({ op: "add", path: "members", value: [] })],
    ["no PatchOp schema", { Operations: [{ op: "add", path: "members", value: [{ value: "u1" }] }] }],
    ["no operations", body()],
    ["not an object", "members"],
    ["an unknown op", body({ op: "move", path: "members", value: [{ value: "u1" }] })],
  ];

  it.each(notQualifying)("%s → undefined", (_name, patch) => {
    expect(memberOnlyOps(patch)).toBeUndefined();
  });
});
