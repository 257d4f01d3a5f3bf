import { describe, expect, it } from "vitest";
import { type ProjectionParams, project, wantsAttribute } from "../../src/scim/projection";
import { ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA } from "../../src/scim/registry";

const ENT = ENTERPRISE_USER_SCHEMA;

const user = {
  schemas: [USER_SCHEMA, ENT],
  id: "2819c223-7f76-453a-919d-413861904646",
  externalId: "ext-1",
  userName: "bjensen@example.com",
  name: { formatted: "Ms. Barbara J Jensen III", familyName: "Jensen", givenName: "Barbara" },
  displayName: "Babs Jensen",
  active: true,
  password: "t1meMa$heen",
  emails: [
    { value: "bjensen@example.com", type: "work", primary: true },
    { value: "babs@jensen.org", type: "home" },
  ],
  groups: [{ value: "e9e30dba", display: "Tour Guides", $ref: "https://x/Groups/e9e30dba" }],
  customAttr: "kept for round-trips",
  [ENT]: { employeeNumber: "701984", department: "Tour Operations", manager: { value: "26118915", displayName: "John Smith" } },
  meta: { resourceType: "User", created: "2024-01-01T00:00:00Z", location: "https://x/Users/2819c223", version: 'W/"3"' },
};

const group = {
  schemas: [GROUP_SCHEMA],
  id: "e9e30dba",
  displayName: "Tour Guides",
  members: [
    { value: "2819c223", display: "Babs Jensen", type: "User" },
    { value: "902c246b", display: "Mandy Pepperidge", type: "User" },
  ],
  meta: { resourceType: "Group", location: "https://x/Groups/e9e30dba" },
};

const { password: _pw, ...userWithoutPassword } = user;

