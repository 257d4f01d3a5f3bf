import { describe, expect, it } from "vitest";
import {
  RESOURCE_TYPE_SCHEMA,
  SCHEMA_SCHEMA,
  SERVICE_PROVIDER_CONFIG_SCHEMA,
  type SchemaAttribute,
  resourceType,
  resourceTypesList,
  schema,
  schemasList,
  serviceProviderConfig,
} from "../../src/scim/discovery";
import { listResponse } from "../../src/scim/list-response";
import { ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, LIST_RESPONSE_SCHEMA, USER_SCHEMA } from "../../src/scim/registry";

const BASE = "https://edge.test/populations/idp-1/scim/v2";
const limits = { maxResults: 200, maxPayloadSize: 1_048_576 };

const attrNamed = (attrs: SchemaAttribute[], name: string) => attrs.find((a) => a.name === name);

describe("listResponse (RFC 7644 §3.4.2)", () => {
  it.each<[string, Parameters<typeof listResponse<number>>, object]>([
    ["a page", [[1, 2], 10, 3, 2], { totalResults: 10, startIndex: 3, itemsPerPage: 2, Resources: [1, 2] }],
    ["defaults: startIndex 1, itemsPerPage = page size", [[1, 2, 3], 3], { totalResults: 3, startIndex: 1, itemsPerPage: 3, Resources: [1, 2, 3] }],
    ["count=0: totalResults only, Resources still an array", [[], 42, 1, 0], { totalResults: 42, startIndex: 1, itemsPerPage: 0, Resources: [] }],
  ])("%s", (_name, args, expected) => {
    const out = listResponse(...args);
    expect(out).toEqual({ schemas: [LIST_RESPONSE_SCHEMA], ...expected });
    expect(Object.keys(out)).toEqual(["schemas", "totalResults", "startIndex", "itemsPerPage", "Resources"]);
  });
});

describe("serviceProviderConfig (RFC 7643 §5)", () => {
  const spc = serviceProviderConfig(BASE, limits);

  it.each<[string, unknown]>([
    ["schemas", [SERVICE_PROVIDER_CONFIG_SCHEMA]],
    ["patch", { supported: true }],
    ["bulk", { supported: false, maxOperations: 0, maxPayloadSize: 1_048_576 }],
    ["filter", { supported: true, maxResults: 200 }],
    ["changePassword", { supported: false }],
    ["sort", { supported: true }],
    ["etag", { supported: true }],
    // RFC 9865 §4: both methods, index the default (§2.4), maxResults as default and maximum page size.
    ["pagination", { cursor: true, index: true, defaultPaginationMethod: "index", defaultPageSize: 200, maxPageSize: 200, cursorTimeout: 3600 }],
    ["meta", { resourceType: "ServiceProviderConfig", location: `${BASE}/ServiceProviderConfig` }],
  ])("%s", (key, expected) => {
    expect(spc).toHaveProperty(key, expected);
  });

  it("advertises one primary bearer-token scheme with its spec", () => {
    expect(spc.authenticationSchemes).toEqual([
      expect.objectContaining({ type: "oauthbearertoken", primary: true, specUri: "https://www.rfc-editor.org/info/rfc6750" }),
    ]);
    expect(spc.authenticationSchemes[0]?.name).toBeTruthy();
    expect(spc.authenticationSchemes[0]?.description).toBeTruthy();
    expect(spc).not.toHaveProperty("documentationUri");
  });

  it("adds documentationUri when configured, and tolerates a trailing slash on the base URL", () => {
    const withDoc = serviceProviderConfig(`${BASE}/`, { ...limits, documentationUri: "https://docs.test/scim" });
    expect(withDoc.documentationUri).toBe("https://docs.test/scim");
    expect(withDoc.authenticationSchemes[0]?.documentationUri).toBe("https://docs.test/scim");
    expect(withDoc.meta.location).toBe(`${BASE}/ServiceProviderConfig`);
  });
});

describe("ResourceTypes (RFC 7643 §6)", () => {
  const user = {
    schemas: [RESOURCE_TYPE_SCHEMA],
    id: "User",
    name: "User",
    endpoint: "/Users",
    description: "User Account",
    schema: USER_SCHEMA,
    schemaExtensions: [{ schema: ENTERPRISE_USER_SCHEMA, required: false }],
    meta: { resourceType: "ResourceType", location: `${BASE}/ResourceTypes/User` },
  };
  const group = {
    schemas: [RESOURCE_TYPE_SCHEMA],
    id: "Group",
    name: "Group",
    endpoint: "/Groups",
    description: "Group",
    schema: GROUP_SCHEMA,
    schemaExtensions: [],
    meta: { resourceType: "ResourceType", location: `${BASE}/ResourceTypes/Group` },
  };

  it("lists both as a ListResponse", () => {
    expect(resourceTypesList(BASE)).toEqual({
      schemas: [LIST_RESPONSE_SCHEMA],
      totalResults: 2,
      startIndex: 1,
      itemsPerPage: 2,
      Resources: [user, group],
    });
  });

  it.each<[string, object | undefined]>([
    ["User", user],
    ["Group", group],
    ["user", user],
    ["Device", undefined],
    ["", undefined],
  ])("/ResourceTypes/%s", (id, expected) => {
    expect(resourceType(BASE, id)).toEqual(expected);
  });
});

