import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { directoryIdentity, findDirectoryUser } from "../../src/access/identity";
import { admin, createConnection, recordingD1, scim, type TestConnection } from "../helpers";

type Json = Record<string, any>;

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const res = await admin(method, `/api/v1${path}`, body);
  return { status: res.status, body: (await res.json()) as Json };
}

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

async function user(conn: TestConnection, userName: string, email = userName, extra: Json = {}): Promise<string> {
  const res = await scim(conn, "POST", "/Users", { schemas: [USER], userName, active: true, emails: [{ value: email, primary: true }], ...extra });
  if (res.status !== 201) throw new Error(`user: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

async function group(conn: TestConnection, displayName: string, members: string[], externalId?: string): Promise<string> {
  const res = await scim(conn, "POST", "/Groups", { schemas: [GROUP], displayName, ...(externalId ? { externalId } : {}), members: members.map((value) => ({ value })) });
  if (res.status !== 201) throw new Error(`group: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

async function deactivate(conn: TestConnection, id: string) {
  const res = await scim(conn, "PATCH", `/Users/${id}`, { schemas: [PATCH], Operations: [{ op: "replace", value: { active: false } }] });
  if (res.status !== 200) throw new Error(`deactivate: ${res.status} ${await res.text()}`);
}

describe("policy simulator: the seed's example, allow example.com except SCIM group \"risky\"", () => {
  let okta: TestConnection;
  let appId: string;
  let allowId: string;
  let bypassId: string;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    okta = await createConnection({ type: "okta" });
    ids.alice = await user(okta, "alice@example.com");
    ids.bob = await user(okta, "bob@example.com");
    ids.carol = await user(okta, "carol@other.org");
    ids.eve = await user(okta, "eve@sub.example.com");
    ids.dave = await user(okta, "dave@example.com");
    ids.mixed = await user(okta, "Mixed.Case", "Mixed.Case@Example.com");
    await group(okta, "risky", [ids.bob as string]);
    await deactivate(okta, ids.dave as string);
    const app = await call("POST", "/access/apps", { name: "Seed", domain: "seed.example.com", origin: "https://seed.internal", allowed_idps: [okta.id] });
    appId = app.body.result.id;
    const allow = await call("POST", `/access/apps/${appId}/policies`, {
      name: "example.com except risky",
      decision: "allow",
      include: [{ email_domain: { domain: "example.com" } }],
      exclude: [{ okta: { name: "risky", identity_provider_id: okta.id } }],
    });
    expect(allow.status, JSON.stringify(allow.body)).toBe(200);
    allowId = allow.body.result.id;
    const bypass = await call("POST", `/access/apps/${appId}/policies`, { name: "office", decision: "bypass", include: [{ ip: { ip: "192.0.2.0/24" } }] });
    bypassId = bypass.body.result.id;
  });

  it.each([
    ["alice@example.com", undefined, "allow", "allow", { section: "include", index: 0, rule: { email_domain: { domain: "example.com" } } }, /allow by policy "example.com except risky": included by email_domain example.com/],
    ["ALICE@Example.COM", undefined, "allow", "allow", { section: "include", index: 0 }, /included by email_domain example.com/],
    ["bob@example.com", undefined, "default_deny", null, null, /excluded by okta group "risky"/],
    ["carol@other.org", undefined, "default_deny", null, null, /no include rule matched/],
    ["eve@sub.example.com", undefined, "default_deny", null, null, /no include rule matched/],
    ["mixed.case@example.com", undefined, "allow", "allow", { section: "include" }, /included by email_domain example.com/],
    ["carol@other.org", "192.0.2.7", "bypass", "bypass", { section: "include", index: 0, rule: { ip: { ip: "192.0.2.0/24" } } }, /bypass by policy "office"/],
    ["dave@example.com", undefined, "deny", null, null, /login refused: the user is deactivated.*were the user active: allow by policy/],
  ])("%s (ip %s) → %s", async (email, ip, decision, which, rule, reason) => {
    const res = await call("POST", `/access/apps/${appId}/simulate`, { email, ...(ip ? { ip } : {}) });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const r = res.body.result;
    expect(r.decision).toBe(decision);
    expect(r.reason).toMatch(reason);
    if (which === "allow") expect(r.policy).toEqual({ id: allowId, name: "example.com except risky", precedence: 1 });
    else if (which === "bypass") expect(r.policy).toEqual({ id: bypassId, name: "office", precedence: 2 });
    else expect(r.policy).toBeNull();
    if (rule) expect(r.rule).toMatchObject(rule);
    else expect(r.rule).toBeNull();
    expect(r.user).toMatchObject({ idp_id: okta.id, email: email.toLowerCase() });
    expect(r.matches).toEqual([{ decision: r.decision, policy: r.policy, rule: r.rule, reason: r.reason, user: r.user }]);
  });

  it("reports the user's SCIM groups and active flag, and takes a user_id", async () => {
    const res = await call("POST", `/access/apps/${appId}/simulate`, { user_id: ids.bob });
    expect(res.body.result).toMatchObject({ decision: "default_deny", user: { id: ids.bob, email: "bob@example.com", idp_id: okta.id, active: true, groups: ["risky"] } });
    const dave = await call("POST", `/access/apps/${appId}/simulate`, { user_id: ids.dave });
    expect(dave.body.result).toMatchObject({ decision: "deny", policy: null, user: { active: false } });
  });

  it("follows group membership changes made through SCIM immediately", async () => {
    const riskyId = ((await (await scim(okta, "GET", `/Groups?filter=${encodeURIComponent('displayName eq "risky"')}`)).json()) as Json).Resources[0].id;
    const add = await scim(okta, "PATCH", `/Groups/${riskyId}`, { schemas: [PATCH], Operations: [{ op: "add", path: "members", value: [{ value: ids.alice }] }] });
    expect(add.status).toBeLessThan(300);
    expect((await call("POST", `/access/apps/${appId}/simulate`, { email: "alice@example.com" })).body.result.decision).toBe("default_deny");
    await scim(okta, "PATCH", `/Groups/${riskyId}`, { schemas: [PATCH], Operations: [{ op: "remove", path: `members[value eq "${ids.alice}"]` }] });
    expect((await call("POST", `/access/apps/${appId}/simulate`, { email: "alice@example.com" })).body.result.decision).toBe("allow");
  });

  it.each([
    [{ email: "nobody@example.com" }, 404, 'No directory user with userName or primary email "nobody@example.com" in the identity providers this app allows'],
    [{ user_id: "no-such-user" }, 404, 'Directory user "no-such-user" not found'],
    [{}, 400, 'give exactly one of "email" or "user_id"'],
    [{ email: "a@example.com", user_id: "x" }, 400, 'give exactly one of "email" or "user_id"'],
    [{ email: "alice@example.com", ip: "300.1.1.1" }, 400, "ip: must be an IPv4 or IPv6 address"],
    [{ email: "alice@example.com", groups: ["x"] }, 400, "groups: unknown member"],
  ])("refuses %j with %i", async (body, status, message) => {
    const res = await call("POST", `/access/apps/${appId}/simulate`, body);
    expect(res.status).toBe(status);
    expect(res.body.errors[0].message).toContain(message);
  });

  it("404s an unknown app", async () => {
    const res = await call("POST", "/access/apps/nope/simulate", { email: "alice@example.com" });
    expect(res.status).toBe(404);
    expect(res.body.errors[0].message).toBe("Access application not found");
  });
});