describe("project: User (RFC 7644 §3.4.2.5, RFC 7643 §2.4)", () => {
  it.each<[string, ProjectionParams, Record<string, unknown>]>([
    ["no params: everything but password", {}, userWithoutPassword],
    ["empty lists behave like no params", { attributes: [], excludedAttributes: [] }, userWithoutPassword],
    ["attributes=userName keeps id, schemas, userName only", { attributes: ["userName"] }, {
      schemas: user.schemas,
      id: user.id,
      userName: user.userName,
    }],
    ["case-insensitive names", { attributes: ["USERNAME", "DisplayName"] }, {
      schemas: user.schemas,
      id: user.id,
      userName: user.userName,
      displayName: user.displayName,
    }],
    ["attributes=name.givenName returns only that sub-attribute", { attributes: ["name.givenName"] }, {
      schemas: user.schemas,
      id: user.id,
      name: { givenName: "Barbara" },
    }],
    ["parent and child named: the whole parent", { attributes: ["name.givenName", "name"] }, {
      schemas: user.schemas,
      id: user.id,
      name: user.name,
    }],
    ["multi-valued sub-attribute: emails.value", { attributes: ["emails.value"] }, {
      schemas: user.schemas,
      id: user.id,
      emails: [{ value: "bjensen@example.com" }, { value: "babs@jensen.org" }],
    }],
    ["elements left empty are dropped: emails.primary", { attributes: ["emails.primary"] }, {
      schemas: user.schemas,
      id: user.id,
      emails: [{ primary: true }],
    }],
    ["URN-qualified extension attribute", { attributes: [`${ENT}:department`] }, {
      schemas: user.schemas,
      id: user.id,
      [ENT]: { department: "Tour Operations" },
    }],
    ["URN-qualified extension sub-attribute, any case", { attributes: [`${ENT.toUpperCase()}:MANAGER.value`] }, {
      schemas: user.schemas,
      id: user.id,
      [ENT]: { manager: { value: "26118915" } },
    }],
    ["whole extension by URN", { attributes: [ENT] }, { schemas: user.schemas, id: user.id, [ENT]: user[ENT] }],
    ["whole extension plus one of its sub-attributes: the union", { attributes: [ENT, `${ENT}:manager.value`] }, {
      schemas: user.schemas,
      id: user.id,
      [ENT]: user[ENT],
    }],
    ["URN-qualified core attribute", { attributes: [`${USER_SCHEMA}:userName`] }, {
      schemas: user.schemas,
      id: user.id,
      userName: user.userName,
    }],
    ["meta is returned: default, not always", { attributes: ["meta.version"] }, {
      schemas: user.schemas,
      id: user.id,
      meta: { version: 'W/"3"' },
    }],
    ["custom attribute unknown to the registry can be asked for", { attributes: ["customattr"] }, {
      schemas: user.schemas,
      id: user.id,
      customAttr: "kept for round-trips",
    }],
    ["unknown names are ignored", { attributes: ["nope", "name.nope", "urn:x:y:z", "nope[type eq \"work\"]", "emails[type eq ]", "a.b.c"] }, {
      schemas: user.schemas,
      id: user.id,
    }],
    // Value-filtered names (RFC 7644 §3.5.2 valuePath notation; Microsoft's SCIM test collection): matching elements only
    ['attributes=emails[type eq "work"]', { attributes: ['emails[type eq "work"]'] }, {
      schemas: user.schemas,
      id: user.id,
      emails: [{ value: "bjensen@example.com", type: "work", primary: true }],
    }],
    ['attributes=emails[value eq "BABS@jensen.org"] (case per registry)', { attributes: ['emails[value eq "BABS@jensen.org"]'] }, {
      schemas: user.schemas,
      id: user.id,
      emails: [{ value: "babs@jensen.org", type: "home" }],
    }],
    ['attributes=EMAILS[TYPE eq "work"].VALUE: only that sub-attribute', { attributes: ['EMAILS[TYPE eq "work"].VALUE'] }, {
      schemas: user.schemas,
      id: user.id,
      emails: [{ value: "bjensen@example.com" }],
    }],
    ["two filters: the union of elements and sub-attributes", { attributes: ['emails[type eq "work"].value', 'emails[type eq "home"].type', "userName"] }, {
      schemas: user.schemas,
      id: user.id,
      userName: user.userName,
      emails: [{ value: "bjensen@example.com" }, { type: "home" }],
    }],
    ["a plain sub-attribute for every element plus more of the matching ones", { attributes: ["emails.type", 'emails[primary eq true]'] }, {
      schemas: user.schemas,
      id: user.id,
      emails: [{ value: "bjensen@example.com", type: "work", primary: true }, { type: "home" }],
    }],
    ["the attribute named plainly as well: every element", { attributes: ['emails[type eq "work"]', "emails"] }, {
      schemas: user.schemas,
      id: user.id,
      emails: user.emails,
    }],
    ["a filter matching nothing: the attribute is omitted", { attributes: ['emails[type eq "other"]'] }, { schemas: user.schemas, id: user.id }],
    ["URN-qualified filtered name", { attributes: [`${USER_SCHEMA}:emails[type eq "home"].value`] }, {
      schemas: user.schemas,
      id: user.id,
      emails: [{ value: "babs@jensen.org" }],
    }],
    ["excludedAttributes=emails[type eq \"work\"]: the other elements stay", { excludedAttributes: ['emails[type eq "work"]', "groups", "meta", "customAttr", ENT, "name"] }, {
      schemas: user.schemas,
      id: user.id,
      externalId: user.externalId,
      userName: user.userName,
      displayName: user.displayName,
      active: true,
      emails: [{ value: "babs@jensen.org", type: "home" }],
    }],
    ["excludedAttributes=emails[primary eq true].value", { excludedAttributes: ["emails[primary eq true].value"] }, {
      ...userWithoutPassword,
      emails: [{ type: "work", primary: true }, { value: "babs@jensen.org", type: "home" }],
    }],
    ["excluding every element omits the attribute", { excludedAttributes: ["emails[value pr]"] }, (({ emails: _e, ...rest }) => rest)(userWithoutPassword)],
    ["password never appears, even when asked", { attributes: ["password", "userName"] }, {
      schemas: user.schemas,
      id: user.id,
      userName: user.userName,
    }],
    ["id cannot be excluded (returned: always)", { excludedAttributes: ["id", "schemas"] }, userWithoutPassword],
    ["excludedAttributes=groups", { excludedAttributes: ["groups"] }, (({ groups: _g, ...rest }) => rest)(userWithoutPassword)],
    ["excludedAttributes sub-attribute", { excludedAttributes: ["name.givenName", "emails.type"] }, {
      ...userWithoutPassword,
      name: { formatted: "Ms. Barbara J Jensen III", familyName: "Jensen" },
      emails: [
        { value: "bjensen@example.com", primary: true },
        { value: "babs@jensen.org" },
      ],
    }],
    ["excluding the only sub-attribute drops the parent", { excludedAttributes: ["groups.value", "groups.display", "groups.$ref"] },
      (({ groups: _g, ...rest }) => rest)(userWithoutPassword)],
    ["excluding the whole extension", { excludedAttributes: [ENT] }, (({ [ENT]: _e, ...rest }) => rest)(userWithoutPassword)],
    ["excluding one extension attribute", { excludedAttributes: [`${ENT}:manager`, "meta"] }, {
      ...(({ meta: _m, ...rest }) => rest)(userWithoutPassword),
      [ENT]: { employeeNumber: "701984", department: "Tour Operations" },
    }],
  ])("%s", (_name, params, expected) => {
    const out = project(user, "User", params);
    expect(out).toEqual(expected);
    expect(out).not.toHaveProperty("password");
  });

  it("does not mutate its input", () => {
    const copy = structuredClone(user);
    project(user, "User", { attributes: ["name.givenName"] });
    project(user, "User", { excludedAttributes: ["emails.type"] });
    expect(user).toEqual(copy);
  });

  it("keeps the resource's own key spelling", () => {
    expect(project({ schemas: [USER_SCHEMA], ID: "1", UserName: "a" }, "User", { attributes: ["username"] })).toEqual({
      schemas: [USER_SCHEMA],
      ID: "1",
      UserName: "a",
    });
  });
});

