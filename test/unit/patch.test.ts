import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { applyPatch, type MemberOp, type ScimObject } from "../../src/scim/patch";
import { normalizeResource } from "../../src/scim/resource";
import { ENTERPRISE_USER_SCHEMA as ENT, GROUP_SCHEMA, PATCH_OP_SCHEMA, USER_SCHEMA } from "../../src/scim/registry";

const ACME = "urn:acme:params:scim:schemas:extension:acme:1.0:User";

const USER: ScimObject = {
  schemas: [USER_SCHEMA, ENT],
  id: "2819c223-7f76-453a-919d-413861904646",
  externalId: "ext-1",
  userName: "ann@example.com",
  name: { givenName: "Ann", familyName: "Lee" },
  displayName: "Ann Lee",
  active: true,
  emails: [
    { value: "ann@example.com", type: "work", primary: true },
    { value: "ann@home.example", type: "home" },
  ],
  [ENT]: { department: "Eng", manager: { value: "m-1" } },
};

const GROUP: ScimObject = { schemas: [GROUP_SCHEMA], id: "abf4dd94-a4c0-4f67-89c9-76b03340cb9b", displayName: "Eng" };

const body = (...Operations: unknown[]) => ({ schemas: [PATCH_OP_SCHEMA], Operations });

/** Returns a modified deep copy of `base`. */
function edit(base: ScimObject, fn: (r: any) => void): ScimObject {
  const copy = structuredClone(base);
  fn(copy);
  return copy;
}