describe("policy simulator across connections", () => {
  it("evaluates one user per connection the app allows; users of other connections are refused or ignored", async () => {
    const entra = await createConnection({ type: "azureAD" });
    const okta = await createConnection({ type: "okta" });
    const outside = await createConnection({ type: "oidc" });
    const email = `pat-${crypto.randomUUID().slice(0, 6)}@example.com`;
    const inEntra = await user(entra, email);
    const inOkta = await user(okta, email);
    const inOutside = await user(outside, email);
    await group(entra, "risky", [inEntra], "0c2a6f4e-0000-4000-8000-00000000aaaa");
    const app = (await call("POST", "/access/apps", { name: "Multi", domain: `multi-${crypto.randomUUID().slice(0, 6)}.example.com`, origin: "https://m.internal", allowed_idps: [entra.id, okta.id] })).body.result;
    await call("POST", `/access/apps/${app.id}/policies`, {
      name: "allow",
      decision: "allow",
      include: [{ email_domain: { domain: "example.com" } }],
      exclude: [{ azureAD: { id: "0C2A6F4E-0000-4000-8000-00000000AAAA", identity_provider_id: entra.id } }],
    });
    const res = await call("POST", `/access/apps/${app.id}/simulate`, { email });
    expect(res.status).toBe(200);
    const r = res.body.result;
    expect(r).toMatchObject({ decision: null, policy: null, rule: null, user: null });
    expect(r.reason).toContain(`2 directory users match "${email}"`);
    const byIdp = Object.fromEntries(r.matches.map((m: Json) => [m.user.idp_id, m]));
    expect(Object.keys(byIdp).sort()).toEqual([entra.id, okta.id].sort());
    expect(byIdp[entra.id]).toMatchObject({ decision: "default_deny", user: { id: inEntra, groups: ["risky"] } });
    expect(byIdp[entra.id].reason).toContain("excluded by azureAD group");
    expect(byIdp[okta.id]).toMatchObject({ decision: "allow", user: { id: inOkta, groups: [] } });

    // A user of a connection the app does not allow: login through it is refused.
    const direct = await call("POST", `/access/apps/${app.id}/simulate`, { user_id: inOutside });
    expect(direct.body.result).toMatchObject({ decision: "deny", policy: null, user: { id: inOutside, idp_id: outside.id } });
    expect(direct.body.result.reason).toContain("not in this app's allowed_idps");
  });

  it("reports an ambiguous match in one connection as a refused login, naming the candidates", async () => {
    const conn = await createConnection({ type: "okta" });
    const email = `twin-${crypto.randomUUID().slice(0, 6)}@example.com`;
    const a = await user(conn, "twin-a", email);
    const b = await user(conn, "twin-b", email);
    const app = (await call("POST", "/access/apps", { name: "Twins", domain: `twins-${crypto.randomUUID().slice(0, 6)}.example.com`, origin: "https://t.internal", allowed_idps: [conn.id] })).body.result;
    await call("POST", `/access/apps/${app.id}/policies`, { name: "all", decision: "allow", include: [{ everyone: {} }] });
    const r = (await call("POST", `/access/apps/${app.id}/simulate`, { email })).body.result;
    expect(r).toMatchObject({ decision: "deny", policy: null, user: { id: null, idp_id: conn.id, active: false } });
    expect(r.reason).toContain("2 users of identity provider");
    expect(r.matches[0].candidates.sort()).toEqual([a, b].sort());
  });
});