describe("project: Group", () => {
  it.each<[string, ProjectionParams, Record<string, unknown>]>([
    ["excludedAttributes=members drops members", { excludedAttributes: ["members"] }, {
      schemas: group.schemas,
      id: group.id,
      displayName: group.displayName,
      meta: group.meta,
    }],
    ["attributes=displayName", { attributes: ["displayName"] }, { schemas: group.schemas, id: group.id, displayName: group.displayName }],
    ["attributes=members.value", { attributes: ["members.value"] }, {
      schemas: group.schemas,
      id: group.id,
      members: [{ value: "2819c223" }, { value: "902c246b" }],
    }],
    ['attributes=members[value eq "902c246b"]', { attributes: ['members[value eq "902c246b"]'] }, {
      schemas: group.schemas,
      id: group.id,
      members: group.members.filter((m: { value: string }) => m.value === "902c246b"),
    }],
    ["Group core URN", { attributes: [`${GROUP_SCHEMA}:displayName`] }, { schemas: group.schemas, id: group.id, displayName: group.displayName }],
    ["User core URN means nothing on a Group", { attributes: [`${USER_SCHEMA}:displayName`] }, { schemas: group.schemas, id: group.id }],
    ["no params", {}, group],
  ])("%s", (_name, params, expected) => {
    expect(project(group, "Group", params)).toEqual(expected);
  });

  it("an empty members array is kept as-is by default and omitted when members are narrowed", () => {
    const empty = { ...group, members: [] };
    expect(project(empty, "Group", {})).toHaveProperty("members", []);
    expect(project(empty, "Group", { attributes: ["members.value"] })).not.toHaveProperty("members");
  });
});

describe("wantsAttribute: skip loading what the response will not carry", () => {
  it.each<[string, ProjectionParams, string, "User" | "Group" | undefined, boolean]>([
    ["no params: members wanted", {}, "members", "Group", true],
    ["excludedAttributes=members", { excludedAttributes: ["members"] }, "members", "Group", false],
    ["excludedAttributes=MEMBERS (case)", { excludedAttributes: ["MEMBERS"] }, "members", "Group", false],
    ["attributes=displayName", { attributes: ["displayName"] }, "members", "Group", false],
    ["attributes=members.value", { attributes: ["members.value"] }, "members", "Group", true],
    ["attributes=members", { attributes: ["members"] }, "members", "Group", true],
    ['attributes=members[value eq "x"] needs members', { attributes: ['members[value eq "x"]'] }, "members", "Group", true],
    ['excludedAttributes=members[value eq "x"] still needs members', { excludedAttributes: ['members[value eq "x"]'] }, "members", "Group", true],
    ['attributes=groups[display eq "x"].value needs groups', { attributes: ['groups[display eq "x"].value'] }, "groups", "User", true],
    ["excludedAttributes=members.display still needs members", { excludedAttributes: ["members.display"] }, "members", "Group", true],
    ["URN-qualified exclusion", { excludedAttributes: [`${GROUP_SCHEMA}:members`] }, "members", "Group", false],
    ["whole core schema requested", { attributes: [GROUP_SCHEMA] }, "members", "Group", true],
    ["users' groups excluded", { excludedAttributes: ["groups"] }, "groups", "User", false],
    ["users' groups not requested", { attributes: ["userName"] }, "groups", "User", false],
    ["users' groups by default", {}, "groups", "User", true],
    ["without a resource type", { excludedAttributes: ["members"] }, "members", undefined, false],
    ["without a resource type, core URN", { attributes: [`${GROUP_SCHEMA}:members`] }, "members", undefined, true],
    ["id is always wanted", { attributes: ["userName"] }, "id", "User", true],
    ["password never", {}, "password", "User", false],
    ["extension attribute", { attributes: [ENT] }, `${ENT}:manager`, "User", true],
    ["extension attribute excluded", { excludedAttributes: [`${ENT}:manager`] }, `${ENT}:manager`, "User", false],
    ["extension attribute not requested", { attributes: ["userName"] }, `${ENT}:manager`, "User", false],
    ["sub-attribute path", { attributes: ["name.givenName"] }, "name.familyName", "User", false],
    ["sub-attribute path requested", { attributes: ["name.givenName"] }, "name.givenName", "User", true],
  ])("%s", (_name, params, path, rt, expected) => {
    expect(wantsAttribute(params, path, rt)).toBe(expected);
  });

  it("agrees with project on whether members appear", () => {
    const cases: ProjectionParams[] = [{}, { attributes: ["displayName"] }, { excludedAttributes: ["members"] }, { attributes: ["members.type"] }];
    for (const params of cases) {
      expect(wantsAttribute(params, "members", "Group")).toBe("members" in project(group, "Group", params));
    }
  });
});
