/// <reference types="vite/client" />
/**
 * Replays recorded IdP request sequences (test/fixtures/idp/{entra,okta}/*.json) against a fresh
 * connection each, in workerd. Every step asserts its status; every response must be
 * `application/scim+json`; every error must have the RFC 7644 §3.12 shape; the directory left
 * behind is compared with the fixture's `finalState` through SCIM and through D1.
 *
 * Expected bodies are partial: objects match a subset of keys, arrays match "contains these
 * elements" (each expected element against a distinct actual one). Objects whose keys all start
 * with `$` are matchers: `$absent`, `$present`, `$type`, `$length`, `$contains`, `$startsWith`,
 * `$endsWith`, `$exact` (several may be combined). `{{var}}` in paths, headers and bodies is
 * replaced by ids captured from earlier responses (`capture: { var: "/json/pointer" }`), and
 * `{{other.secret}}` by the secret of a second connection created for the fixture.
 */
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { createConnection, scim, type TestConnection } from "../helpers";

const ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error";
const LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const SCIM_JSON = /^application\/scim\+json\s*(;|$)/i;

// ---------------------------------------------------------------------------------------------
// Fixture format

const stepSchema = z.strictObject({
  name: z.string().min(1),
  note: z.string().optional(),
  request: z.strictObject({
    method: z.enum(["GET", "POST", "PUT", "PATCH", "DELETE"]),
    /** Relative to the connection's SCIM base, in the IdP's own encoding (no raw spaces). */
    path: z.string().regex(/^\/[^\s]*$/),
    /** `null` removes the header (e.g. `"Authorization": null` sends no credentials). */
    headers: z.record(z.string(), z.string().nullable()).optional(),
    body: z.unknown().optional(),
  }),
  expect: z.strictObject({
    /** A list when RFC 7644 allows either (PATCH: 200 with the resource, or 204). */
    status: z.union([z.number().int(), z.array(z.number().int()).min(1)]),
    body: z.unknown().optional(),
    headers: z.record(z.string(), z.unknown()).optional(),
  }),
  capture: z.record(z.string().regex(/^[\w.]+$/), z.string().startsWith("/")).optional(),
});

const fixtureSchema = z.strictObject({
  name: z.string().min(1),
  source: z.string().min(1),
  description: z.string().min(1),
  steps: z.array(stepSchema).min(1),
  finalState: z.strictObject({
    users: z.array(z.looseObject({ userName: z.string(), active: z.boolean() })),
    groups: z.array(z.looseObject({ displayName: z.string(), members: z.array(z.string()) })),
  }),
});

type Fixture = z.infer<typeof fixtureSchema>;
type Step = z.infer<typeof stepSchema>;
type Vars = Map<string, string>;
type Json = Record<string, unknown>;

const connectionTypes = { entra: "azureAD", okta: "okta" } as const;

interface LoadedFixture {
  file: string;
  idp: keyof typeof connectionTypes;
  fixture: Fixture;
}

const modules = import.meta.glob("../fixtures/idp/**/*.json", { eager: true, import: "default" });

const loaded: LoadedFixture[] = Object.entries(modules)
  .sort(([a], [b]) => a.localeCompare(b))
  .map(([file, raw]) => {
    const idp = /\/idp\/([^/]+)\//.exec(file)?.[1];
    if (idp !== "entra" && idp !== "okta") throw new Error(`${file}: fixtures live under idp/entra or idp/okta`);
    const parsed = fixtureSchema.safeParse(raw);
    if (!parsed.success) throw new Error(`${file}: not a valid fixture:\n${z.prettifyError(parsed.error)}`);
    return { file, idp, fixture: parsed.data };
  });

// ---------------------------------------------------------------------------------------------
// Placeholders, pointers, matching

function fillString(s: string, vars: Vars, where: string): string {
  return s.replace(/\{\{([\w.]+)\}\}/g, (_, name: string) => {
    const v = vars.get(name);
    if (v === undefined) throw new Error(`${where}: {{${name}}} used before it was captured`);
    return v;
  });
}

function fill(value: unknown, vars: Vars, where: string): unknown {
  if (typeof value === "string") return fillString(value, vars, where);
  if (Array.isArray(value)) return value.map((v) => fill(v, vars, where));
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [fillString(k, vars, where), fill(v, vars, where)]));
  return value;
}

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** RFC 6901 JSON pointer lookup. */
function pointer(doc: unknown, ptr: string): unknown {
  let cur = doc;
  for (const raw of ptr.split("/").slice(1)) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (Array.isArray(cur)) cur = cur[Number(key)];
    else if (isObject(cur)) cur = cur[key];
    else return undefined;
  }
  return cur;
}

