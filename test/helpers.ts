import { env, exports } from "cloudflare:workers";
import { sessionsFor } from "../src/sessions/client";
import { openSession as openSessionWithService } from "../src/sessions/service";

export const ORIGIN = "https://edge.test";
export const ADMIN_TOKEN = "test-admin-token";

export interface TestConnection {
  id: string;
  secret: string;
  /** e.g. https://edge.test/populations/<id>/scim/v2 */
  scimBaseUrl: string;
}

/** Calls the Worker under test (in workerd) with the admin token. */
export async function admin(method: string, path: string, body?: unknown): Promise<Response> {
  return exports.default.fetch(`${ORIGIN}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** Creates an IdP connection through the admin API and returns its one-time SCIM secret. */
export async function createConnection(
  opts: { name?: string; type?: "azureAD" | "okta" | "oidc"; scim_config?: Record<string, unknown> } = {},
): Promise<TestConnection> {
  const res = await admin("POST", "/api/v1/access/identity_providers", {
    name: opts.name ?? `idp-${crypto.randomUUID().slice(0, 8)}`,
    type: opts.type ?? "azureAD",
    config: {},
    scim_config: { enabled: true, user_deprovision: true, ...(opts.scim_config ?? {}) },
  });
  if (res.status !== 200) throw new Error(`createConnection: ${res.status} ${await res.text()}`);
  const { result } = (await res.json()) as { result: { id: string; scim_config: { secret: string; scim_base_url: string } } };
  return { id: result.id, secret: result.scim_config.secret, scimBaseUrl: result.scim_config.scim_base_url };
}

/** Sends a SCIM request for a connection; `path` is relative to its SCIM base (`/Users?filter=…`). */
export async function scim(
  conn: TestConnection,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return exports.default.fetch(`${conn.scimBaseUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${conn.secret}`,
      ...(body === undefined ? {} : { "content-type": "application/scim+json" }),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** A snapshot of every row of the directory tables, to assert that a rejected request changed nothing. */
export async function dumpDirectory(): Promise<Record<string, unknown[]>> {
  const tables = ["identity_providers", "users", "user_emails", "groups", "group_members"];
  const out: Record<string, unknown[]> = {};
  for (const t of tables) {
    out[t] = (await env.DB.prepare(`SELECT * FROM ${t} ORDER BY rowid`).all()).results;
  }
  return out;
}

/**
 * Opens a session for `userId` through the session service, as an Access login does after the
 * directory match (src/sessions/service.ts). A refusal throws `openSession refused (403): <reason>`
 * — the reason is the service's (`inactive`, `deprovisioned`, `unknown_user`, …).
 */
export async function openSession(userId: string, kind: "access" | "gateway" = "access", extra: { app_id?: string; device_id?: string } = {}): Promise<string> {
  const input = kind === "access" ? { kind, appId: extra.app_id, ttlSeconds: 3600 } : { kind, deviceId: extra.device_id ?? "dev-1", ttlSeconds: 3600 };
  const result = await openSessionWithService(env, userId, input);
  if (!result.ok) throw new Error(`openSession refused (403): ${result.error}`);
  return result.sessionId;
}

/** Checks a session in the user's Durable Object: the status every protected request sees (fails closed as `unavailable`). */
export async function checkSession(userId: string, sessionId: string): Promise<{ status: string; [k: string]: unknown }> {
  return sessionsFor(env, userId).check(sessionId);
}

/**
 * D1 that records what reaches it: `batch:<statements>` per batch and `<method>:<table>` per
 * single-statement call (`first`, `all`, `run`, `raw`), plus every SQL text prepared. For asserting
 * round trips (one D1 call each) and what a path reads, without changing what D1 answers.
 */
export function recordingD1(): { db: D1Database; calls: string[]; prepared: string[] } {
  const calls: string[] = [];
  const prepared: string[] = [];
  const table = (sql: string) => /(?:from|into|update)\s+(\w+)/i.exec(sql)?.[1] ?? sql;
  // Statements handed back to `batch` are unwrapped: the binding expects its own objects.
  const real = new WeakMap<object, D1PreparedStatement>();
  const wrap = (stmt: D1PreparedStatement, sql: string): D1PreparedStatement => {
    const wrapped = new Proxy(stmt, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target) as unknown;
        if (prop === "bind") return (...args: unknown[]) => wrap(target.bind(...args), sql);
        if (prop === "first" || prop === "all" || prop === "run" || prop === "raw") {
          return (...args: unknown[]) => {
            calls.push(`${String(prop)}:${table(sql)}`);
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    real.set(wrapped, stmt);
    return wrapped;
  };
  const db = {
    prepare(sql: string) {
      prepared.push(sql.replace(/\s+/g, " ").trim());
      return wrap(env.DB.prepare(sql), sql);
    },
    batch(statements: D1PreparedStatement[]) {
      calls.push(`batch:${statements.length}`);
      return env.DB.batch(statements.map((s) => real.get(s) ?? s));
    },
  };
  return { db: db as unknown as D1Database, calls, prepared };
}

/**
 * Every way a SCIM request to connection `a` can fail authentication (`b` is another connection):
 * `[label, connection to send as, extra headers]` for `scim(conn, …, headers)`.
 */
export function badCredentials(a: TestConnection, b: TestConnection): [string, TestConnection, Record<string, string>][] {
  const unknown: TestConnection = { ...a, scimBaseUrl: a.scimBaseUrl.replace(a.id, crypto.randomUUID()) };
  return [
    ["wrong secret", { ...a, secret: "not-the-secret" }, {}],
    ["another connection's secret", { ...a, secret: b.secret }, {}],
    ["no secret", a, { authorization: "" }],
    ["a valid secret on an unknown connection", unknown, {}],
  ];
}

/** Provisions an active user over SCIM, with `userName` as its primary email; returns its id and userName. */
export async function provisionUser(conn: TestConnection, userName = `u-${crypto.randomUUID().slice(0, 8)}@example.com`): Promise<{ id: string; userName: string }> {
  const res = await scim(conn, "POST", "/Users", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName, active: true, emails: [{ value: userName, primary: true }] });
  if (res.status !== 201) throw new Error(`provisionUser: ${res.status} ${await res.text()}`);
  return { id: ((await res.json()) as { id: string }).id, userName };
}
