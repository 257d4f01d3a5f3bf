import { env } from "cloudflare:workers";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { Filter, SubAttrFilter } from "../../src/scim/filter/ast";
import { compileFilter, compileSort } from "../../src/scim/filter/compile";
import { matchesFilter } from "../../src/scim/filter/evaluate";
import { parseFilter } from "../../src/scim/filter/parse";
import { printFilter } from "../../src/scim/filter/print";

// The compiled SQL runs against real D1 in workerd; each filter is also evaluated in memory
// (evaluate.ts) on the SCIM JSON of the same rows, and both must agree.

const ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const CUSTOM = "urn:example:custom:1.0:User";
const IDP = "idp-filter-1";
const OTHER_IDP = "idp-filter-2";

type Json = Record<string, unknown>;
interface UserFixture {
  id: string;
  idp?: string;
  created: string;
  modified: string;
  scim: Json;
}

const users: UserFixture[] = [
  {
    id: "u1",
    created: "2026-01-01T00:00:00.000Z",
    modified: "2026-11-23T18:20:50.123Z",
    scim: {
      userName: "BJensen@Example.com",
      externalId: "Ext-ABC",
      displayName: "Babs Jensen",
      name: { givenName: "Barbara", familyName: "Jensen", formatted: "Ms. Barbara J Jensen" },
      title: "Tour Guide",
      active: true,
      emails: [
        { value: "bjensen@example.com", type: "work", primary: true, display: "Work mail" },
        { value: "babs@jensen.org", type: "home" },
      ],
      phoneNumbers: [{ value: "555-555-8377", type: "work" }],
      [ENT]: { department: "Tour Operations", employeeNumber: "701984", manager: { value: "M-1", displayName: "John Smith" } },
      [CUSTOM]: { level: 7, vip: true, nick: "Bee" },
    },
  },
  {
    id: "u2",
    created: "2026-02-01T00:00:00.000Z",
    modified: "2026-03-01T00:00:00.000Z",
    scim: {
      userName: "jsmith",
      externalId: "ext-abc",
      displayName: "John Smith",
      name: { givenName: "John", familyName: "Smith" },
      active: false,
      emails: [
        { value: "John.Smith@Example.org", type: "work" },
        { value: "js%home@mail.net", type: "home", primary: true },
      ],
      [ENT]: { department: "Sales", manager: { value: "m-1" } },
      [CUSTOM]: { level: 3, vip: false, nick: 7 },
    },
  },
  {
    id: "u3",
    created: "2026-03-01T00:00:00.000Z",
    modified: "2026-11-23T18:20:50.122Z",
    scim: { userName: "100%_user", title: "", active: true, phoneNumbers: ["not-an-object"], [CUSTOM]: { level: 7.5 } },
  },
  {
    id: "u4",
    created: "2026-04-01T00:00:00.000Z",
    modified: "2026-04-01T00:00:00.000Z",
    scim: { userName: "Émile", active: true, emails: [{ value: "EMILE@EXAMPLE.FR", type: "Work" }], nickName: "[]" },
  },
  // Same userName in another connection: the caller's idp_id condition must keep it out.
  { id: "u9", idp: OTHER_IDP, created: "2026-01-01T00:00:00.000Z", modified: "2026-01-01T00:00:00.000Z", scim: { userName: "bjensen@example.com", active: true } },
];

const groups = [
  { id: "g1", displayName: "Tour Guides", members: ["u1", "u2"], created: "2026-01-01T00:00:00.000Z", modified: "2026-06-01T00:00:00.000Z" },
  { id: "g2", displayName: "Admins", members: ["u1"], created: "2026-01-02T00:00:00.000Z", modified: "2026-01-02T00:00:00.000Z" },
  { id: "g3", displayName: "Empty_Group%", members: [], created: "2026-01-03T00:00:00.000Z", modified: "2026-01-03T00:00:00.000Z" },
];

/** The SCIM JSON of a user as the API would render it (what the in-memory evaluator sees). */
function renderUser(u: UserFixture): Json {
  const memberOf = groups.filter((g) => g.members.includes(u.id)).map((g) => ({ value: g.id, display: g.displayName, type: "direct" }));
  return {
    ...u.scim,
    id: u.id,
    ...(memberOf.length ? { groups: memberOf } : {}),
    meta: { resourceType: "User", created: u.created, lastModified: u.modified, version: 'W/"1"' },
  };
}

