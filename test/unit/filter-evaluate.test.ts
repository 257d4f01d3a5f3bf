import { describe, expect, it } from "vitest";
import { matchesFilter, matchesFilterWithin } from "../../src/scim/filter/evaluate";
import { parseFilter } from "../../src/scim/filter/parse";
import type { Filter } from "../../src/scim/filter/ast";

const ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

function f(text: string): Filter {
  const r = parseFilter(text);
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

const user = {
  schemas: ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
  id: "2819c223-7f76-453a-919d-413861904646",
  externalId: "Ext-ABC",
  userName: "BJensen@Example.com",
  name: { givenName: "Barbara", familyName: "Jensen", formatted: "" },
  displayName: "Babs Jensen",
  title: "",
  userType: "Employee",
  active: true,
  emails: [
    { value: "bjensen@example.com", type: "work", primary: true },
    { value: "babs@jensen.org", type: "home" },
  ],
  phoneNumbers: [{ value: "555-555-8377", type: "work" }],
  roles: [],
  meta: { resourceType: "User", created: "2010-01-23T04:56:22Z", lastModified: "2011-05-13T04:42:34.500Z", version: 'W/"3"' },
  [ENT]: { employeeNumber: "701984", department: "Tour Operations", manager: { value: "26118915-6090-4610-87e4-49d8ca9f808d", displayName: "John Smith" } },
  "urn:example:custom:1.0:User": { level: 7, vip: true, nickname: "Bee" },
};

const group = {
  id: "e9e30dba",
  displayName: "Tour Guides",
  members: [
    { value: "2819c223-7f76-453a-919d-413861904646", display: "Babs Jensen" },
    { value: "902c246b", display: "Mandy Pepperidge" },
  ],
};

describe("matchesFilter on a User", () => {
  it.each<[string, boolean]>([
    // case-insensitive attribute names and (caseExact=false) values, RFC 7643 §2.1
    ['userName eq "bjensen@example.com"', true],
    ['USERNAME eq "BJENSEN@EXAMPLE.COM"', true],
    ['userName ne "bjensen@example.com"', false],
    ['userName sw "bjen"', true],
    ['userName ew ".COM"', true],
    ['userName co "@example"', true],
    ['userName co "%"', false],
    ['userName gt "a"', true],
    ['userName lt "a"', false],
    ['userName ge "bjensen@example.com"', true],
    ['userName le "BJENSEN@EXAMPLE.COM"', true],
    ['name.givenName eq "barbara"', true],
    ['NAME.GIVENNAME eq "barbara"', true],
    ['name[givenName eq "barbara" and familyName sw "J"]', true],
    // attr[filter].sub op value: the SAME element must satisfy both (Entra ID's work-email filter)
    ['emails[type eq "work"].value eq "bjensen@example.com"', true],
    ['emails[type eq "work"].value eq "babs@jensen.org"', false],
    ['emails[type eq "home"].value eq "BABS@jensen.org"', true],
    ['emails[type eq "home"].primary eq true', false],
    ['emails[type eq "work"].primary eq true', true],
    ['emails[type eq "work"].display pr', false],
    ['emails[type eq "home"].value ne "x"', true],
    ['phoneNumbers[type eq "work"].value sw "555"', true],
    ['name[givenName eq "Barbara"].familyName eq "jensen"', true],
    [`${ENT}:manager[value pr].displayName eq "john smith"`, true],
    // caseExact attributes
    ['id eq "2819c223-7f76-453a-919d-413861904646"', true],
    ['id eq "2819C223-7F76-453A-919D-413861904646"', false],
    ['externalId eq "Ext-ABC"', true],
    ['externalId eq "ext-abc"', false],
    ['externalId sw "Ext"', true],
    ['externalId sw "ext"', false],
    [`${ENT}:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d"`, true],
    [`${ENT}:manager.value eq "26118915-6090-4610-87E4-49D8CA9F808D"`, false],
    [`${ENT}:manager eq "26118915-6090-4610-87e4-49d8ca9f808d"`, true],
    // extension attributes, URN case-insensitive
    [`${ENT}:department eq "tour operations"`, true],
    [`${ENT.toLowerCase()}:DEPARTMENT eq "Tour Operations"`, true],
    [`${ENT}:department co "oper"`, true],
    ["urn:example:custom:1.0:User:level gt 5", true],
    ["urn:example:custom:1.0:User:level ge 7.5", false],
    ["urn:example:custom:1.0:User:vip eq true", true],
    ['urn:example:custom:1.0:User:nickname eq "bee"', true],
    ['urn:example:custom:1.0:User:level eq "7"', false],
    ['urn:ietf:params:scim:schemas:core:2.0:User:userName sw "B"', true],
    // multi-valued: any element matches
    ['emails.value eq "babs@jensen.org"', true],
    ['emails eq "BABS@JENSEN.ORG"', true],
    ['emails.type eq "home"', true],
    ['emails.type eq "other"', false],
    ['emails co "jensen"', true],
    ['emails[type eq "work" and value co "@example.com"]', true],
    ['emails[type eq "home" and value co "@example.com"]', false],
    ['emails[type eq "home" or primary eq true]', true],
    ['emails[not (type eq "work")]', true],
    ['emails[primary eq true and type eq "home"]', false],
    ['emails.primary eq true', true],
    ['emails pr', true],
    ['roles pr', false],
    ['ims pr', false],
    ['phoneNumbers[type eq "work"]', true],
    // ne is "not eq": absent attributes are not equal; multi-valued means "no element equals"
    ['nickName ne "x"', true],
    ['emails.type ne "home"', false],
    ['emails[type ne "home"]', true],
    // pr = present and non-empty; eq null = not present
    ["title pr", false],
    ["not (title pr)", true],
    ["nickName pr", false],
    ["displayName pr", true],
    ["name.formatted pr", false],
    ["name pr", true],
    ["title eq null", true],
    ["displayName eq null", false],
    ["displayName ne null", true],
    ["title ne null", false],
    // booleans: eq only; type mismatches do not match
    ["active eq true", true],
    ["active eq false", false],
    ["active ne false", true],
    ['active eq "true"', false],
    ["active gt false", false],
    ['userName eq 1', false],
    ['userName eq true', false],
    ['userName gt null', false],
    // dateTime as instants (RFC 7643 §2.3.5)
    ['meta.lastModified gt "2011-05-13T04:42:34Z"', true],
    ['meta.lastModified gt "2011-05-13T04:42:34.5Z"', false],
    ['meta.lastModified ge "2011-05-13T04:42:34.500Z"', true],
    ['meta.lastModified eq "2011-05-13T06:42:34.5+02:00"', true],
    ['meta.lastModified lt "2011-05-14"', true],
    ['meta.created lt "2010-01-23T04:56:22.001Z"', true],
    ['meta.created gt "not a date"', false],
    ['meta.created sw "2010-01"', true],
    // logic and precedence
    ['userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")', true],
    ['userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")', false],
    ['title pr or userName pr and active eq false', false],
    ['(title pr or userName pr) and active eq true', true],
    ['not (not (active eq true))', true],
    ['unknownAttribute eq "x"', false],
    ['not (unknownAttribute eq "x")', true],
  ])("%s → %s", (text, expected) => {
    expect(matchesFilter(user, f(text), "User")).toBe(expected);
  });
});

describe("matchesFilter on a Group", () => {
  it.each<[string, boolean]>([
    ['displayName eq "tour guides"', true],
    ['members[value eq "902c246b"]', true],
    ['members[value eq "902C246B"]', false], // members.value is caseExact
    ['members.value eq "902c246b"', true],
    ['members eq "902c246b"', true],
    ['members.display co "PEPPER"', true],
    ['members[value eq "902c246b" and display sw "babs"]', false],
  ])("%s → %s", (text, expected) => {
    expect(matchesFilter(group, f(text), "Group")).toBe(expected);
  });

  it("tolerates resources that are not objects", () => {
    for (const r of [null, undefined, 42, "x", [], [{ displayName: "a" }]]) {
      expect(matchesFilter(r, f('displayName eq "a"'), "Group")).toBe(false);
      expect(matchesFilter(r, f("not (displayName pr)"), "Group")).toBe(true);
    }
  });
});

describe("matchesFilterWithin: one element of a multi-valued attribute (PATCH valuePath)", () => {
  it.each<[unknown, string, string, "User" | "Group", boolean]>([
    [{ value: "a@x.com", type: "work" }, 'type eq "WORK"', "emails", "User", true],
    [{ value: "a@x.com", type: "work" }, 'type eq "work" and value ew "@X.COM"', "emails", "User", true],
    [{ value: "a@x.com" }, 'type ne "work"', "emails", "User", true],
    [{ value: "a@x.com" }, "type pr", "emails", "User", false],
    [{ value: "Abc" }, 'value eq "abc"', "members", "Group", false], // members.value caseExact
    [{ value: "Abc" }, 'value eq "Abc"', "members", "Group", true],
    [{ value: "Abc" }, 'VALUE eq "Abc"', "members", "Group", true],
    [{ value: "Abc" }, 'value eq "abc"', "groups", "User", true], // groups.value caseExact=false in the registry
    [{ value: "M1" }, 'value eq "m1"', `${ENT}:manager`, "User", false],
    [{ value: "+1 555", type: "Mobile" }, 'type eq "mobile"', "phoneNumbers", "User", true],
    ["plain", 'value eq "plain"', "x509Certificates", "User", false], // not an object: no sub-attributes
    [{ streetAddress: "1 Main St", type: "work" }, 'type eq "work" and streetAddress co "main"', "addresses", "User", true],
  ])("%j / %s within %s", (element, text, parent, rt, expected) => {
    expect(matchesFilterWithin(element, f(text), rt, parent)).toBe(expected);
  });
});
