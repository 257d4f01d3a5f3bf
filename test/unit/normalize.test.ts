import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ENTERPRISE_USER_SCHEMA as ENT, GROUP_SCHEMA, USER_SCHEMA } from "../../src/scim/registry";
import { normalizeResource, type NormalizedResource } from "../../src/scim/resource";

const ACME = "urn:acme:params:scim:schemas:extension:acme:1.0:User";

describe("normalizeResource: accepted bodies", () => {
  it.each<{ title: string; rt?: "User" | "Group"; body: Record<string, unknown>; existing?: Record<string, unknown>; want: NormalizedResource }>([
    {
      title: "Entra POST /Users (meta and empty roles dropped, schemas follow the data)",
      body: {
        schemas: [USER_SCHEMA, ENT],
        externalId: "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        userName: "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
        active: true,
        emails: [{ primary: true, type: "work", value: "Test_User_fd0ea19b@testuser.com" }],
        meta: { resourceType: "User" },
        name: { formatted: "givenName familyName", familyName: "familyName", givenName: "givenName" },
        roles: [],
      },
      want: {
        resource: {
          schemas: [USER_SCHEMA],
          externalId: "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
          userName: "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
          active: true,
          emails: [{ primary: true, type: "work", value: "Test_User_fd0ea19b@testuser.com" }],
          name: { formatted: "givenName familyName", familyName: "familyName", givenName: "givenName" },
        },
      },
    },
    {
      title: "Okta POST /Users (password and groups dropped)",
      body: {
        schemas: [USER_SCHEMA],
        userName: "test.user@okta.local",
        name: { givenName: "Test", familyName: "User" },
        emails: [{ primary: true, value: "test.user@okta.local", type: "work" }],
        displayName: "Test User",
        locale: "en-US",
        externalId: "00ujl29u0le5T6Aj10h7",
        groups: [],
        password: "1mz050nq",
        active: true,
      },
      want: {
        resource: {
          schemas: [USER_SCHEMA],
          userName: "test.user@okta.local",
          name: { givenName: "Test", familyName: "User" },
          emails: [{ primary: true, value: "test.user@okta.local", type: "work" }],
          displayName: "Test User",
          locale: "en-US",
          externalId: "00ujl29u0le5T6Aj10h7",
          active: true,
        },
      },
    },
    {
      title: "names are case-insensitive and rewritten to canonical case",
      body: { SCHEMAS: [USER_SCHEMA.toUpperCase()], USERNAME: "a", Name: { GivenName: "A" }, EMAILS: [{ VALUE: "a@x", Primary: true }] },
      want: { resource: { schemas: [USER_SCHEMA], userName: "a", name: { givenName: "A" }, emails: [{ value: "a@x", primary: true }] } },
    },
    {
      title: "Entra booleans as strings",
      body: { schemas: [USER_SCHEMA], userName: "a", active: "False", emails: [{ value: "a@x", primary: "True" }] },
      want: { resource: { schemas: [USER_SCHEMA], userName: "a", active: false, emails: [{ value: "a@x", primary: true }] } },
    },
    {
      title: "unknown core and sub-attributes dropped, readOnly id/meta ignored, nulls unassigned",
      body: { schemas: [USER_SCHEMA], id: "client-id", userName: "a", favouriteColour: "red", name: { givenName: "A", nick: "x" }, title: null },
      want: { resource: { schemas: [USER_SCHEMA], userName: "a", name: { givenName: "A" } } },
    },
    {
      title: "enterprise extension validated; manager as a string (Entra); manager.displayName ignored",
      body: { schemas: [USER_SCHEMA, ENT], userName: "a", [ENT]: { department: "Eng", manager: "m-1", shoeSize: 9 } },
      want: { resource: { schemas: [USER_SCHEMA, ENT], userName: "a", [ENT]: { department: "Eng", manager: { value: "m-1" } } } },
    },
    {
      title: "enterprise extension URN in any case, manager object keeps value only",
      body: { schemas: [USER_SCHEMA], userName: "a", [ENT.toLowerCase()]: { manager: { value: "m", displayName: "Boss" } } },
      want: { resource: { schemas: [USER_SCHEMA, ENT], userName: "a", [ENT]: { manager: { value: "m" } } } },
    },
    {
      title: "flattened enterprise attribute at the top level",
      body: { schemas: [USER_SCHEMA], userName: "a", [`${ENT}:employeeNumber`]: "701984" },
      want: { resource: { schemas: [USER_SCHEMA, ENT], userName: "a", [ENT]: { employeeNumber: "701984" } } },
    },
    {
      title: "unknown extension kept as-is",
      body: { schemas: [USER_SCHEMA, ACME], userName: "a", [ACME]: { badge: { no: 7, tags: ["x"] } } },
      want: { resource: { schemas: [USER_SCHEMA, ACME], userName: "a", [ACME]: { badge: { no: 7, tags: ["x"] } } } },
    },
    {
      title: "single value for a multi-valued attribute is wrapped; duplicates dropped; one primary",
      body: {
        schemas: [USER_SCHEMA],
        userName: "a",
        emails: { value: "a@x" },
        phoneNumbers: [
          { value: "1", primary: true },
          { value: "1", primary: true },
          { value: "2", primary: true },
        ],
      },
      want: {
        resource: {
          schemas: [USER_SCHEMA],
          userName: "a",
          emails: [{ value: "a@x" }],
          phoneNumbers: [
            { value: "1", primary: true },
            { value: "2", primary: false },
          ],
        },
      },
    },
    {
      title: "PUT keeps the stored id, ignores the client's",
      body: { schemas: [USER_SCHEMA], id: "forged", userName: "a" },
      existing: { schemas: [USER_SCHEMA], id: "real-id", userName: "old" },
      want: { resource: { schemas: [USER_SCHEMA], id: "real-id", userName: "a" } },
    },
    {
      title: "Group POST: members come back as ids with the client's display (RFC 7643 §2.4), first one kept",
      rt: "Group",
      body: { schemas: [GROUP_SCHEMA], displayName: "Eng", externalId: "e", members: [{ value: "a", display: "A" }, { value: "b" }, { value: "a" }] },
      want: { resource: { schemas: [GROUP_SCHEMA], displayName: "Eng", externalId: "e" }, members: [{ value: "a", display: "A" }, { value: "b" }] },
    },
    {
      title: "Group without members: members undefined (caller keeps current ones)",
      rt: "Group",
      body: { schemas: [GROUP_SCHEMA], displayName: "Eng" },
      want: { resource: { schemas: [GROUP_SCHEMA], displayName: "Eng" } },
    },
    {
      title: "Group with members: [] (explicitly empty)",
      rt: "Group",
      body: { schemas: [GROUP_SCHEMA], displayName: "Eng", members: [] },
      want: { resource: { schemas: [GROUP_SCHEMA], displayName: "Eng" }, members: [] },
    },
  ])("$title", ({ rt = "User", body, existing, want }) => {
    const frozen = structuredClone(body);
    const r = normalizeResource(rt, Object.freeze(frozen), existing);
    expect(r.ok ? r.value : r.error).toEqual(want);
    expect(frozen).toEqual(body);
  });
});

