import { describe, expect, it } from "vitest";
import { compileFilter, compileSort, MAX_FILTER_PARAMS } from "../../src/scim/filter/compile";
import { escapeGlob, escapeLike, prefixUpperBound, trigramPhrase } from "../../src/scim/filter/patterns";
import { parseFilter } from "../../src/scim/filter/parse";
import type { Filter } from "../../src/scim/filter/ast";

const ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const ENT_PATH = (...keys: string[]) => `$."${ENT}"` + keys.map((k) => `."${k}"`).join("");

function f(text: string): Filter {
  const r = parseFilter(text);
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

const IDP = "idp-1";

/** As src/directory/list.ts calls it: with the connection id (emails as semi-joins). */
function compile(text: string, rt: "User" | "Group" = "User", options: { idpId?: string } = { idpId: IDP }) {
  const r = compileFilter(f(text), rt, options);
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

const IN_EMAILS = "u.id IN (SELECT ue.user_id FROM user_emails ue WHERE ue.idp_id = ?";
/** `+` keeps the idp term off the B-tree so that the trigram index drives (see matchElements). */
const IN_EMAILS_TRIGRAM = "u.id IN (SELECT ue.user_id FROM user_emails ue WHERE +ue.idp_id = ?";
const TRIGRAM = "ue.rowid IN (SELECT rowid FROM user_emails_trigram WHERE user_emails_trigram MATCH ?)";

describe("compileFilter: SQL per attribute and operator", () => {
  it.each<[string, string, unknown[]]>([
    // userName: lower-cased column + lower-cased param (index), sw as a range
    ['userName eq "BJensen"', "(u.user_name_lower = ?)", ["bjensen"]],
    ['userName sw "BJ"', "(u.user_name_lower >= ? AND u.user_name_lower < ?)", ["bj", "bk"]],
    ['userName co "a%b_c\\\\"', "(u.user_name_lower LIKE ? ESCAPE '\\')", ["%a\\%b\\_c\\\\%"]],
    ['userName ew "@X.com"', "(u.user_name_lower LIKE ? ESCAPE '\\')", ["%@x.com"]],
    ['userName gt "M"', "(u.user_name_lower > ?)", ["m"]],
    ['userName ne "x"', "(NOT coalesce((u.user_name_lower = ?), 0))", ["x"]],
    ["userName pr", "(u.user_name_lower <> '')", []],
    // caseExact: exact params, GLOB for co/ew
    ['id eq "AbC"', "(u.id = ?)", ["AbC"]],
    ['externalId co "A*?["', "(u.external_id GLOB ?)", ["*A[*][?][[]*"]],
    ['externalId ew "Z"', "(u.external_id GLOB ?)", ["*Z"]],
    ['externalId sw "Ab"', "(u.external_id >= ? AND u.external_id < ?)", ["Ab", "Ac"]],
    // case-insensitive columns without a lower-cased copy
    ['displayName eq "Babs"', "(lower(u.display_name) = ?)", ["babs"]],
    ['name.givenName sw "Bar"', "(lower(u.given_name) >= ? AND lower(u.given_name) < ?)", ["bar", "bas"]],
    ['NAME.FAMILYNAME eq "J"', "(lower(u.family_name) = ?)", ["j"]],
    // booleans
    ["active eq true", "(u.active = ?)", [1]],
    ["active eq false", "(u.active = ?)", [0]],
    ["active ne true", "(NOT coalesce((u.active = ?), 0))", [1]],
    ["active pr", "(u.active IS NOT NULL)", []],
    // dateTime: normalised to the column format
    ['meta.lastModified gt "2026-11-23T18:20:50Z"', "(u.updated_at > ?)", ["2026-11-23T18:20:50.000Z"]],
    ['meta.created le "2026-11-23T20:20:50.1234+02:00"', "(u.created_at <= ?)", ["2026-11-23T18:20:50.123Z"]],
    ['meta.created ge "2026-11-23"', "(u.created_at >= ?)", ["2026-11-23T00:00:00.000Z"]],
    // meta.created is caseExact=false in the registry, so substring operators fold case
    ['meta.created sw "2026-11-23T"', "(lower(u.created_at) >= ? AND lower(u.created_at) < ?)", ["2026-11-23t", "2026-11-23u"]],
    ['meta.resourceType eq "User"', "('User' = ?)", ["User"]],
    ['meta.version eq "W/\\"3\\""', `(('W/"' || u.version || '"') = ?)`, ['W/"3"']],
    // null: eq null = not present, ne null = present
    ["title eq null", "(NOT coalesce(((u.resource -> ?) NOT IN ('null', '\"\"', '[]', '{}')), 0))", ['$."title"']],
    ["displayName ne null", "(NOT coalesce((NOT coalesce((u.display_name <> ''), 0)), 0))", []],
    // JSON-backed registry attributes: the path is a bound parameter
    ['title eq "Boss"', "(lower(json_extract(u.resource, ?)) = ?)", ['$."title"', "boss"]],
    ['name.formatted co "x"', "(lower(json_extract(u.resource, ?)) LIKE ? ESCAPE '\\')", ['$."name"."formatted"', "%x%"]],
    ['profileUrl eq "https://X"', "(lower(json_extract(u.resource, ?)) = ?)", ['$."profileUrl"', "https://x"]],
    ["title pr", "((u.resource -> ?) NOT IN ('null', '\"\"', '[]', '{}'))", ['$."title"']],
    ["name pr", "((u.resource -> ?) NOT IN ('null', '\"\"', '[]', '{}'))", ['$."name"']],
    // enterprise extension: quoted URN key, case-insensitive URN, canonical key casing
    [`${ENT}:department eq "Sales"`, "(lower(json_extract(u.resource, ?)) = ?)", [ENT_PATH("department"), "sales"]],
    [`${ENT.toUpperCase()}:Department eq "Sales"`, "(lower(json_extract(u.resource, ?)) = ?)", [ENT_PATH("department"), "sales"]],
    [`${ENT}:manager.value eq "M1"`, "(json_extract(u.resource, ?) = ?)", [ENT_PATH("manager", "value"), "M1"]],
    [`${ENT}:manager eq "M1"`, "(json_extract(u.resource, ?) = ?)", [ENT_PATH("manager", "value"), "M1"]],
    [`${ENT}:manager[value eq "M1"]`, "(json_extract(u.resource, ?) = ?)", [ENT_PATH("manager", "value"), "M1"]],
    // unknown extension: typed by the literal
    [
      'urn:example:custom:1.0:User:level gt 3',
      "((CASE WHEN json_type(u.resource, ?) IN ('integer', 'real') THEN json_extract(u.resource, ?) END) > ?)",
      ['$."urn:example:custom:1.0:User"."level"', '$."urn:example:custom:1.0:User"."level"', 3],
    ],
    ["urn:example:custom:1.0:User:vip eq true", "((u.resource -> ?) = ?)", ['$."urn:example:custom:1.0:User"."vip"', "true"]],
    [
      'urn:example:custom:1.0:User:nick eq "Bee"',
      "((CASE WHEN json_type(u.resource, ?) = 'text' THEN lower(json_extract(u.resource, ?)) END) = ?)",
      ['$."urn:example:custom:1.0:User"."nick"', '$."urn:example:custom:1.0:User"."nick"', "bee"],
    ],
    // emails: a semi-join on the (idp_id, value_lower) index when the condition can seek it …
    ['emails.value eq "A@X.com"', `${IN_EMAILS} AND (ue.value_lower = ?))`, [IDP, "a@x.com"]],
    ['emails eq "A@X.com"', `${IN_EMAILS} AND (ue.value_lower = ?))`, [IDP, "a@x.com"]],
    ['emails.value sw "User0054321@"', `${IN_EMAILS} AND (ue.value_lower >= ? AND ue.value_lower < ?))`, [IDP, "user0054321@", "user0054321A"]],
    ['emails[value eq "a" or value sw "b"]', `${IN_EMAILS} AND ((ue.value_lower = ?) OR (ue.value_lower >= ? AND ue.value_lower < ?)))`, [IDP, "a", "b", "c"]],
    // … and co/ew with ≥ 3 characters through the trigram index (FTS5 phrase, `"` doubled), then the exact LIKE
    ['emails.value co "USER0054321@"', `${IN_EMAILS_TRIGRAM} AND (${TRIGRAM} AND (ue.value_lower LIKE ? ESCAPE '\\')))`, [IDP, '"user0054321@"', "%user0054321@%"]],
    // ew stays a per-user EXISTS: domain searches match most users, and EXISTS finds a page at once.
    ['emails.value ew "@X.com"', "EXISTS (SELECT 1 FROM user_emails ue WHERE ue.user_id = u.id AND (ue.value_lower LIKE ? ESCAPE '\\'))", ["%@x.com"]],
    ['emails.value co "A\\"b%_\\\\"', `${IN_EMAILS_TRIGRAM} AND (${TRIGRAM} AND (ue.value_lower LIKE ? ESCAPE '\\')))`, [IDP, '"a""b%_\\"', '%a"b\\%\\_\\\\%']],
    ['emails.value co "😀😀x"', `${IN_EMAILS_TRIGRAM} AND (${TRIGRAM} AND (ue.value_lower LIKE ? ESCAPE '\\')))`, [IDP, '"😀😀x"', "%😀😀x%"]],
    [
      'emails[type eq "work" and value co "@example.com"]',
      `${IN_EMAILS_TRIGRAM} AND ((lower(ue.type) = ?) AND (${TRIGRAM} AND (ue.value_lower LIKE ? ESCAPE '\\'))))`,
      [IDP, "work", '"@example.com"', "%@example.com%"],
    ],
    // attr[filter].sub op value (Entra ID): one element, both conditions: the index still drives
    ['emails[type eq "work"].value eq "A@X.com"', `${IN_EMAILS} AND ((lower(ue.type) = ?) AND (ue.value_lower = ?)))`, [IDP, "work", "a@x.com"]],
    [
      'emails[type eq "work"].primary eq true',
      "EXISTS (SELECT 1 FROM user_emails ue WHERE ue.user_id = u.id AND ((lower(ue.type) = ?) AND ((u.resource -> (? || ue.position || ?)) = ?)))",
      ["work", '$."emails"[', ']."primary"', "true"],
    ],
    ['not (emails.value co "abc")', `(NOT coalesce(${IN_EMAILS_TRIGRAM} AND (${TRIGRAM} AND (ue.value_lower LIKE ? ESCAPE '\\'))), 0))`, [IDP, '"abc"', "%abc%"]],
    // EXISTS when no index can drive: presence, other sub-attributes, ranges, negation inside, `or` with a non-value term …
    ["emails pr", "EXISTS (SELECT 1 FROM user_emails ue WHERE ue.user_id = u.id)", []],
    [
      "emails.primary eq true",
      "EXISTS (SELECT 1 FROM user_emails ue WHERE ue.user_id = u.id AND ((u.resource -> (? || ue.position || ?)) = ?))",
      ['$."emails"[', ']."primary"', "true"],
    ],
    [
      'emails.display eq "Work"',
      "EXISTS (SELECT 1 FROM user_emails ue WHERE ue.user_id = u.id AND (lower(json_extract(u.resource, (? || ue.position || ?))) = ?))",
      ['$."emails"[', '].\"display\"', "work"],
    ],
    ['emails.type ne "work"', "(NOT coalesce(EXISTS (SELECT 1 FROM user_emails ue WHERE ue.user_id = u.id AND (lower(ue.type) = ?)), 0))", ["work"]],
    ['emails.value gt "m"', "EXISTS (SELECT 1 FROM user_emails ue WHERE ue.user_id = u.id AND (ue.value_lower > ?))", ["m"]],
    // co/ew under 3 characters (code points): no trigram, and a scan is no better than EXISTS, which can stop early
    ['emails.value co "ab"', "EXISTS (SELECT 1 FROM user_emails ue WHERE ue.user_id = u.id AND (ue.value_lower LIKE ? ESCAPE '\\'))", ["%ab%"]],
    ['emails.value ew "@X"', "EXISTS (SELECT 1 FROM user_emails ue WHERE ue.user_id = u.id AND (ue.value_lower LIKE ? ESCAPE '\\'))", ["%@x"]],
    ['emails.value co "ÉÉ"', "EXISTS (SELECT 1 FROM user_emails ue WHERE ue.user_id = u.id AND (ue.value_lower LIKE ? ESCAPE '\\'))", ["%éé%"]],
    ['emails[not (value eq "a")]', "EXISTS (SELECT 1 FROM user_emails ue WHERE ue.user_id = u.id AND (NOT coalesce((ue.value_lower = ?), 0)))", ["a"]],
    ['emails[value eq "a" or type eq "work"]', "EXISTS (SELECT 1 FROM user_emails ue WHERE ue.user_id = u.id AND ((ue.value_lower = ?) OR (lower(ue.type) = ?)))", ["a", "work"]],
    // … and when the condition reads the user row (primary, display live in u.resource): the trigram index is not used in EXISTS
    [
      'emails[value co "abc" and primary eq true]',
      "EXISTS (SELECT 1 FROM user_emails ue WHERE ue.user_id = u.id AND ((ue.value_lower LIKE ? ESCAPE '\\') AND ((u.resource -> (? || ue.position || ?)) = ?)))",
      ["%abc%", '$."emails"[', ']."primary"', "true"],
    ],
    // other multi-valued attributes: json_each
    [
      'phoneNumbers[type eq "work"]',
      "EXISTS (SELECT 1 FROM json_each(u.resource, ?) j WHERE 1 = 1 AND (lower(json_extract((CASE WHEN j.type = 'object' THEN j.value END), ?)) = ?))",
      ['$."phoneNumbers"', '$."type"', "work"],
    ],
    [
      "addresses.primary eq true",
      "EXISTS (SELECT 1 FROM json_each(u.resource, ?) j WHERE 1 = 1 AND (((CASE WHEN j.type = 'object' THEN j.value END) -> ?) = ?))",
      ['$."addresses"', '$."primary"', "true"],
    ],
    // groups of a user
    // groups.value is caseExact=false in the registry (members.value is caseExact)
    ['groups.value eq "G1"', "EXISTS (SELECT 1 FROM group_members gm JOIN groups gg ON gg.id = gm.group_id WHERE gm.user_id = u.id AND (lower(gm.group_id) = ?))", ["g1"]],
    ['groups.display eq "Admins"', "EXISTS (SELECT 1 FROM group_members gm JOIN groups gg ON gg.id = gm.group_id WHERE gm.user_id = u.id AND (gg.display_name_lower = ?))", ["admins"]],
    // logic
    ['userName eq "a" or userName eq "b" and active eq true', "((u.user_name_lower = ?) OR ((u.user_name_lower = ?) AND (u.active = ?)))", ["a", "b", 1]],
    ["not (title pr)", "(NOT coalesce(((u.resource -> ?) NOT IN ('null', '\"\"', '[]', '{}')), 0))", ['$."title"']],
  ])("%s", (text, where, params) => {
    expect(compile(text)).toEqual({ where, params });
  });

  it.each<[string, string, unknown[]]>([
    ['displayName eq "Admins"', "(g.display_name_lower = ?)", ["admins"]],
    ['displayName sw "Ad"', "(g.display_name_lower >= ? AND g.display_name_lower < ?)", ["ad", "ae"]],
    ['id eq "x" and externalId eq "Y"', "((g.id = ?) AND (g.external_id = ?))", ["x", "Y"]],
    ['members.value eq "U1"', "EXISTS (SELECT 1 FROM group_members gm JOIN users mu ON mu.id = gm.user_id WHERE gm.group_id = g.id AND (gm.user_id = ?))", ["U1"]],
    ['members eq "U1"', "EXISTS (SELECT 1 FROM group_members gm JOIN users mu ON mu.id = gm.user_id WHERE gm.group_id = g.id AND (gm.user_id = ?))", ["U1"]],
    ['members[value eq "U1"]', "EXISTS (SELECT 1 FROM group_members gm JOIN users mu ON mu.id = gm.user_id WHERE gm.group_id = g.id AND (gm.user_id = ?))", ["U1"]],
    ["members pr", "EXISTS (SELECT 1 FROM group_members gm JOIN users mu ON mu.id = gm.user_id WHERE gm.group_id = g.id)", []],
    ['meta.lastModified lt "2026-01-01T00:00:00Z"', "(g.updated_at < ?)", ["2026-01-01T00:00:00.000Z"]],
    ['meta.resourceType eq "Group"', "('Group' = ?)", ["Group"]],
  ])("Group: %s", (text, where, params) => {
    expect(compile(text, "Group")).toEqual({ where, params });
  });

  it.each<[string, string, unknown[]]>([
    ['emails.value eq "A@X.com"', "EXISTS (SELECT 1 FROM user_emails ue WHERE ue.user_id = u.id AND (ue.value_lower = ?))", ["a@x.com"]],
    ['emails.value sw "a"', "EXISTS (SELECT 1 FROM user_emails ue WHERE ue.user_id = u.id AND (ue.value_lower >= ? AND ue.value_lower < ?))", ["a", "b"]],
    ['emails.value co "ab"', "EXISTS (SELECT 1 FROM user_emails ue WHERE ue.user_id = u.id AND (ue.value_lower LIKE ? ESCAPE '\\'))", ["%ab%"]],
    // the trigram index needs no connection id: still a semi-join
    ['emails.value co "abc"', `u.id IN (SELECT ue.user_id FROM user_emails ue WHERE (${TRIGRAM} AND (ue.value_lower LIKE ? ESCAPE '\\')))`, ['"abc"', "%abc%"]],
    [
      'emails[type eq "work" and value co "@example.com"]',
      `u.id IN (SELECT ue.user_id FROM user_emails ue WHERE ((lower(ue.type) = ?) AND (${TRIGRAM} AND (ue.value_lower LIKE ? ESCAPE '\\'))))`,
      ["work", '"@example.com"', "%@example.com%"],
    ],
  ])("without the connection id, only the trigram index makes a semi-join: %s", (text, where, params) => {
    expect(compile(text, "User", {})).toEqual({ where, params });
  });
});

describe("compileFilter: 400 invalidFilter", () => {
  it.each<[string, "User" | "Group", string]>([
    ['foo eq "x"', "User", 'Unknown attribute "foo"'],
    ['schemas eq "x"', "User", "Unknown attribute"],
    ['userName eq "x" and bogus pr', "User", 'Unknown attribute "bogus"'],
    ['name.bogus eq "x"', "User", "Unknown attribute"],
    [`${ENT}:bogus eq "x"`, "User", "Unknown attribute"],
    ['password eq "secret"', "User", '"password" is not filterable'],
    ["password pr", "User", "not filterable"],
    ['meta.location eq "x"', "User", "not filterable"],
    ["meta pr", "User", "not filterable"],
    ['members.$ref eq "x"', "Group", "not filterable"],
    ['userName eq "x"', "Group", "Unknown attribute"],
    ['members eq "x"', "User", "Unknown attribute"],
    ["active gt true", "User", '"gt" is not allowed on boolean'],
    ["active ge false", "User", "not allowed on boolean"],
    ['active co "t"', "User", "is a boolean"],
    ['active eq "true"', "User", "is a boolean"],
    ["emails.primary lt true", "User", "not allowed on boolean"],
    ["userName eq 1", "User", "is a string"],
    ["userName eq true", "User", "is not a boolean"],
    ["userName gt null", "User", "null can only be compared with eq or ne"],
    ['meta.created gt "yesterday"', "User", "not a valid dateTime"],
    ['meta.created gt "2026-02-30T00:00:00Z"', "User", "not a valid dateTime"],
    ["meta.created gt 5", "User", "is a dateTime"],
    ['name eq "x"', "User", "is a complex attribute"],
    ['urn:example:x:1.0:User:n co 5', "User", "needs a string value"],
    ['userName[value eq "x"]', "User", "only complex attributes"],
    ['emails[bogus eq "x"]', "User", '"emails.bogus" is not a known attribute'],
    ['emails[type eq "work"].bogus eq "x"', "User", '"emails.bogus" is not a known attribute'],
    ['emails[type eq "work"].primary gt true', "User", "not allowed on boolean"],
    ['userName[type eq "work"].value eq "x"', "User", "only complex attributes"],
    ['emails[groups.value eq "x"]', "User", "sub-attribute names"],
    ['groups.$ref eq "x"', "User", "not filterable"],
  ])("%s (%s) → %s", (text, rt, detail) => {
    const r = compileFilter(f(text), rt);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.status).toBe(400);
    expect(r.error.scimType).toBe("invalidFilter");
    expect(r.error.message).toContain(detail);
  });

  it("rejects hand-built ASTs the parser would not produce", () => {
    const nested: Filter = { kind: "valuePath", path: "emails", filter: { kind: "valuePath", path: "x", filter: { kind: "present", path: "y" } } };
    expect(compileFilter(nested, "User").ok).toBe(false);
    expect(compileFilter({ kind: "present", path: "a b" }, "User").ok).toBe(false);
    expect(compileFilter({ kind: "valuePath", path: "emails.value", filter: { kind: "present", path: "type" } }, "User").ok).toBe(false);
  });

  it(`caps bound parameters at ${MAX_FILTER_PARAMS} (D1 binds at most 100)`, () => {
    const terms = (n: number) => Array.from({ length: n }, (_, i) => `userName eq "u${i}"`).join(" or ");
    expect(compileFilter(f(terms(MAX_FILTER_PARAMS)), "User").ok).toBe(true);
    const r = compileFilter(f(terms(MAX_FILTER_PARAMS + 1)), "User");
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).toContain("too complex");
  });
});