function deepFreeze<T>(v: T): T {
  if (typeof v === "object" && v !== null) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

function run(rt: "User" | "Group", resource: ScimObject, b: unknown) {
  return applyPatch(rt, deepFreeze(structuredClone(resource)), b);
}

describe("applyPatch: user attributes (every op × path kind)", () => {
  it.each<{ title: string; ops: unknown[]; want: (u: any) => void }>([
    // attr
    { title: "replace attr", ops: [{ op: "replace", path: "displayName", value: "Ann B" }], want: (u) => (u.displayName = "Ann B") },
    { title: "add attr (absent)", ops: [{ op: "add", path: "title", value: "CTO" }], want: (u) => (u.title = "CTO") },
    { title: "add attr (present) replaces", ops: [{ op: "add", path: "displayName", value: "X" }], want: (u) => (u.displayName = "X") },
    { title: "remove attr", ops: [{ op: "remove", path: "displayName" }], want: (u) => delete u.displayName },
    { title: "remove missing attr is a no-op", ops: [{ op: "remove", path: "nickName" }], want: () => {} },
    { title: "attr names are case-insensitive", ops: [{ op: "replace", path: "DISPLAYNAME", value: "Y" }], want: (u) => (u.displayName = "Y") },
    { title: "replace with null unassigns", ops: [{ op: "replace", path: "displayName", value: null }], want: (u) => delete u.displayName },
    // attr.sub
    { title: "replace attr.sub", ops: [{ op: "replace", path: "name.givenName", value: "Anna" }], want: (u) => (u.name.givenName = "Anna") },
    { title: "add attr.sub", ops: [{ op: "add", path: "name.middleName", value: "M" }], want: (u) => (u.name.middleName = "M") },
    { title: "remove attr.sub", ops: [{ op: "remove", path: "name.familyName" }], want: (u) => delete u.name.familyName },
    {
      title: "replace complex merges sub-attributes (RFC 7644 §3.5.2.3)",
      ops: [{ op: "replace", path: "name", value: { familyName: "Kim", formatted: "Ann Kim" } }],
      want: (u) => (u.name = { givenName: "Ann", familyName: "Kim", formatted: "Ann Kim" }),
    },
    {
      title: "multi.sub without filter sets every element",
      ops: [{ op: "replace", path: "emails.display", value: "d" }],
      want: (u) => u.emails.forEach((e: any) => (e.display = "d")),
    },
    // multi-valued
    {
      title: "add multi appends",
      ops: [{ op: "add", path: "emails", value: [{ value: "a@other.example", type: "other" }] }],
      want: (u) => u.emails.push({ value: "a@other.example", type: "other" }),
    },
    {
      title: "add multi dedupes identical values",
      ops: [{ op: "add", path: "emails", value: [{ value: "ann@home.example", type: "home" }] }],
      want: () => {},
    },
    {
      title: "add primary clears the other primary (RFC 7643 §2.4)",
      ops: [{ op: "add", path: "emails", value: [{ value: "new@example.com", type: "other", primary: true }] }],
      want: (u) => {
        u.emails[0].primary = false;
        u.emails.push({ value: "new@example.com", type: "other", primary: true });
      },
    },
    {
      title: "replace multi replaces all values",
      ops: [{ op: "replace", path: "emails", value: [{ value: "only@example.com" }] }],
      want: (u) => (u.emails = [{ value: "only@example.com" }]),
    },
    { title: "remove multi removes all values", ops: [{ op: "remove", path: "emails" }], want: (u) => delete u.emails },
    // attr[filter]
    {
      title: "remove attr[filter]",
      ops: [{ op: "remove", path: 'emails[type eq "home"]' }],
      want: (u) => u.emails.splice(1, 1),
    },
    {
      title: "replace attr[filter] replaces the matching value",
      ops: [{ op: "replace", path: 'emails[type eq "home"]', value: { value: "h2@home.example", type: "home" } }],
      want: (u) => (u.emails[1] = { value: "h2@home.example", type: "home" }),
    },
    {
      title: "add attr[filter] merges into the matching value",
      ops: [{ op: "add", path: 'emails[value eq "ann@home.example"]', value: { display: "Home" } }],
      want: (u) => (u.emails[1].display = "Home"),
    },
    // attr[filter].sub
    {
      title: "replace attr[filter].sub",
      ops: [{ op: "replace", path: 'emails[type eq "work"].value', value: "ann.lee@example.com" }],
      want: (u) => (u.emails[0].value = "ann.lee@example.com"),
    },
    {
      title: "remove attr[filter].sub",
      ops: [{ op: "remove", path: 'emails[type eq "work"].primary' }],
      want: (u) => delete u.emails[0].primary,
    },
    {
      title: "filter with and/or selects by value",
      ops: [{ op: "replace", path: 'emails[type eq "home" or value co "nowhere"].display', value: "H" }],
      want: (u) => (u.emails[1].display = "H"),
    },
    {
      title: "setting primary through a filter clears the other primary",
      ops: [{ op: "replace", path: 'emails[type eq "home"].primary', value: true }],
      want: (u) => {
        u.emails[0].primary = false;
        u.emails[1].primary = true;
      },
    },
    // URN-prefixed
    {
      title: "replace enterprise attribute by URN path",
      ops: [{ op: "replace", path: `${ENT}:department`, value: "Sales" }],
      want: (u) => (u[ENT].department = "Sales"),
    },
    {
      title: "replace enterprise manager.value by URN path",
      ops: [{ op: "replace", path: `${ENT}:manager.value`, value: "m-2" }],
      want: (u) => (u[ENT].manager.value = "m-2"),
    },
    {
      title: "remove the last enterprise attributes drops the extension and its schema",
      ops: [
        { op: "remove", path: `${ENT}:department` },
        { op: "remove", path: `${ENT}:manager` },
      ],
      want: (u) => {
        delete u[ENT];
        u.schemas = [USER_SCHEMA];
      },
    },
    {
      title: "core URN prefix is accepted",
      ops: [{ op: "replace", path: `${USER_SCHEMA}:userName`, value: "ann2@example.com" }],
      want: (u) => (u.userName = "ann2@example.com"),
    },
    {
      title: "unknown extension attribute is kept as-is and listed in schemas",
      ops: [{ op: "add", path: `${ACME}:costCode`, value: { any: ["shape", 1] } }],
      want: (u) => {
        u[ACME] = { costCode: { any: ["shape", 1] } };
        u.schemas = [USER_SCHEMA, ENT, ACME];
      },
    },
    {
      title: "whole unknown extension object (path-less)",
      ops: [{ op: "add", value: { [ACME]: { badge: "B-7" } } }],
      want: (u) => {
        u[ACME] = { badge: "B-7" };
        u.schemas = [USER_SCHEMA, ENT, ACME];
      },
    },
    // path-less
    {
      title: "path-less add merges attributes (RFC 7644 §3.5.2.1)",
      ops: [{ op: "add", value: { nickName: "A", name: { middleName: "Q" }, emails: [{ value: "x@example.com" }] } }],
      want: (u) => {
        u.nickName = "A";
        u.name.middleName = "Q";
        u.emails.push({ value: "x@example.com" });
      },
    },
    {
      title: "path-less replace with an extension object",
      ops: [{ op: "replace", value: { [ENT]: { department: "Ops", costCenter: "42" } } }],
      want: (u) => Object.assign(u[ENT], { department: "Ops", costCenter: "42" }),
    },
    {
      title: "setting an enterprise attribute adds the enterprise schema",
      ops: [{ op: "add", path: `${ENT}:employeeNumber`, value: "701984" }],
      want: (u) => (u[ENT].employeeNumber = "701984"),
    },
    { title: "writeOnly password is accepted and dropped", ops: [{ op: "replace", path: "password", value: "s3cret!" }], want: () => {} },
    { title: "id echoed with its current value is ignored", ops: [{ op: "replace", path: "id", value: USER.id }], want: () => {} },
    { title: "readOnly sub-attribute in a complex value is ignored", ops: [{ op: "replace", path: `${ENT}:manager`, value: { value: "m-1", displayName: "Boss" } }], want: () => {} },
  ])("$title", ({ ops, want }) => {
    const r = run("User", USER, body(...ops));
    expect(r.ok ? r.value.resource : r.error).toEqual(edit(USER, want));
  });

  it("adds the enterprise schema when the user had none", () => {
    const plain = { schemas: [USER_SCHEMA], id: "u", userName: "u@example.com" };
    const r = run("User", plain, body({ op: "add", path: `${ENT}:department`, value: "Eng" }));
    expect(r.ok && r.value.resource).toEqual({ ...plain, schemas: [USER_SCHEMA, ENT], [ENT]: { department: "Eng" } });
  });
});

describe("applyPatch: IdP dialects (literal request shapes)", () => {
  it.each<{ title: string; b: unknown; want: (u: any) => void }>([
    {
      title: "Entra: capitalised op and boolean as string (deactivation)",
      b: { schemas: [PATCH_OP_SCHEMA], Operations: [{ op: "Replace", path: "active", value: "False" }] },
      want: (u) => (u.active = false),
    },
    {
      title: "Entra: Add with \"True\"",
      b: { schemas: [PATCH_OP_SCHEMA], Operations: [{ op: "Add", path: "active", value: "True" }] },
      want: () => {},
    },
    {
      title: "Entra: update work email and family name",
      b: {
        schemas: [PATCH_OP_SCHEMA],
        Operations: [
          { op: "Replace", path: 'emails[type eq "work"].value', value: "updatedEmail@example.com" },
          { op: "Replace", path: "name.familyName", value: "updatedFamilyName" },
        ],
      },
      want: (u) => {
        u.emails[0].value = "updatedEmail@example.com";
        u.name.familyName = "updatedFamilyName";
      },
    },
    {
      title: "Entra: emails[type eq \"work\"].value creates the element when missing",
      b: body({ op: "Add", path: 'phoneNumbers[type eq "mobile"].value', value: "+1 555 0100" }),
      want: (u) => (u.phoneNumbers = [{ type: "mobile", value: "+1 555 0100" }]),
    },
    {
      title: "Entra: replace addresses[type eq \"work\"].streetAddress creates the address",
      b: body({ op: "Replace", path: 'addresses[type eq "work"].streetAddress', value: "1 Main St" }),
      want: (u) => (u.addresses = [{ type: "work", streetAddress: "1 Main St" }]),
    },
    {
      title: "Entra: path-less replace with dotted keys",
      b: body({
        op: "Replace",
        value: {
          displayName: "Ann K",
          "name.givenName": "Anna",
          "name.familyName": "Kim",
          [`${ENT}:employeeNumber`]: "701984",
          [`${ENT}:manager`]: "m-9",
        },
      }),
      want: (u) => {
        u.displayName = "Ann K";
        u.name = { givenName: "Anna", familyName: "Kim" };
        u[ENT].employeeNumber = "701984";
        u[ENT].manager = { value: "m-9" };
      },
    },
    {
      title: "Entra: manager as a plain string with a URN path",
      b: body({ op: "Add", path: `${ENT}:manager`, value: "2819c223-7f76-453a-919d-413861904646" }),
      want: (u) => (u[ENT].manager = { value: "2819c223-7f76-453a-919d-413861904646" }),
    },
    {
      title: "Entra: manager as {value}",
      b: body({ op: "Replace", path: `${ENT}:manager`, value: { value: "m-3" } }),
      want: (u) => (u[ENT].manager = { value: "m-3" }),
    },
    {
      title: "Entra: remove manager",
      b: body({ op: "Remove", path: `${ENT}:manager` }),
      want: (u) => delete u[ENT].manager,
    },
    {
      title: "Entra: manager cleared with an empty string",
      b: body({ op: "Replace", path: `${ENT}:manager`, value: "" }),
      want: (u) => delete u[ENT].manager,
    },
    {
      title: "Entra: remove with a value array on a multi-valued attribute",
      b: body({ op: "Remove", path: "emails", value: [{ value: "ANN@home.example" }] }),
      want: (u) => u.emails.splice(1, 1),
    },
    {
      title: "Entra: roles with primary as a string",
      b: body({ op: "Add", path: "roles", value: [{ primary: "True", type: "WindowsAzureActiveDirectoryRole", value: "Admin" }] }),
      want: (u) => (u.roles = [{ primary: true, type: "WindowsAzureActiveDirectoryRole", value: "Admin" }]),
    },
    {
      title: "URN-prefixed value filter path",
      b: body({ op: "Replace", path: `${USER_SCHEMA}:emails[type eq "work"].value`, value: "w@example.com" }),
      want: (u) => (u.emails[0].value = "w@example.com"),
    },
    {
      title: "Okta: path-less deactivation",
      b: { schemas: [PATCH_OP_SCHEMA], Operations: [{ op: "replace", value: { active: false } }] },
      want: (u) => (u.active = false),
    },
    {
      title: "Okta: password sync is accepted, never stored",
      b: body({ op: "replace", value: { password: "OktaP@ss1" } }),
      want: () => {},
    },
    {
      title: "Okta: replace with the full profile (schemas key ignored)",
      b: body({ op: "replace", value: { schemas: [USER_SCHEMA], id: USER.id, userName: "ann@example.com", active: true, title: "Dr" } }),
      want: (u) => (u.title = "Dr"),
    },
  ])("$title", ({ b, want }) => {
    const r = run("User", USER, b);
    expect(r.ok ? r.value.resource : r.error).toEqual(edit(USER, want));
  });

  it.each<{ title: string; b: unknown; want: (u: any) => void }>([
    // RFC 7643 §4.1.1 leaves active's meaning to us: an unassigned active must not read as "active" (fail closed).
    { title: "remove active deactivates", b: body({ op: "remove", path: "active" }), want: (u) => (u.active = false) },
    { title: "remove ACTIVE (any case) deactivates", b: body({ op: "Remove", path: "ACTIVE" }), want: (u) => (u.active = false) },
    { title: "replace active with null deactivates", b: body({ op: "replace", path: "active", value: null }), want: (u) => (u.active = false) },
    { title: "path-less active null deactivates", b: body({ op: "replace", value: { active: null } }), want: (u) => (u.active = false) },
  ])("$title", ({ b, want }) => {
    const r = run("User", USER, b);
    expect(r.ok ? r.value.resource : r.error).toEqual(edit(USER, want));
    // a user that was already inactive, or had no `active`, stays inactive: never reopened by a remove
    for (const base of [edit(USER, (u) => (u.active = false)), edit(USER, (u) => delete u.active)]) {
      const again = run("User", base, b);
      expect(again.ok && again.value.resource.active).toBe(false);
    }
  });

  it.each<{ title: string; b: unknown; want: (u: any) => void }>([
    // scim2-tester sends the enterprise extension as a whole, with the extension's own `schemas` member.
    {
      title: "replace of the whole enterprise extension carrying schemas",
      b: body({ op: "replace", path: ENT, value: { schemas: [ENT], department: "Ops", employeeNumber: "7" } }),
      want: (u) => Object.assign(u[ENT], { department: "Ops", employeeNumber: "7" }),
    },
    {
      title: "add of the whole enterprise extension carrying schemas (any case)",
      b: body({ op: "add", path: ENT.toUpperCase(), value: { SCHEMAS: [ENT], costCenter: "CC1" } }),
      want: (u) => (u[ENT].costCenter = "CC1"),
    },
    {
      title: "path-less value whose extension object carries schemas",
      b: body({ op: "replace", value: { [ENT]: { schemas: [ENT], division: "D" } } }),
      want: (u) => (u[ENT].division = "D"),
    },
  ])("$title", ({ b, want }) => {
    const r = run("User", USER, b);
    expect(r.ok ? r.value.resource : r.error).toEqual(edit(USER, want));
  });

  it("Okta: group rename echoing the current id", () => {
    const r = run("Group", GROUP, body({ op: "replace", value: { id: GROUP.id, displayName: "Test SCIMv2" } }));
    expect(r).toEqual({ ok: true, value: { resource: { ...GROUP, displayName: "Test SCIMv2" }, changed: true, memberOps: [] } });
  });
});

describe("applyPatch: group members become ordered set operations", () => {
  const A = "23a35c27-23d3-4c03-b4c5-6443c09e7173";
  const B = "89bb1940-b905-4575-9e7f-6f887cfb368e";
  it.each<{ title: string; ops: unknown[]; memberOps: MemberOp[]; resource?: ScimObject }>([
    { title: "Okta/Entra add", ops: [{ op: "add", path: "members", value: [{ value: A, display: "test.user@okta.local" }] }], memberOps: [{ op: "add", members: [{ value: A, display: "test.user@okta.local" }] }] },
    { title: "Entra capitalised Add", ops: [{ op: "Add", path: "members", value: [{ value: A }, { value: B }] }], memberOps: [{ op: "add", members: [{ value: A }, { value: B }] }] },
    { title: "add dedupes ids, keeping the first display", ops: [{ op: "add", path: "members", value: [{ value: A }, { value: A, display: "Ann" }, { value: A, display: "Other" }] }], memberOps: [{ op: "add", members: [{ value: A, display: "Ann" }] }] },
    { title: "add with an empty array is nothing", ops: [{ op: "add", path: "members", value: [] }], memberOps: [] },
    { title: "Okta remove by filter", ops: [{ op: "remove", path: `members[value eq "${B}"]` }], memberOps: [{ op: "remove", ids: [B] }] },
    {
      title: "remove by or-filter",
      ops: [{ op: "remove", path: `members[value eq "${A}" or value eq "${B}"]` }],
      memberOps: [{ op: "remove", ids: [A, B] }],
    },
    { title: "Entra remove with a value array", ops: [{ op: "Remove", path: "members", value: [{ value: A }] }], memberOps: [{ op: "remove", ids: [A] }] },
    { title: "remove without value removes all", ops: [{ op: "remove", path: "members" }], memberOps: [{ op: "removeAll" }] },
    { title: "replace", ops: [{ op: "replace", path: "members", value: [{ value: A }] }], memberOps: [{ op: "replace", members: [{ value: A }] }] },
    { title: "replace with [] removes all", ops: [{ op: "replace", path: "members", value: [] }], memberOps: [{ op: "removeAll" }] },
    {
      title: "path-less add with members, order kept",
      ops: [
        { op: "add", value: { members: [{ value: A }] } },
        { op: "remove", path: `members[value eq "${A}"]` },
        { op: "replace", value: { displayName: "Eng2", members: [{ value: B }] } },
      ],
      memberOps: [{ op: "add", members: [{ value: A }] }, { op: "remove", ids: [A] }, { op: "replace", members: [{ value: B }] }],
      resource: { ...GROUP, displayName: "Eng2" },
    },
  ])("$title", ({ ops, memberOps, resource }) => {
    const r = run("Group", GROUP, body(...ops));
    // `changed` covers attributes only: member set operations are applied without a version guard.
    expect(r).toEqual({ ok: true, value: { resource: resource ?? GROUP, changed: resource !== undefined, memberOps } });
  });

  it.each([
    ["a number", 42],
    ["an over-long string", "x".repeat(1025)],
  ])("a member display that is %s is invalidValue", (_name, display) => {
    const r = run("Group", GROUP, body({ op: "add", path: "members", value: [{ value: A, display }] }));
    expect(r).toMatchObject({ ok: false, error: { scimType: "invalidValue" } });
  });
});

describe("applyPatch: no-op detection", () => {
  it.each<{ title: string; rt: "User" | "Group"; ops: unknown[] }>([
    { title: "Okta re-sends the same values", rt: "User", ops: [{ op: "replace", value: { active: true, displayName: "Ann Lee", name: { givenName: "Ann" } } }] },
    { title: "add an existing email", rt: "User", ops: [{ op: "add", path: "emails", value: { value: "ann@example.com", type: "work", primary: true } }] },
    { title: "remove an absent attribute", rt: "User", ops: [{ op: "remove", path: "title" }] },
    { title: "set and reset", rt: "User", ops: [{ op: "replace", path: "title", value: "x" }, { op: "remove", path: "title" }] },
    { title: "group rename to the same name", rt: "Group", ops: [{ op: "Replace", path: "displayName", value: "Eng" }] },
  ])("$title", ({ rt, ops }) => {
    const r = run(rt, rt === "User" ? USER : GROUP, body(...ops));
    expect(r.ok && r.value.changed).toBe(false);
  });
});

describe("applyPatch: errors carry scimType and name the failing operation", () => {
  const ok1 = { op: "replace", path: "displayName", value: "fine" };
  it.each<{ title: string; rt?: "User" | "Group"; b: unknown; scimType: string; detail?: RegExp }>([
    { title: "not an object", b: "nope", scimType: "invalidSyntax" },
    { title: "missing PatchOp schema", b: { Operations: [ok1] }, scimType: "invalidSyntax", detail: /PatchOp/ },
    { title: "empty Operations", b: body(), scimType: "invalidSyntax", detail: /Operations/ },
    { title: "too many operations", b: body(...Array.from({ length: 1001 }, () => ok1)), scimType: "tooMany" },
    { title: "unknown op", b: body(ok1, { op: "move", path: "title", value: "x" }), scimType: "invalidSyntax", detail: /^Operations\[1\]: / },
    { title: "op not an object", b: body(ok1, ok1, 7), scimType: "invalidSyntax", detail: /^Operations\[2\]: / },
    { title: "remove without path", b: body(ok1, { op: "remove" }), scimType: "noTarget", detail: /^Operations\[1\]: / },
    { title: "add without value", b: body({ op: "add", path: "title" }), scimType: "invalidValue", detail: /^Operations\[0\]: / },
    { title: "unknown attribute", b: body(ok1, ok1, { op: "replace", path: "favouriteColour", value: "red" }), scimType: "invalidPath", detail: /^Operations\[2\]: .*favouriteColour/ },
    { title: "unknown enterprise attribute", b: body({ op: "add", path: `${ENT}:shoeSize`, value: "9" }), scimType: "invalidPath", detail: /^Operations\[0\]: / },
    { title: "unknown sub-attribute", b: body({ op: "add", path: "name.nickname", value: "9" }), scimType: "invalidPath" },
    { title: "malformed filter", b: body(ok1, { op: "replace", path: 'emails[type eq ].value', value: "x" }), scimType: "invalidFilter", detail: /^Operations\[1\]: / },
    { title: "readOnly id", b: body({ op: "replace", path: "id", value: "other" }), scimType: "mutability", detail: /^Operations\[0\]: .*id/ },
    { title: "readOnly meta", b: body({ op: "add", path: "meta.created", value: "2020-01-01T00:00:00Z" }), scimType: "mutability" },
    { title: "readOnly groups on users", b: body({ op: "add", path: "groups", value: [{ value: "g" }] }), scimType: "mutability" },
    { title: "readOnly manager.displayName", b: body({ op: "replace", path: `${ENT}:manager.displayName`, value: "Boss" }), scimType: "mutability" },
    { title: "path-less id change (Okta shape, other id)", b: body({ op: "replace", value: { id: "someone-else" } }), scimType: "mutability" },
    { title: "wrong type", b: body(ok1, { op: "replace", path: "active", value: "maybe" }), scimType: "invalidValue", detail: /^Operations\[1\]: .*active/ },
    { title: "complex as string", b: body({ op: "replace", path: "name", value: "Ann" }), scimType: "invalidValue", detail: /name/ },
    { title: "required userName removed", b: body({ op: "remove", path: "userName" }), scimType: "invalidValue", detail: /userName/ },
    { title: "userName set to empty", b: body({ op: "replace", path: "userName", value: "" }), scimType: "invalidValue" },
    { title: "replace filter without match", b: body({ op: "replace", path: 'emails[value eq "nobody@example.com"].display', value: "x" }), scimType: "noTarget" },
    { title: "replace filter (no sub) without match", b: body({ op: "replace", path: 'emails[type eq "other"]', value: { value: "o@example.com" } }), scimType: "noTarget" },
    { title: "remove filter without match", b: body(ok1, { op: "remove", path: 'emails[type eq "other"]' }), scimType: "noTarget", detail: /^Operations\[1\]: / },
    { title: "filter on a single-valued attribute", b: body({ op: "replace", path: 'name[givenName eq "Ann"].familyName', value: "x" }), scimType: "invalidPath" },
    { title: "path-less value not an object", b: body({ op: "replace", value: [1] }), scimType: "invalidValue" },
    { title: "Group: members filter other than value eq", rt: "Group", b: body({ op: "remove", path: 'members[display eq "x"]' }), scimType: "invalidPath" },
    { title: "Group: member sub-attribute", rt: "Group", b: body({ op: "replace", path: 'members[value eq "a"].display', value: "x" }), scimType: "invalidPath" },
    { title: "Group: member without value", rt: "Group", b: body({ op: "add", path: "members", value: [{ display: "x" }] }), scimType: "invalidValue", detail: /^Operations\[0\]: / },
    { title: "Group: displayName removed", rt: "Group", b: body({ op: "remove", path: "displayName" }), scimType: "invalidValue" },
    { title: "Group: enterprise user path", rt: "Group", b: body({ op: "add", path: `${ENT}:department`, value: "x" }), scimType: "invalidPath" },
  ])("$title → $scimType", ({ rt = "User", b, scimType, detail }) => {
    const r = run(rt, rt === "User" ? USER : GROUP, b);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.status).toBe(400);
    expect(r.error.scimType).toBe(scimType);
    if (detail) expect(r.error.message).toMatch(detail);
  });
});