const show = (v: unknown) => (v === undefined ? "undefined" : JSON.stringify(v));

function isMatcher(v: unknown): v is Json {
  return isObject(v) && Object.keys(v).length > 0 && Object.keys(v).every((k) => k.startsWith("$"));
}

function typeOf(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
}

/** Collects every way `actual` fails to match the partial `expected`; an empty list is a match. */
function mismatches(actual: unknown, expected: unknown, at = "$"): string[] {
  if (isMatcher(expected)) {
    const out: string[] = [];
    for (const [op, arg] of Object.entries(expected)) {
      switch (op) {
        case "$absent":
          if ((actual !== undefined) === Boolean(arg)) out.push(`${at}: expected ${arg ? "absent" : "present"}, got ${show(actual)}`);
          break;
        case "$present":
          if ((actual !== undefined && actual !== null) !== Boolean(arg)) out.push(`${at}: expected ${arg ? "a value" : "nothing"}, got ${show(actual)}`);
          break;
        case "$type":
          if (typeOf(actual) !== arg) out.push(`${at}: expected type ${String(arg)}, got ${typeOf(actual)} ${show(actual)}`);
          break;
        case "$length":
          if (!Array.isArray(actual) || actual.length !== arg) {
            out.push(`${at}: expected an array of length ${String(arg)}, got ${Array.isArray(actual) ? actual.length : typeOf(actual)}`);
          }
          break;
        case "$contains":
          out.push(...mismatches(actual, arg, at));
          break;
        case "$startsWith":
          if (typeof actual !== "string" || !actual.startsWith(String(arg))) out.push(`${at}: expected to start with ${show(arg)}, got ${show(actual)}`);
          break;
        case "$endsWith":
          if (typeof actual !== "string" || !actual.endsWith(String(arg))) out.push(`${at}: expected to end with ${show(arg)}, got ${show(actual)}`);
          break;
        case "$exact":
          if (JSON.stringify(actual) !== JSON.stringify(arg)) out.push(`${at}: expected exactly ${show(arg)}, got ${show(actual)}`);
          break;
        default:
          out.push(`${at}: unknown matcher ${op} in fixture`);
      }
    }
    return out;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return [`${at}: expected an array, got ${show(actual)}`];
    const used = new Set<number>();
    const out: string[] = [];
    expected.forEach((want, i) => {
      const hit = actual.findIndex((got, j) => !used.has(j) && mismatches(got, want).length === 0);
      if (hit === -1) out.push(`${at}: no element matches expected[${i}] ${show(want)}`);
      else used.add(hit);
    });
    return out;
  }
  if (isObject(expected)) {
    if (!isObject(actual)) return [`${at}: expected an object, got ${show(actual)}`];
    return Object.entries(expected).flatMap(([k, v]) => mismatches(actual[k], v, `${at}.${k}`));
  }
  return Object.is(actual, expected) ? [] : [`${at}: expected ${show(expected)}, got ${show(actual)}`];
}

// ---------------------------------------------------------------------------------------------
// One SCIM exchange with the response-level invariants every step shares

interface Exchange {
  res: Response;
  text: string;
  body: unknown;
}

async function send(conn: TestConnection, step: Step, vars: Vars, where: string): Promise<Exchange> {
  const { method } = step.request;
  const path = fillString(step.request.path, vars, where);
  const headers: Record<string, string> = {};
  let withoutAuth = false;
  for (const [name, value] of Object.entries(step.request.headers ?? {})) {
    // Lower-cased so a fixture's `Content-Type`/`Authorization` replaces the helper's default.
    if (value === null) {
      if (name.toLowerCase() === "authorization") withoutAuth = true;
      continue;
    }
    headers[name.toLowerCase()] = fillString(value, vars, where);
  }
  const body = step.request.body === undefined ? undefined : JSON.stringify(fill(step.request.body, vars, where));
  const res = withoutAuth
    ? await exports.default.fetch(`${conn.scimBaseUrl}${path}`, {
        method,
        headers: { ...(body === undefined ? {} : { "content-type": "application/scim+json" }), ...headers },
        body,
      })
    : await scim(conn, method, path, body, headers);
  return checkResponse(res, await res.text(), `${where} ${method} ${path}`);
}