describe("Schemas (RFC 7643 §7)", () => {
  const list = schemasList(BASE);

  it("lists User, EnterpriseUser and Group as a ListResponse", () => {
    expect(list.schemas).toEqual([LIST_RESPONSE_SCHEMA]);
    expect(list.Resources.map((s) => s.id)).toEqual([USER_SCHEMA, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA]);
    expect(list).toMatchObject({ totalResults: 3, startIndex: 1, itemsPerPage: 3 });
  });

  it.each<[string, string, string]>([
    [USER_SCHEMA, "User", USER_SCHEMA],
    [ENTERPRISE_USER_SCHEMA, "EnterpriseUser", ENTERPRISE_USER_SCHEMA],
    [GROUP_SCHEMA, "Group", GROUP_SCHEMA],
    [USER_SCHEMA.toUpperCase(), "User", USER_SCHEMA],
  ])("/Schemas/%s", (urn, name, id) => {
    const s = schema(BASE, urn);
    expect(s).toMatchObject({ schemas: [SCHEMA_SCHEMA], id, name, meta: { resourceType: "Schema", location: `${BASE}/Schemas/${id}` } });
  });

  it("unknown schema → undefined (404)", () => {
    expect(schema(BASE, "urn:ietf:params:scim:schemas:core:2.0:Device")).toBeUndefined();
  });

  // RFC 7643 §3.1: common attributes are part of every base resource schema; extensions do not repeat them.
  it.each<[string, boolean]>([
    [USER_SCHEMA, true],
    [GROUP_SCHEMA, true],
    [ENTERPRISE_USER_SCHEMA, false],
  ])("%s lists id/externalId/meta: %s", (urn, listed) => {
    const names = schema(BASE, urn)!.attributes.map((a) => a.name);
    for (const common of ["id", "externalId", "meta"]) expect(names.includes(common)).toBe(listed);
  });

  it.each<[string, string, string, Partial<SchemaAttribute>]>([
    ["id is readOnly, returned always, unique", USER_SCHEMA, "id", { type: "string", mutability: "readOnly", returned: "always", uniqueness: "server", caseExact: true }],
    ["userName is required and unique", USER_SCHEMA, "userName", { type: "string", required: true, uniqueness: "server", caseExact: false, multiValued: false }],
    ["password is writeOnly, returned never", USER_SCHEMA, "password", { mutability: "writeOnly", returned: "never" }],
    ["emails is multi-valued complex", USER_SCHEMA, "emails", { type: "complex", multiValued: true }],
    ["groups is readOnly", USER_SCHEMA, "groups", { type: "complex", multiValued: true, mutability: "readOnly" }],
    ["profileUrl is a reference", USER_SCHEMA, "profileUrl", { type: "reference", referenceTypes: ["external"] }],
    ["members is multi-valued complex", GROUP_SCHEMA, "members", { type: "complex", multiValued: true }],
    ["manager is complex", ENTERPRISE_USER_SCHEMA, "manager", { type: "complex", multiValued: false }],
  ])("%s", (_name, urn, attr, expected) => {
    expect(attrNamed(schema(BASE, urn)!.attributes, attr)).toMatchObject(expected);
  });

  it.each<[string, string, string, string, Partial<SchemaAttribute>]>([
    ["name.givenName", USER_SCHEMA, "name", "givenName", { type: "string", multiValued: false }],
    ["emails.type canonical values", USER_SCHEMA, "emails", "type", { canonicalValues: ["work", "home", "other"] }],
    ["members.$ref reference types", GROUP_SCHEMA, "members", "$ref", { type: "reference", referenceTypes: ["User", "Group"] }],
    ["members.value immutable", GROUP_SCHEMA, "members", "value", { mutability: "immutable", caseExact: true }],
    ["manager.value", ENTERPRISE_USER_SCHEMA, "manager", "value", { type: "string" }],
  ])("sub-attribute %s", (_name, urn, attr, sub, expected) => {
    const parent = attrNamed(schema(BASE, urn)!.attributes, attr);
    expect(attrNamed(parent?.subAttributes ?? [], sub)).toMatchObject(expected);
  });

  it("every attribute carries the RFC 7643 §7 characteristics; only complex ones have subAttributes", () => {
    const walk = (attrs: SchemaAttribute[]) => {
      for (const a of attrs) {
        for (const key of ["name", "type", "multiValued", "description", "required", "caseExact", "mutability", "returned", "uniqueness"]) {
          expect(a, `${a.name}.${key}`).toHaveProperty(key);
        }
        expect(a.subAttributes !== undefined, a.name).toBe(a.type === "complex");
        if (a.type === "reference") expect(a.referenceTypes?.length, a.name).toBeGreaterThan(0);
        walk(a.subAttributes ?? []);
      }
    };
    for (const s of list.Resources) walk(s.attributes);
  });

  it("is plain JSON (survives a round-trip unchanged)", () => {
    expect(JSON.parse(JSON.stringify(list))).toEqual(list);
  });
});