describe("applyPatch: properties", () => {
  const paths = [
    "displayName", "active", "title", "name", "name.givenName", "emails", 'emails[type eq "work"].value', 'emails[type eq "home"]',
    "emails.primary", "phoneNumbers", "id", "meta", "groups", "userName", "password", `${ENT}:manager`, `${ENT}:department`,
    ENT, `${ACME}:x`, "members", 'members[value eq "a"]', "bogus", "emails[", "", "urn:", "a.b.c",
  ];
  const json = fc.jsonValue({ maxDepth: 3 });
  const opArb = fc.record(
    {
      op: fc.constantFrom("add", "replace", "remove", "Add", "Replace", "Remove", "move", 3),
      path: fc.oneof(fc.constantFrom(...paths), fc.string()),
      value: fc.oneof(json, fc.constantFrom("True", "False", [{ value: "a" }], { active: "false" }, { "name.givenName": "x" })),
    },
    { requiredKeys: ["op"] },
  );
  const bodyArb = fc.oneof(
    fc.array(opArb, { minLength: 1, maxLength: 6 }).map((ops) => body(...ops)),
    json,
    fc.record({ schemas: fc.constant([PATCH_OP_SCHEMA]), Operations: json }),
  );

  it("never throws, never mutates the (frozen) input, and its results normalise", () => {
    fc.assert(
      fc.property(fc.constantFrom<"User" | "Group">("User", "Group"), bodyArb, (rt, b) => {
        const input = rt === "User" ? USER : GROUP;
        const frozen = deepFreeze(structuredClone(input));
        const r = applyPatch(rt, frozen, b);
        expect(typeof r.ok).toBe("boolean");
        expect(frozen).toEqual(input);
        if (r.ok) {
          const n = normalizeResource(rt, r.value.resource, r.value.resource);
          expect(n.ok).toBe(true);
          if (!r.value.changed) expect(r.value.resource).toEqual(input);
        } else {
          expect(r.error.status).toBe(400);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