function renderGroup(g: (typeof groups)[number]): Json {
  const members = g.members.map((id) => {
    const u = users.find((x) => x.id === id)!;
    return { value: id, display: (u.scim.displayName as string | undefined) ?? (u.scim.userName as string), type: "User" };
  });
  return { id: g.id, displayName: g.displayName, ...(members.length ? { members } : {}), meta: { resourceType: "Group", created: g.created, lastModified: g.modified, version: 'W/"1"' } };
}

beforeAll(async () => {
  const db = env.DB;
  const statements: D1PreparedStatement[] = [];
  for (const idp of [IDP, OTHER_IDP]) {
    statements.push(db.prepare("INSERT INTO identity_providers (id, name, type, scim_secret_hash) VALUES (?, ?, 'azureAD', 'x')").bind(idp, idp));
  }
  for (const u of users) {
    const s = u.scim;
    const emails = (Array.isArray(s.emails) ? s.emails : []) as Json[];
    const primary = emails.find((e) => e.primary === true) ?? emails[0];
    const name = (s.name ?? {}) as Json;
    statements.push(
      db
        .prepare(
          `INSERT INTO users (id, idp_id, external_id, user_name, user_name_lower, display_name, given_name, family_name, email, active, resource, version, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)`,
        )
        .bind(
          u.id,
          u.idp ?? IDP,
          s.externalId ?? null,
          s.userName,
          (s.userName as string).toLowerCase(),
          s.displayName ?? null,
          name.givenName ?? null,
          name.familyName ?? null,
          primary ? (primary.value as string).toLowerCase() : null,
          s.active === false ? 0 : 1,
          JSON.stringify(s),
          u.created,
          u.modified,
        ),
    );
    emails.forEach((e, position) => {
      statements.push(
        db
          .prepare("INSERT INTO user_emails (user_id, idp_id, position, value, value_lower, type, is_primary) VALUES (?, ?, ?, ?, ?, ?, ?)")
          .bind(u.id, u.idp ?? IDP, position, e.value, (e.value as string).toLowerCase(), e.type ?? null, e.primary === true ? 1 : 0),
      );
    });
  }
  for (const g of groups) {
    statements.push(
      db
        .prepare("INSERT INTO groups (id, idp_id, display_name, display_name_lower, resource, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
        .bind(g.id, IDP, g.displayName, g.displayName.toLowerCase(), JSON.stringify({ displayName: g.displayName }), g.created, g.modified),
    );
    for (const m of g.members) statements.push(db.prepare("INSERT INTO group_members (group_id, user_id) VALUES (?, ?)").bind(g.id, m));
  }
  await db.batch(statements);
});

/** Ids matched in SQL; `withIdp` passes the connection id to the compiler (emails semi-joins on the idp index), else it compiles without. */
async function sqlIds(filter: Filter, rt: "User" | "Group", idp = IDP, withIdp = true): Promise<string[]> {
  const compiled = compileFilter(filter, rt, withIdp ? { idpId: idp } : {});
  if (!compiled.ok) throw compiled.error;
  const [table, a] = rt === "User" ? ["users u", "u"] : ["groups g", "g"];
  const { results } = await env.DB.prepare(`SELECT ${a}.id AS id FROM ${table} WHERE ${a}.idp_id = ? AND (${compiled.value.where}) ORDER BY ${a}.id`)
    .bind(idp, ...compiled.value.params)
    .all<{ id: string }>();
  return results.map((r) => r.id);
}

function memoryIds(filter: Filter, rt: "User" | "Group"): string[] {
  const rendered = rt === "User" ? users.filter((u) => (u.idp ?? IDP) === IDP).map(renderUser) : groups.map(renderGroup);
  return rendered.filter((r) => matchesFilter(r, filter, rt)).map((r) => r.id as string).sort();
}

function parse(text: string): Filter {
  const r = parseFilter(text);
  if (!r.ok) throw r.error;
  return r.value;
}

describe("compiled filters on D1: Users", () => {
  it.each<[string, string[]]>([
    // userName: case-insensitive, indexed lower-cased column; other connections never leak in
    ['userName eq "bjensen@example.com"', ["u1"]],
    ['userName eq "BJENSEN@EXAMPLE.COM"', ["u1"]],
    ['userName eq "ÉMILE"', ["u4"]],
    ['userName ne "jsmith"', ["u1", "u3", "u4"]],
    ['userName co "SMI"', ["u2"]],
    ['userName sw "bj"', ["u1"]],
    ['userName sw ""', ["u1", "u2", "u3", "u4"]],
    ['userName ew "@EXAMPLE.COM"', ["u1"]],
    ['userName gt "j"', ["u2", "u4"]],
    ['userName ge "jsmith"', ["u2", "u4"]],
    ['userName lt "b"', ["u3"]],
    ['userName le "bjensen@example.com"', ["u1", "u3"]],
    ["userName pr", ["u1", "u2", "u3", "u4"]],
    // LIKE/GLOB wildcards in values are literals
    ['userName co "%"', ["u3"]],
    ['userName co "_"', ["u3"]],
    ['userName sw "100%_"', ["u3"]],
    ['userName ew "%_user"', ["u3"]],
    ['emails co "%"', ["u2"]],
    ['externalId co "*"', []],
    ['externalId co "?"', []],
    // caseExact externalId and id
    ['externalId eq "Ext-ABC"', ["u1"]],
    ['externalId eq "ext-abc"', ["u2"]],
    ['externalId co "xt-A"', ["u1"]],
    ['externalId sw "E"', ["u1"]],
    ['externalId ew "abc"', ["u2"]],
    ['externalId gt "Z"', ["u2"]],
    ["externalId pr", ["u1", "u2"]],
    ["not (externalId pr)", ["u3", "u4"]],
    ['id eq "u1"', ["u1"]],
    ['id eq "U1"', []],
    // emails: case-insensitive, any element, valuePath on one element
    ['emails.value eq "JOHN.SMITH@example.ORG"', ["u2"]],
    ['emails eq "babs@jensen.org"', ["u1"]],
    ['emails.value ew ".fr"', ["u4"]],
    ['emails.type eq "work"', ["u1", "u2", "u4"]],
    ['emails[type eq "work" and value co "@example.com"]', ["u1"]],
    ['emails[type eq "home" and value co "@example.com"]', []],
    ['emails[type eq "work" and primary eq true]', ["u1"]],
    ['emails[type eq "home" and primary eq true]', ["u2"]],
    ['emails.type eq "work" and emails.value co "jensen"', ["u1"]],
    ['emails[type eq "work"] and not (emails[primary eq true])', ["u4"]],
    ['emails[display eq "WORK MAIL"]', ["u1"]],
    // attr[filter].sub op value (Entra ID): the same element satisfies the brackets and the comparison
    ['emails[type eq "work"].value eq "bjensen@example.com"', ["u1"]],
    ['emails[type eq "work"].value eq "babs@jensen.org"', []],
    ['emails[type eq "home"].value eq "babs@jensen.org"', ["u1"]],
    ['EMAILS[TYPE eq "WORK"].VALUE co "example"', ["u1", "u2", "u4"]],
    ['emails[type eq "work"].value ew ".com"', ["u1"]],
    ['emails[type eq "home"].primary eq true', ["u2"]],
    ['emails[primary eq true].type eq "home"', ["u2"]],
    ['emails[type eq "work"].display pr', ["u1"]],
    ['emails[type eq "work"].value ne "bjensen@example.com"', ["u2", "u4"]],
    ['not (emails[type eq "work"].value eq "bjensen@example.com")', ["u2", "u3", "u4"]],
    ['phoneNumbers[type eq "work"].value sw "555"', ["u1"]],
    ['groups[display sw "tour"].value eq "g1"', ["u1", "u2"]],
    [`${ENT}:manager[value eq "M-1"].displayName eq "john smith"`, ["u1"]],
    ['name[givenName eq "John"].familyName eq "Jensen"', []],
    ["emails pr", ["u1", "u2", "u4"]],
    ["not (emails pr)", ["u3"]],
    ['emails.type ne "home"', ["u3", "u4"]],
    // booleans
    ["active eq true", ["u1", "u3", "u4"]],
    ["active eq false", ["u2"]],
    ["active ne true", ["u2"]],
    // dateTime as instants
    ['meta.lastModified gt "2026-11-23T18:20:50.122Z"', ["u1"]],
    ['meta.lastModified ge "2026-11-23T18:20:50.122Z"', ["u1", "u3"]],
    ['meta.lastModified gt "2026-11-23T20:20:50.122+02:00"', ["u1"]],
    ['meta.lastModified lt "2026-03-01"', []],
    ['meta.lastModified le "2026-03-01"', ["u2"]],
    ['meta.created eq "2026-02-01T00:00:00Z"', ["u2"]],
    ['meta.created gt "2026-02-15" and meta.created lt "2026-03-15"', ["u3"]],
    // name, displayName, JSON-backed title
    ['name.givenName eq "BARBARA"', ["u1"]],
    ['name.familyName sw "sm"', ["u2"]],
    ['name[givenName sw "j" and familyName eq "smith"]', ["u2"]],
    ['displayName co "jensen"', ["u1"]],
    ["displayName pr", ["u1", "u2"]],
    ['title eq "tour guide"', ["u1"]],
    ["title pr", ["u1"]],
    ["not (title pr)", ["u2", "u3", "u4"]],
    ["title eq null", ["u2", "u3", "u4"]],
    ["title ne null", ["u1"]],
    ['title ne "Tour Guide"', ["u2", "u3", "u4"]],
    ['name.formatted co "barbara j"', ["u1"]],
    ['nickName eq "[]"', ["u4"]],
    ["nickName pr", ["u4"]],
    // enterprise extension
    [`${ENT}:department eq "sales"`, ["u2"]],
    [`${ENT.toLowerCase()}:DEPARTMENT co "operations"`, ["u1"]],
    [`${ENT}:department ne "Sales"`, ["u1", "u3", "u4"]],
    [`${ENT}:manager.value eq "M-1"`, ["u1"]],
    [`${ENT}:manager eq "m-1"`, ["u2"]],
    [`${ENT}:manager[value eq "m-1"]`, ["u2"]],
    [`${ENT}:manager pr`, ["u1", "u2"]],
    [`${ENT}:employeeNumber pr`, ["u1"]],
    // unknown extension, typed by the literal
    [`${CUSTOM}:level gt 5`, ["u1", "u3"]],
    [`${CUSTOM}:level eq 7`, ["u1"]],
    [`${CUSTOM}:level le 3`, ["u2"]],
    [`${CUSTOM}:vip eq true`, ["u1"]],
    [`${CUSTOM}:vip eq false`, ["u2"]],
    [`${CUSTOM}:nick eq "BEE"`, ["u1"]],
    [`${CUSTOM}:nick eq 7`, ["u2"]],
    [`${CUSTOM}:nick eq "7"`, []],
    [`${CUSTOM}:level pr`, ["u1", "u2", "u3"]],
    // JSON multi-valued attributes (including a malformed non-object element)
    ['phoneNumbers[type eq "work"]', ["u1"]],
    ['phoneNumbers.value sw "555"', ["u1"]],
    ["phoneNumbers pr", ["u1", "u3"]],
    // groups of a user via group_members
    ['groups.value eq "g2"', ["u1"]],
    ['groups eq "g1"', ["u1", "u2"]],
    ['groups.display eq "tour guides"', ["u1", "u2"]],
    ['groups[value eq "g1" and display sw "tour"]', ["u1", "u2"]],
    ["not (groups pr)", ["u3", "u4"]],
    // and/or/not precedence
    ['userName eq "jsmith" or userName eq "100%_user" and active eq false', ["u2"]],
    ['(userName eq "jsmith" or userName eq "100%_user") and active eq true', ["u3"]],
    ['active eq true and not (userName sw "b" or userName sw "1")', ["u4"]],
    ['not (active eq true) or title pr', ["u1", "u2"]],
    ['not (not (emails.type eq "home"))', ["u1", "u2"]],
  ])("%s → %j", async (text, expected) => {
    const filter = parse(text);
    expect(await sqlIds(filter, "User")).toEqual(expected);
    expect(await sqlIds(filter, "User", IDP, false)).toEqual(expected);
    expect(memoryIds(filter, "User")).toEqual(expected);
  });

  it("keeps other connections out", async () => {
    expect(await sqlIds(parse('userName eq "bjensen@example.com"'), "User", OTHER_IDP)).toEqual(["u9"]);
  });
});

describe("compiled filters on D1: Groups", () => {
  it.each<[string, string[]]>([
    ['displayName eq "ADMINS"', ["g2"]],
    ['displayName sw "tour"', ["g1"]],
    ['displayName co "%"', ["g3"]],
    ['displayName co "_"', ["g3"]],
    ['members.value eq "u1"', ["g1", "g2"]],
    ['members eq "u2"', ["g1"]],
    ['members[value eq "u2"]', ["g1"]],
    ['members[value eq "U2"]', []],
    ['members.display eq "john smith"', ["g1"]],
    ["members pr", ["g1", "g2"]],
    ["not (members pr)", ["g3"]],
    ['members.value eq "u1" and not (members.value eq "u2")', ["g2"]],
    ['id eq "g1" and members eq "u1"', ["g1"]],
    ['meta.lastModified gt "2026-05-01T00:00:00Z"', ["g1"]],
    ['meta.created ge "2026-01-02T00:00:00.000Z"', ["g2", "g3"]],
    ['meta.resourceType eq "Group"', ["g1", "g2", "g3"]],
  ])("%s → %j", async (text, expected) => {
    const filter = parse(text);
    expect(await sqlIds(filter, "Group")).toEqual(expected);
    expect(memoryIds(filter, "Group")).toEqual(expected);
  });
});

describe("compiled sorting on D1", () => {
  async function sorted(sortBy: string | undefined, sortOrder: string | undefined, rt: "User" | "Group" = "User"): Promise<string[]> {
    const s = compileSort(sortBy, sortOrder, rt);
    if (!s.ok) throw s.error;
    const [table, a] = rt === "User" ? ["users u", "u"] : ["groups g", "g"];
    const { results } = await env.DB.prepare(`SELECT ${a}.id AS id FROM ${table} WHERE ${a}.idp_id = ? ORDER BY ${s.value.orderBy}`)
      .bind(IDP, ...s.value.params)
      .all<{ id: string }>();
    return results.map((r) => r.id);
  }

  it.each<[string | undefined, string | undefined, "User" | "Group", string[]]>([
    [undefined, undefined, "User", ["u1", "u2", "u3", "u4"]],
    [undefined, "descending", "User", ["u4", "u3", "u2", "u1"]],
    ["userName", undefined, "User", ["u3", "u1", "u2", "u4"]],
    ["userName", "descending", "User", ["u4", "u2", "u1", "u3"]],
    // missing values last when ascending, first when descending
    ["displayName", "ascending", "User", ["u1", "u2", "u3", "u4"]],
    ["displayName", "descending", "User", ["u4", "u3", "u2", "u1"]],
    ["externalId", undefined, "User", ["u1", "u2", "u3", "u4"]],
    // primary email first, else first email
    ["emails", undefined, "User", ["u1", "u4", "u2", "u3"]],
    [`${ENT}:department`, undefined, "User", ["u2", "u1", "u3", "u4"]],
    ["meta.lastModified", "descending", "User", ["u1", "u3", "u4", "u2"]],
    ["displayName", undefined, "Group", ["g2", "g3", "g1"]],
    ["members", undefined, "Group", ["g1", "g2", "g3"]],
  ])("sortBy=%s sortOrder=%s (%s)", async (sortBy, sortOrder, rt, expected) => {
    expect(await sorted(sortBy, sortOrder, rt)).toEqual(expected);
  });
});

/** Random filters over the attributes of the fixture, with values that hit its data. */
const arbitraryUserFilter: fc.Arbitrary<Filter> = (() => {
  const paths = fc.constantFrom(
    "userName", "externalId", "id", "displayName", "title", "nickName", "active", "name.givenName", "name.formatted",
    "emails", "emails.value", "emails.type", "emails.primary", "phoneNumbers.value", "groups", "groups.display",
    "meta.created", "meta.lastModified", `${ENT}:department`, `${ENT}:manager`, `${CUSTOM}:level`, `${CUSTOM}:nick`, `${CUSTOM}:vip`,
  );
  const subs = fc.constantFrom("value", "type", "primary", "display");
  const value = fc.oneof(
    fc.constantFrom("bjensen", "B", "", "%", "_", "*", "work", "WORK", "Tour", "ext-abc", "Ext-ABC", "g1", "m-1", "2026-03-01", "2026-11-23T18:20:50.122Z", "[]", "É"),
    // emails needles: ≥ 3 characters go through the trigram index, with LIKE wildcards, quotes, backslashes, unicode
    fc.constantFrom("@example.", "js%home", "S%H", "Jensen.ORG", "émile@", "MILE", ".fr", '"x"', "a\\b", "%_u"),
    fc.string({ maxLength: 4 }),
    fc.constantFrom(0, 3, 7, 7.5, -1, true, false, null),
  );
  const op = fc.constantFrom("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le" as const);
  const leaf = (p: fc.Arbitrary<string>): fc.Arbitrary<Filter> =>
    fc.oneof(fc.record({ kind: fc.constant("compare" as const), path: p, op, value }), fc.record({ kind: fc.constant("present" as const), path: p }));
  const subLeaf = leaf(subs) as fc.Arbitrary<SubAttrFilter>;
  const inner = fc.letrec<{ f: Filter }>((tie) => ({
    f: fc.oneof(
      { depthSize: "small" },
      leaf(subs),
      fc.record({ kind: fc.constantFrom("and" as const, "or" as const), left: tie("f"), right: tie("f") }),
      fc.record({ kind: fc.constant("not" as const), filter: tie("f") }),
    ),
  })).f;
  return fc.letrec<{ f: Filter }>((tie) => ({
    f: fc.oneof(
      { depthSize: "small" },
      leaf(paths),
      fc.record({ kind: fc.constantFrom("and" as const, "or" as const), left: tie("f"), right: tie("f") }),
      fc.record({ kind: fc.constant("not" as const), filter: tie("f") }),
      fc.record({ kind: fc.constant("valuePath" as const), path: fc.constantFrom("emails", "phoneNumbers", "groups", "name"), filter: inner }),
      // `emails[type eq "work"].value eq "x"`: the same element satisfies the brackets and the comparison
      fc.record({ kind: fc.constant("valuePath" as const), path: fc.constantFrom("emails", "phoneNumbers", "groups", "name"), filter: inner, sub: subLeaf }),
    ),
  })).f;
})();

describe("properties on D1", () => {
  it("every compilable random filter runs without SQL error and agrees with the in-memory evaluator", async () => {
    let compiled = 0;
    await fc.assert(
      fc.asyncProperty(arbitraryUserFilter, async (generated) => {
        const reparsed = parseFilter(printFilter(generated));
        if (!reparsed.ok) return; // only the documented size limits
        const filter = reparsed.value;
        if (!compileFilter(filter, "User").ok) return; // a 400, e.g. "gt" on a boolean
        compiled++;
        const expected = memoryIds(filter, "User");
        expect(await sqlIds(filter, "User")).toEqual(expected);
        expect(await sqlIds(filter, "User", IDP, false)).toEqual(expected);
      }),
      { numRuns: 400 },
    );
    expect(compiled).toBeGreaterThan(100);
  }, 60_000);

  it("parsed random text never produces SQL that D1 rejects", async () => {
    const alphabet = fc.constantFrom(..."ab eqnotrpandorswco()[]\"%_*.\\:$-01".split(""), "userName", "emails", "members", "title", " and ", " or ", " eq ", " pr");
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: alphabet, maxLength: 30 }), fc.constantFrom("User" as const, "Group" as const), async (text, rt) => {
        const parsed = parseFilter(text);
        if (!parsed.ok) return;
        if (!compileFilter(parsed.value, rt).ok) return;
        await sqlIds(parsed.value, rt);
      }),
      { numRuns: 400 },
    );
  }, 60_000);
});