describe("compileSort (RFC 7644 §3.4.2.3)", () => {
  it.each<[string | undefined, string | undefined, "User" | "Group", string, unknown[]]>([
    [undefined, undefined, "User", "u.created_at ASC, u.id ASC", []],
    ["", undefined, "Group", "g.created_at ASC, g.id ASC", []],
    [undefined, "descending", "User", "u.created_at DESC, u.id DESC", []],
    ["userName", undefined, "User", "u.user_name_lower ASC NULLS LAST, u.id ASC", []],
    ["userName", "Descending", "User", "u.user_name_lower DESC NULLS FIRST, u.id DESC", []],
    ["displayName", "ascending", "User", "lower(u.display_name) ASC NULLS LAST, u.id ASC", []],
    ["displayName", undefined, "Group", "g.display_name_lower ASC NULLS LAST, g.id ASC", []],
    ["externalId", undefined, "User", "u.external_id ASC NULLS LAST, u.id ASC", []],
    ["meta.lastModified", "descending", "Group", "g.updated_at DESC NULLS FIRST, g.id DESC", []],
    ["name.familyName", undefined, "User", "lower(u.family_name) ASC NULLS LAST, u.id ASC", []],
    ["title", undefined, "User", "lower(json_extract(u.resource, ?)) ASC NULLS LAST, u.id ASC", ['$."title"']],
    [`${ENT}:department`, undefined, "User", "lower(json_extract(u.resource, ?)) ASC NULLS LAST, u.id ASC", [ENT_PATH("department")]],
    [`${ENT}:manager`, undefined, "User", "json_extract(u.resource, ?) ASC NULLS LAST, u.id ASC", [ENT_PATH("manager", "value")]],
    [
      "emails",
      undefined,
      "User",
      "(SELECT ue.value_lower FROM user_emails ue WHERE ue.user_id = u.id ORDER BY ue.is_primary DESC, ue.position LIMIT 1) ASC NULLS LAST, u.id ASC",
      [],
    ],
    [
      "phoneNumbers.value",
      undefined,
      "User",
      "(SELECT lower(json_extract((CASE WHEN j.type = 'object' THEN j.value END), ?)) FROM json_each(u.resource, ?) j WHERE 1 = 1 ORDER BY coalesce((CASE WHEN j.type = 'object' THEN j.value END) -> '$.primary', 'false') = 'true' DESC, j.key LIMIT 1) ASC NULLS LAST, u.id ASC",
      ['$."value"', '$."phoneNumbers"'],
    ],
  ])("sortBy=%s sortOrder=%s (%s)", (sortBy, sortOrder, rt, orderBy, params) => {
    const r = compileSort(sortBy, sortOrder, rt);
    if (!r.ok) throw new Error(r.error.message);
    const { orderBy: gotOrderBy, params: gotParams, key, descending, nullable } = r.value;
    expect({ orderBy: gotOrderBy, params: gotParams }).toEqual({ orderBy, params });
    // The keyset (cursor) view of the same order: its key is the ORDER BY's first term.
    expect(orderBy.startsWith(`${key.sql} `)).toBe(true);
    expect(descending).toBe(sortOrder?.toLowerCase() === "descending");
    expect(nullable).toBe(sortBy !== undefined && sortBy !== "");
  });

  it.each<[string | undefined, string | undefined, string]>([
    ["userName", "up", 'Invalid sortOrder "up"'],
    [undefined, "sideways", "Invalid sortOrder"],
    ["bogus", undefined, 'Invalid sortBy "bogus"'],
    ["password", undefined, "not filterable"],
    ["name", undefined, "sub-attributes"],
    ["userName eq 1", undefined, "not a valid attribute path"],
  ])("sortBy=%s sortOrder=%s → 400 invalidValue", (sortBy, sortOrder, detail) => {
    const r = compileSort(sortBy, sortOrder, "User");
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.scimType).toBe("invalidValue");
    expect(r.error.message).toContain(detail);
  });
});