describe("directory identity", () => {
  it("directoryIdentity reads the user, their connection and their groups in one batch", async () => {
    const conn = await createConnection({ type: "azureAD" });
    const id = await user(conn, "Ann@Example.com", "Ann.Primary@Example.com", { displayName: "Ann" });
    const g = await group(conn, "Eng", [id], "ext-eng");
    const { db, calls } = recordingD1();
    const identity = await directoryIdentity(db, id);
    expect(calls).toEqual(["batch:2"]);
    expect(identity).toEqual({
      userId: id,
      userName: "Ann@Example.com",
      displayName: "Ann",
      active: true,
      groupsVersion: expect.any(Number),
      email: "ann.primary@example.com",
      idpId: conn.id,
      groups: [{ id: g, externalId: "ext-eng", name: "Eng" }],
      scimEnabled: true,
    });
    expect(identity?.groupsVersion).toBeGreaterThan(0);
    expect(await directoryIdentity(env.DB, "nope")).toBeNull();
  });

  it("findDirectoryUser: userName first, then primary email, case-insensitively, within one connection only", async () => {
    const a = await createConnection();
    const b = await createConnection();
    const byName = await user(a, "Sam@Example.com", "sam.other@example.com");
    // Another user whose primary email is the first user's userName: the userName match wins.
    await user(a, "sam-two", "sam@example.com");
    const byEmail = await user(a, "kim", "Kim@Example.com");
    const other = await user(b, "lee@example.com");
    expect(await findDirectoryUser(env.DB, a.id, "SAM@example.COM")).toEqual({ id: byName, active: true, ambiguous: false });
    expect(await findDirectoryUser(env.DB, a.id, " kim@example.com ")).toEqual({ id: byEmail, active: true, ambiguous: false });
    expect(await findDirectoryUser(env.DB, a.id, "KIM")).toEqual({ id: byEmail, active: true, ambiguous: false });
    // Tenant isolation: b's user is invisible through a, and the other way round.
    expect(await findDirectoryUser(env.DB, a.id, "lee@example.com")).toBeNull();
    expect(await findDirectoryUser(env.DB, b.id, "kim@example.com")).toBeNull();
    expect(await findDirectoryUser(env.DB, b.id, "lee@example.com")).toEqual({ id: other, active: true, ambiguous: false });
    expect(await findDirectoryUser(env.DB, a.id, "sam.other@example.com")).toEqual({ id: byName, active: true, ambiguous: false });
    // A secondary (non-primary) email identifies no one: the issue matches userName or primary email.
    const jo = await user(a, "jo", "jo@example.com", { emails: [{ value: "jo@example.com", primary: true }, { value: "jo.alias@example.com", type: "other" }] });
    expect(await findDirectoryUser(env.DB, a.id, "jo@example.com")).toEqual({ id: jo, active: true, ambiguous: false });
    expect(await findDirectoryUser(env.DB, a.id, "jo.alias@example.com")).toBeNull();
    expect(await findDirectoryUser(env.DB, a.id, "")).toBeNull();
  });
});
