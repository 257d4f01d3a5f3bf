import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { AUTH_FAILURE_RETRY_AFTER_S } from "../../src/directory/scim-auth";
import { admin, createConnection, scim, type TestConnection } from "../helpers";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
/** `simple.limit` of the SCIM_AUTH_FAILURES binding in wrangler.toml. */
const LIMIT = 10;

async function logRows(idpId: string): Promise<Record<string, unknown>[]> {
  const res = await admin("GET", `/api/v1/access/logs/scim/updates?idp_id=${idpId}&limit=1000`);
  return ((await res.json()) as { result: Record<string, unknown>[] }).result;
}

/**
 * The limiter counts in windows aligned to the wall clock (miniflare's, like Cloudflare's: epoch /
 * period), so a burst that straddles a minute boundary is split over two windows and never reaches
 * the limit. Start every burst at least MARGIN_MS before the window ends (a slow CI machine takes
 * seconds for 30 requests).
 */
const PERIOD_MS = 60_000;
const MARGIN_MS = 20_000;
async function hammer(conn: TestConnection, times: number): Promise<number[]> {
  const into = Date.now() % PERIOD_MS;
  if (into > PERIOD_MS - MARGIN_MS) await new Promise((r) => setTimeout(r, PERIOD_MS - into + 50));
  const statuses: number[] = [];
  for (let i = 0; i < times; i++) {
    const res = await scim({ ...conn, secret: `guess-${i}` }, "POST", "/Users", { schemas: [USER], userName: `spray-${i}@example.com`, password: "attacker-body" });
    statuses.push(res.status);
    await res.arrayBuffer();
  }
  return statuses;
}

// Up to MARGIN_MS of waiting for a fresh window, on top of the requests themselves.
describe("repeated failed SCIM authentication (SCIM_AUTH_FAILURES rate limiter)", { timeout: 90_000 }, () => {
  it(`answers 429 with Retry-After in SCIM error shape after ${LIMIT} failures on one connection`, async () => {
    const conn = await createConnection();
    expect(await hammer(conn, LIMIT)).toEqual(Array(LIMIT).fill(401));
    const res = await scim({ ...conn, secret: "one-more-guess" }, "GET", "/Users/whatever");
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe(String(AUTH_FAILURE_RETRY_AFTER_S));
    expect(res.headers.get("content-type")).toMatch(/^application\/scim\+json/);
    expect(await res.json()).toEqual({ schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"], status: "429", detail: expect.stringMatching(/failed authentications/) });
  });

  it("never throttles the correct secret, however many failures others cause", async () => {
    const conn = await createConnection();
    await hammer(conn, LIMIT + 5);
    const created = await scim(conn, "POST", "/Users", { schemas: [USER], userName: "real-idp@example.com" });
    expect(created.status).toBe(201);
    const id = ((await created.json()) as { id: string }).id;
    for (let i = 0; i < 3; i++) expect((await scim(conn, "GET", `/Users/${id}`)).status).toBe(200);
    expect((await scim(conn, "GET", "/Users")).status).toBe(200);
  });

  it("counts per connection: failures on one never limit another", async () => {
    const a = await createConnection();
    const b = await createConnection();
    await hammer(a, LIMIT + 1);
    expect((await scim({ ...b, secret: "wrong" }, "GET", "/Users")).status).toBe(401);
  });

  it("unknown connections are limited the same way (the answer does not reveal whether one exists) and never logged", async () => {
    const real = await createConnection();
    const ghost: TestConnection = { ...real, scimBaseUrl: real.scimBaseUrl.replace(real.id, crypto.randomUUID()) };
    expect(await hammer(ghost, LIMIT + 1)).toEqual([...Array(LIMIT).fill(401), 429]);
    expect(await hammer(real, LIMIT + 1)).toEqual([...Array(LIMIT).fill(401), 429]);
    const ghostId = ghost.scimBaseUrl.split("/populations/")[1]!.split("/")[0]!;
    const ghostRows = await env.DB.prepare("SELECT count(*) AS n FROM provisioning_log WHERE idp_id = ?").bind(ghostId).first<{ n: number }>();
    expect(ghostRows?.n).toBe(0);
  });

  it(`logs at most ${LIMIT} failed authentications per connection per period, without what the client sent`, async () => {
    const conn = await createConnection();
    await hammer(conn, LIMIT * 3);
    await vi.waitFor(async () => expect(await logRows(conn.id)).toHaveLength(LIMIT));
    await new Promise((r) => setTimeout(r, 200)); // any late waitUntil writes would land by now
    const rows = await logRows(conn.id);
    expect(rows).toHaveLength(LIMIT);
    for (const row of rows) {
      expect(row).toMatchObject({ status: "FAILURE", http_status: 401, request_method: "POST", resource_type: "USER", request_body: null, resource_user_email: null, cf_resource_id: null, idp_resource_id: null });
    }
    expect(JSON.stringify(rows)).not.toMatch(/guess-|spray-|attacker-body/);
  });
});