describe("escaping helpers", () => {
  it.each([
    ["abc", "abc"],
    ["%", "\\%"],
    ["_", "\\_"],
    ["a\\b", "a\\\\b"],
    ["100%_off\\", "100\\%\\_off\\\\"],
  ])("escapeLike(%j) = %j", (input, out) => {
    expect(escapeLike(input)).toBe(out);
  });

  it.each([
    ["abc", "abc"],
    ["*", "[*]"],
    ["?", "[?]"],
    ["[a]", "[[]a]"],
    ["a*b?c[d", "a[*]b[?]c[[]d"],
  ])("escapeGlob(%j) = %j", (input, out) => {
    expect(escapeGlob(input)).toBe(out);
  });

  it.each<[string, string | undefined]>([
    ["abc", '"abc"'],
    ["ab", undefined],
    ["", undefined],
    ['a"b', '"a""b"'],
    ['"""', '""""""""'],
    ["%_\\", '"%_\\"'],
    ["😀😀", undefined],
    ["😀😀😀", '"😀😀😀"'],
  ])("trigramPhrase(%j) = %j", (input, out) => {
    expect(trigramPhrase(input)).toBe(out);
  });

  it.each<[string, string | undefined]>([
    ["abc", "abd"],
    ["", undefined],
    ["a\u{10ffff}", "b"],
    ["\u{10ffff}", undefined],
    ["\ud7ff", "\ue000"],
    ["é", "ê"],
    ["a😀", "a😁"],
  ])("prefixUpperBound(%j) = %j", (input, out) => {
    expect(prefixUpperBound(input)).toBe(out);
  });
});
