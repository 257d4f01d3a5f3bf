import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import type { Filter } from "../../src/scim/filter/ast";
import { compileFilter } from "../../src/scim/filter/compile";
import { matchesFilter } from "../../src/scim/filter/evaluate";
import { parseFilter } from "../../src/scim/filter/parse";
import { createConnection, scim, type TestConnection } from "../helpers";

// emails filters as semi-joins and through the FTS5 trigram index (migrations/0003_email_trigram.sql),
// on users written through the SCIM API (so the index is kept by the triggers on the real write path).
// Every filter is compiled with the connection id (semi-joins on user_emails_idp_value or the trigram
// index) and without (trigram semi-joins only, else EXISTS), and evaluated in memory; all three must
// agree with the expected userNames.

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

type Json = Record<string, any>;
const email = (value: string, type = "work", primary = false) => ({ value, type, ...(primary ? { primary } : {}) });

let conn: TestConnection;
let other: TestConnection;
const rendered: Json[] = [];

async function createUser(c: TestConnection, userName: string, emails: Json[]): Promise<Json> {
  const res = await scim(c, "POST", "/Users", { schemas: [USER], userName, ...(emails.length ? { emails } : {}) });
  expect(res.status).toBe(201);
  return (await res.json()) as Json;
}

beforeAll(async () => {
  conn = await createConnection();
  other = await createConnection();
  rendered.push(
    await createUser(conn, "alice", [email("Alice.Smith@Example.com", "work", true), email("a%b_c@x.io", "home")]),
    await createUser(conn, "quote", [email('Quote"Mark@x.io'), email("back\\slash@x.io")]),
    await createUser(conn, "jose", [email("José.Müller@Bücher.de"), email("ÉMILE@EXAMPLE.FR")]),
    await createUser(conn, "nomail", []),
    await createUser(conn, "short", [email("x@y.z")]),
  );
  // The same address in another connection must never show up.
  await createUser(other, "alice-elsewhere", [email("alice.smith@example.com"), email("a%b_c@x.io")]);
});

function parse(text: string): Filter {
  const r = parseFilter(text);
  if (!r.ok) throw r.error;
  return r.value;
}

/** userNames matched in SQL, compiled with the connection id (`withIdp`) or without. */
async function sqlNames(filter: Filter, c: TestConnection, withIdp: boolean): Promise<string[]> {
  const compiled = compileFilter(filter, "User", withIdp ? { idpId: c.id } : {});
  if (!compiled.ok) throw compiled.error;
  const { results } = await env.DB.prepare(`SELECT u.user_name AS n FROM users u WHERE u.idp_id = ? AND (${compiled.value.where}) ORDER BY u.user_name`)
    .bind(c.id, ...compiled.value.params)
    .all<{ n: string }>();
  return results.map((r) => r.n);
}

const memoryNames = (filter: Filter) => rendered.filter((u) => matchesFilter(u, filter, "User")).map((u) => u.userName as string).sort();

async function expectMatches(text: string, expected: string[]) {
  const filter = parse(text);
  expect(await sqlNames(filter, conn, true)).toEqual(expected);
  expect(await sqlNames(filter, conn, false)).toEqual(expected);
  expect(memoryNames(filter)).toEqual(expected);
}