/** Content-Type and the RFC 7644 §3.12 error shape, for every response. */
function checkResponse(res: Response, text: string, where: string): Exchange {
  let body: unknown;
  if (res.status === 204) {
    expect(text, `${where}: a 204 has no body`).toBe("");
  } else {
    expect(res.headers.get("content-type") ?? "(none)", `${where}: Content-Type of a ${res.status}`).toMatch(SCIM_JSON);
    try {
      body = JSON.parse(text);
    } catch {
      expect.fail(`${where}: ${res.status} body is not JSON: ${text.slice(0, 300)}`);
    }
  }
  if (res.status >= 400) {
    const err = isObject(body) ? body : {};
    const shape = [
      Array.isArray(err.schemas) && err.schemas.includes(ERROR_SCHEMA) ? "" : `schemas must contain ${ERROR_SCHEMA}`,
      err.status === String(res.status) ? "" : `status must be the string "${res.status}", got ${show(err.status)}`,
      typeof err.detail === "string" ? "" : `detail must be a string, got ${show(err.detail)}`,
    ].filter(Boolean);
    expect(shape, `${where}: RFC 7644 §3.12 error body ${text.slice(0, 300)}`).toEqual([]);
  }
  return { res, text, body };
}

async function runStep(conn: TestConnection, step: Step, vars: Vars, where: string): Promise<void> {
  const { res, text, body } = await send(conn, step, vars, where);
  const allowed = Array.isArray(step.expect.status) ? step.expect.status : [step.expect.status];
  expect(allowed, `${where}: expected status ${allowed.join(" or ")}, got ${res.status}: ${text.slice(0, 500)}`).toContain(res.status);

  // Capture first: a create's own id appears in its expected Location and meta.location.
  for (const [name, ptr] of Object.entries(step.capture ?? {})) {
    const v = pointer(body, ptr);
    expect(typeof v === "string" || typeof v === "number", `${where}: capture ${name} from ${ptr}, got ${show(v)}`).toBe(true);
    vars.set(name, String(v));
  }

  if (step.expect.headers) {
    const actual = Object.fromEntries(Object.keys(step.expect.headers).map((h) => [h, res.headers.get(h) ?? undefined]));
    const expected = Object.fromEntries(Object.entries(step.expect.headers).map(([h, m]) => [h, fill(m, vars, where)]));
    expect(mismatches(actual, expected, "headers"), `${where}: response headers`).toEqual([]);
  }
  // A PATCH answered 204 (allowed by RFC 7644 §3.5.2) has no body to compare.
  if (step.expect.body !== undefined && res.status !== 204) {
    const diff = mismatches(body, fill(step.expect.body, vars, where));
    expect(diff, `${where}: body mismatch; got ${text.slice(0, 1500)}`).toEqual([]);
  }
}

// ---------------------------------------------------------------------------------------------
// Final directory state, through SCIM and through D1

async function listAll(conn: TestConnection, resource: "Users" | "Groups", where: string): Promise<Json[]> {
  const out: Json[] = [];
  for (let startIndex = 1; ; ) {
    const res = await scim(conn, "GET", `/${resource}?startIndex=${startIndex}&count=100`);
    const { body, text } = checkResponse(res, await res.text(), `${where} GET /${resource}`);
    expect(res.status, `${where}: list ${resource}: ${text.slice(0, 300)}`).toBe(200);
    const page = isObject(body) ? body : {};
    expect(page.schemas, `${where}: list ${resource} schemas`).toContain(LIST_SCHEMA);
    const resources = Array.isArray(page.Resources) ? page.Resources.filter(isObject) : [];
    out.push(...resources);
    const total = typeof page.totalResults === "number" ? page.totalResults : 0;
    if (resources.length === 0 || out.length >= total) break;
    startIndex += resources.length;
  }
  return out;
}