describe("normalizeResource: rejected bodies", () => {
  const base = { schemas: [USER_SCHEMA], userName: "a" };
  it.each<{ title: string; rt?: "User" | "Group"; body: unknown; scimType: string; detail?: RegExp }>([
    { title: "not an object", body: [base], scimType: "invalidSyntax" },
    { title: "no schemas", body: { userName: "a" }, scimType: "invalidSyntax", detail: /schemas/ },
    { title: "schemas without the core schema", body: { schemas: [GROUP_SCHEMA], userName: "a" }, scimType: "invalidSyntax" },
    { title: "userName missing", body: { schemas: [USER_SCHEMA] }, scimType: "invalidValue", detail: /userName/ },
    { title: "userName empty", body: { ...base, userName: " " }, scimType: "invalidValue", detail: /userName/ },
    { title: "userName not a string", body: { ...base, userName: 42 }, scimType: "invalidValue", detail: /userName/ },
    { title: "active not a boolean", body: { ...base, active: "maybe" }, scimType: "invalidValue", detail: /active/ },
    { title: "emails of strings", body: { ...base, emails: ["a@x"] }, scimType: "invalidValue", detail: /emails/ },
    { title: "sub-attribute wrong type", body: { ...base, emails: [{ value: 1 }] }, scimType: "invalidValue", detail: /emails\.value/ },
    { title: "name as a string", body: { ...base, name: "Ann" }, scimType: "invalidValue", detail: /name/ },
    { title: "string too long", body: { ...base, title: "x".repeat(8193) }, scimType: "invalidValue", detail: /title/ },
    { title: "too many values", body: { ...base, emails: Array.from({ length: 1001 }, (_, i) => ({ value: `${i}@x` })) }, scimType: "invalidValue" },
    { title: "same attribute twice in different case", body: { ...base, UserName: "b" }, scimType: "invalidSyntax" },
    { title: "enterprise extension not an object", body: { ...base, [ENT]: "x" }, scimType: "invalidValue" },
    { title: "enterprise attribute wrong type", body: { ...base, [ENT]: { department: 3 } }, scimType: "invalidValue", detail: /department/ },
    { title: "password wrong type", body: { ...base, password: 123 }, scimType: "invalidValue", detail: /password/ },
    {
      title: "unknown extension nested too deep",
      body: { ...base, [ACME]: { deep: JSON.parse("[".repeat(40) + "]".repeat(40)) } },
      scimType: "invalidValue",
    },
    { title: "Group displayName missing", rt: "Group", body: { schemas: [GROUP_SCHEMA] }, scimType: "invalidValue", detail: /displayName/ },
    { title: "Group member without value", rt: "Group", body: { schemas: [GROUP_SCHEMA], displayName: "g", members: [{ display: "x" }] }, scimType: "invalidValue" },
  ])("$title → $scimType", ({ rt = "User", body, scimType, detail }) => {
    const r = normalizeResource(rt, body);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.scimType).toBe(scimType);
    if (detail) expect(r.error.message).toMatch(detail);
  });
});

describe("normalizeResource: properties", () => {
  it("never throws and is idempotent on its own output", () => {
    const anyBody = fc.oneof(
      fc.jsonValue({ maxDepth: 4 }),
      fc.dictionary(fc.constantFrom("userName", "USERNAME", "active", "emails", "name", "title", ENT, ACME, "members", "displayName", "id"), fc.jsonValue({ maxDepth: 3 })).map(
        (d) => ({ schemas: [USER_SCHEMA, GROUP_SCHEMA], userName: "u", displayName: "g", ...d }),
      ),
    );
    fc.assert(
      fc.property(fc.constantFrom<"User" | "Group">("User", "Group"), anyBody, (rt, body) => {
        const r = normalizeResource(rt, body);
        if (!r.ok) return;
        const again = normalizeResource(rt, r.value.resource);
        expect(again.ok && again.value.resource).toEqual(r.value.resource);
      }),
      { numRuns: 1000 },
    );
  });
});