describe("emails.value co/ew/sw/eq on D1, with and without the connection id", () => {
  it.each<[string, string[]]>([
    // co with ≥ 3 characters: trigram MATCH + exact LIKE
    ['emails.value co "smith"', ["alice"]],
    ['emails.value co "SMITH@EXAMPLE.COM"', ["alice"]],
    ['emails co "mith@"', ["alice"]],
    ['emails.value co "smith@example.org"', []],
    ['emails.value co "zzz"', []],
    // co with < 3 characters: plain LIKE (FTS5 has no trigram to look up)
    ['emails.value co "@x"', ["alice", "quote"]],
    ['emails.value co "z"', ["short"]],
    // LIKE wildcards are literals, short and long
    ['emails.value co "%"', ["alice"]],
    ['emails.value co "_"', ["alice"]],
    ['emails.value co "a%b"', ["alice"]],
    ['emails.value co "%b_c"', ["alice"]],
    ['emails.value co "a_b"', []],
    ['emails.value co "%_"', []],
    // double quotes: doubled inside the FTS5 phrase
    ['emails.value co "\\""', ["quote"]],
    ['emails.value co "e\\"m"', ["quote"]],
    ['emails.value co "\\"MARK@"', ["quote"]],
    ['emails.value co "\\"\\""', []],
    ['emails.value co "\\"\\"\\""', []],
    // backslashes (the LIKE escape character)
    ['emails.value co "\\\\"', ["quote"]],
    ['emails.value co "k\\\\s"', ["quote"]],
    ['emails.value co "\\\\\\\\sl"', []],
    // unicode: JS lower-casing on both sides, code points (not UTF-16 units) for the 3-character rule
    ['emails.value co "MÜLLER"', ["jose"]],
    ['emails.value co "ü"', ["jose"]],
    ['emails.value co "Bücher.de"', ["jose"]],
    ['emails.value co "émile@"', ["jose"]],
    ['emails.value co "EMILE"', []],
    ['emails.value co "😀😀"', []],
    ['emails.value co "😀😀😀"', []],
    // ew, sw, eq
    ['emails.value ew ".DE"', ["jose"]],
    ['emails.value ew "@X.IO"', ["alice", "quote"]],
    ['emails.value ew "o"', ["alice", "quote"]],
    ['emails.value ew "example.com"', ["alice"]],
    ['emails.value ew "example"', []],
    ['emails.value sw "ALICE."', ["alice"]],
    ['emails.value sw "a"', ["alice"]],
    ['emails.value sw "é"', ["jose"]],
    ['emails.value eq "X@Y.Z"', ["short"]],
    ['emails eq "a%b_c@x.io"', ["alice"]],
    // negation keeps users without emails (two-valued logic)
    ['not (emails.value co "smith")', ["jose", "nomail", "quote", "short"]],
    ['emails.value ne "x@y.z"', ["alice", "jose", "nomail", "quote"]],
    ['not (emails[value co "x.io"])', ["jose", "nomail", "short"]],
    // valuePath: one element satisfies everything
    ['emails[type eq "home" and value co "%b_"]', ["alice"]],
    ['emails[type eq "work" and value co "%b_"]', []],
    ['emails[value co "mark" or value co "smith"]', ["alice", "quote"]],
    ['emails[value co "smith" and primary eq true]', ["alice"]],
    ['emails[value co "x.io" and not (value co "slash")]', ["alice", "quote"]],
    ['emails[value sw "q" or type eq "home"]', ["alice", "quote"]],
    ['emails.value co "smith" or emails.value co "müller"', ["alice", "jose"]],
  ])("%s → %j", async (text, expected) => {
    await expectMatches(text, expected);
  });

  it("never matches another connection's emails", async () => {
    expect(await sqlNames(parse('emails.value co "smith"'), other, true)).toEqual(["alice-elsewhere"]);
    expect(await sqlNames(parse('emails.value co "%b_c"'), other, true)).toEqual(["alice-elsewhere"]);
  });

  it("user_emails is a rowid table (the trigram index's key)", async () => {
    // A WITHOUT ROWID table has no rowid column: this would fail.
    expect(await env.DB.prepare("SELECT count(rowid) AS n FROM user_emails").first<number>("n")).toBeGreaterThan(0);
  });
});