async function assertFinalState(conn: TestConnection, fixture: Fixture): Promise<void> {
  const where = `[${fixture.name}] finalState`;
  const expected = fixture.finalState;

  const users = await listAll(conn, "Users", where);
  const userNameById = new Map(users.map((u) => [String(u.id), String(u.userName)]));
  expect([...userNameById.values()].sort(), `${where}: userNames listed through SCIM`).toEqual(expected.users.map((u) => u.userName).sort());
  for (const want of expected.users) {
    const got = users.find((u) => u.userName === want.userName);
    expect(mismatches(got, want), `${where}: user ${want.userName}: ${show(got)}`).toEqual([]);
  }

  const groups = await listAll(conn, "Groups", where);
  expect(groups.map((g) => String(g.displayName)).sort(), `${where}: group displayNames listed through SCIM`).toEqual(
    expected.groups.map((g) => g.displayName).sort(),
  );
  for (const want of expected.groups) {
    const listed = groups.find((g) => g.displayName === want.displayName);
    // Members are read from the group itself: a list may leave them out for large groups.
    const res = await scim(conn, "GET", `/Groups/${String(listed?.id)}`);
    const { body, text } = checkResponse(res, await res.text(), `${where} GET /Groups/${String(listed?.id)}`);
    expect(res.status, `${where}: group ${want.displayName}: ${text.slice(0, 300)}`).toBe(200);
    const group = isObject(body) ? body : {};
    const members = (Array.isArray(group.members) ? group.members : []).map((m) =>
      isObject(m) ? (userNameById.get(String(m.value)) ?? `<unknown id ${String(m.value)}>`) : show(m),
    );
    expect(members.sort(), `${where}: members of ${want.displayName}`).toEqual([...want.members].sort());
    const { members: _members, ...rest } = want;
    expect(mismatches(group, rest), `${where}: group ${want.displayName}: ${text.slice(0, 500)}`).toEqual([]);
  }

  // The same state straight from D1: nothing hidden from SCIM, nothing half-written.
  const dbUsers = await env.DB.prepare("SELECT user_name, active FROM users WHERE idp_id = ?")
    .bind(conn.id)
    .all<{ user_name: string; active: number }>();
  const byUserName = (a: { userName: string }, b: { userName: string }) => (a.userName < b.userName ? -1 : a.userName > b.userName ? 1 : 0);
  expect(
    dbUsers.results.map((r) => ({ userName: r.user_name, active: Boolean(r.active) })).sort(byUserName),
    `${where}: users rows in D1`,
  ).toEqual(expected.users.map((u) => ({ userName: u.userName, active: u.active })).sort(byUserName));
  const dbGroups = await env.DB.prepare(
    `SELECT g.display_name AS display_name, u.user_name AS user_name
       FROM groups g LEFT JOIN group_members m ON m.group_id = g.id LEFT JOIN users u ON u.id = m.user_id
      WHERE g.idp_id = ?`,
  )
    .bind(conn.id)
    .all<{ display_name: string; user_name: string | null }>();
  const byGroup = new Map<string, string[]>();
  for (const r of dbGroups.results) {
    const list = byGroup.get(r.display_name) ?? [];
    if (r.user_name !== null) list.push(r.user_name);
    byGroup.set(r.display_name, list);
  }
  expect(
    Object.fromEntries([...byGroup].map(([name, members]) => [name, members.sort()])),
    `${where}: groups and group_members rows in D1`,
  ).toEqual(Object.fromEntries(expected.groups.map((g) => [g.displayName, [...g.members].sort()])));
}

async function assertEmpty(conn: TestConnection, where: string): Promise<void> {
  expect(await listAll(conn, "Users", where), `${where}: users`).toEqual([]);
  expect(await listAll(conn, "Groups", where), `${where}: groups`).toEqual([]);
}

// ---------------------------------------------------------------------------------------------

describe("IdP replay fixtures", () => {
  it("loads every fixture under test/fixtures/idp", () => {
    const names = loaded.map((l) => l.fixture.name);
    expect(names.filter((n) => n.startsWith("entra/")).length).toBeGreaterThanOrEqual(4);
    expect(names.filter((n) => n.startsWith("okta/")).length).toBeGreaterThanOrEqual(3);
    for (const { file, idp, fixture } of loaded) {
      expect(fixture.name, `${file}: name is <idp>/<file name>`).toBe(`${idp}/${file.replace(/^.*\//, "").replace(/\.json$/, "")}`);
    }
  });

  for (const { idp, fixture } of loaded) {
    it(fixture.name, { timeout: 60_000 }, async () => {
      const conn = await createConnection({ type: connectionTypes[idp], name: `replay ${fixture.name}` });
      const vars: Vars = new Map();
      let other: TestConnection | undefined;
      if (JSON.stringify(fixture.steps).includes("{{other.secret}}")) {
        other = await createConnection({ type: connectionTypes[idp], name: `replay ${fixture.name} (other)` });
        vars.set("other.secret", other.secret);
      }

      for (const [i, step] of fixture.steps.entries()) {
        await runStep(conn, step, vars, `[${fixture.name}] step ${i + 1} "${step.name}"`);
      }

      await assertFinalState(conn, fixture);
      if (other) await assertEmpty(other, `[${fixture.name}] other connection`);
    });
  }
});