describe("query plans on D1 (EXPLAIN QUERY PLAN, no ANALYZE statistics)", () => {
  async function plan(text: string, withIdp = true): Promise<string> {
    const compiled = compileFilter(parse(text), "User", withIdp ? { idpId: conn.id } : {});
    if (!compiled.ok) throw compiled.error;
    const sql = `SELECT u.* FROM users u WHERE u.idp_id = ? AND (${compiled.value.where}) ORDER BY u.created_at, u.id LIMIT ? OFFSET ?`;
    const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
      .bind(conn.id, ...compiled.value.params, 100, 0)
      .all<{ detail: string }>();
    return results.map((r) => r.detail).join("\n");
  }

  it.each([true, false])("co with ≥ 3 characters: the subquery runs once, driven by the trigram index, then rowid lookups (connection id: %s)", async (withIdp) => {
    for (const text of ['emails.value co "user0054321@"', 'emails[type eq "work" and value co "user0054321@"]']) {
      const p = await plan(text, withIdp);
      expect(p).not.toContain("CORRELATED");
      expect(p).toContain("SCAN user_emails_trigram VIRTUAL TABLE INDEX 0:M1");
      expect(p).toContain("SEARCH ue USING INTEGER PRIMARY KEY (rowid=?)");
    }
  });

  it("sw and eq: one range search of user_emails_idp_value", async () => {
    expect(await plan('emails.value sw "user0054321@"')).toContain("SEARCH ue USING INDEX user_emails_idp_value (idp_id=? AND value_lower>? AND value_lower<?)");
    expect(await plan('emails.value eq "user0054321@bench.example"')).toContain("SEARCH ue USING INDEX user_emails_idp_value (idp_id=? AND value_lower=?)");
    expect(await plan('emails.value sw "user0054321@"')).not.toContain("CORRELATED");
  });
});

describe("the trigram index follows every write", () => {
  const integrity = () => env.DB.prepare("INSERT INTO user_emails_trigram (user_emails_trigram, rank) VALUES ('integrity-check', 1)").run();
  const names = (text: string) => sqlNames(parse(text), conn, true);

  it("after POST, PUT, PATCH, a direct UPDATE and DELETE", async () => {
    const u = await createUser(conn, "sync", [email("first.address@sync.test", "work", true)]);
    expect(await names('emails.value co "first.addr"')).toEqual(["sync"]);

    const put = await scim(conn, "PUT", `/Users/${u.id}`, { schemas: [USER], userName: "sync", emails: [email("second.address@sync.test")] });
    expect(put.status).toBe(200);
    expect(await names('emails.value co "first.addr"')).toEqual([]);
    expect(await names('emails.value co "second.addr"')).toEqual(["sync"]);

    const replace = await scim(conn, "PATCH", `/Users/${u.id}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "emails", value: [email("third@sync.test")] }] });
    expect(replace.status).toBe(200);
    expect(await names('emails.value co "second"')).toEqual([]);
    expect(await names('emails.value co "third@"')).toEqual(["sync"]);

    const add = await scim(conn, "PATCH", `/Users/${u.id}`, { schemas: [PATCH_OP], Operations: [{ op: "add", path: "emails", value: [email("fourth@sync.test", "home")] }] });
    expect(add.status).toBe(200);
    expect(await names('emails.value co "third@"')).toEqual(["sync"]);
    expect(await names('emails.value co "fourth@"')).toEqual(["sync"]);

    // No write path updates user_emails in place today; the UPDATE trigger covers one that would.
    await env.DB.prepare("UPDATE user_emails SET value = 'Fifth@Sync.test', value_lower = 'fifth@sync.test' WHERE user_id = ? AND value_lower = 'fourth@sync.test'").bind(u.id).run();
    expect(await names('emails.value co "fourth@"')).toEqual([]);
    expect(await names('emails.value co "fifth@"')).toEqual(["sync"]);
    await integrity();

    expect((await scim(conn, "DELETE", `/Users/${u.id}`)).status).toBe(204);
    expect(await names('emails.value co "sync.test"')).toEqual([]);
    const leftovers = await env.DB.prepare("SELECT count(*) AS n FROM user_emails_trigram WHERE user_emails_trigram MATCH '\"sync.test\"'").first<number>("n");
    expect(leftovers).toBe(0);
    await integrity();
  });

  it("integrity-check notices an index out of step, and 'rebuild' repairs it (migration 0003's recovery)", async () => {
    await integrity();
    await env.DB.prepare("INSERT INTO user_emails_trigram (rowid, value_lower) VALUES (999999, 'stray@nowhere.test')").run();
    await expect(integrity()).rejects.toThrow();
    await env.DB.prepare("INSERT INTO user_emails_trigram (user_emails_trigram) VALUES ('rebuild')").run();
    await integrity();
    await expectMatches('emails.value co "smith"', ["alice"]);
  });
});
