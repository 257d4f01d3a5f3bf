import { env, exports } from "cloudflare:workers";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { dnsLogRetentionDays, FLUSH_AT, flushDnsLog, pruneDnsLog, recordDnsQuery, resetDnsLogBuffer, type DnsLogEntry } from "../../src/gateway/dns-log";
import { ADMIN_TOKEN, ORIGIN, admin, createConnection, provisionUser } from "../helpers";

/** A ctx that keeps what waitUntil is given, so a test can wait for the flushes a request scheduled. */
function fakeCtx() {
  const pending: Promise<unknown>[] = [];
  return { ctx: { waitUntil: (p: Promise<unknown>) => void pending.push(p) }, settle: () => Promise.all(pending), pending };
}

const entry = (over: Partial<DnsLogEntry> = {}): DnsLogEntry => ({
  userId: "u-1",
  deviceId: "d-1",
  queryName: "example.com",
  queryType: "A",
  decision: "allowed",
  ruleId: null,
  ...over,
});

async function insertAt(at: string, over: Partial<DnsLogEntry> = {}): Promise<string> {
  const e = entry(over);
  const id = crypto.randomUUID();
  await env.DB.prepare("INSERT INTO gateway_dns_log (id, at, user_id, device_id, query_name, query_type, decision, rule_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
    .bind(id, at, e.userId, e.deviceId, e.queryName, e.queryType, e.decision, e.ruleId)
    .run();
  return id;
}

const rowsOf = (userId: string) => env.DB.prepare("SELECT * FROM gateway_dns_log WHERE user_id = ? ORDER BY at").bind(userId).all<Record<string, string | null>>();

beforeEach(() => resetDnsLogBuffer());

describe("recordDnsQuery", () => {
  it("buffers entries and writes them in one batch after a short delay, under the request's waitUntil", async () => {
    const user = `u-${crypto.randomUUID()}`;
    const batch = vi.spyOn(env.DB, "batch");
    const { ctx, settle, pending } = fakeCtx();
    recordDnsQuery(env, ctx, entry({ userId: user, queryName: "a.example", decision: "blocked", ruleId: "r-1" }));
    recordDnsQuery(env, ctx, entry({ userId: user, queryName: "b.example", queryType: "AAAA" }));
    expect(pending.length).toBe(2); // each request keeps the isolate alive until its entry is written
    expect((await rowsOf(user)).results).toHaveLength(0); // nothing written on the answer's path
    await settle();
    const rows = (await rowsOf(user)).results;
    expect(rows.map((r) => [r.query_name, r.query_type, r.decision, r.rule_id, r.device_id])).toEqual(
      expect.arrayContaining([
        ["a.example", "A", "blocked", "r-1", "d-1"],
        ["b.example", "AAAA", "allowed", null, "d-1"],
      ]),
    );
    expect(batch).toHaveBeenCalledTimes(1);
    batch.mockRestore();
  });

  it(`flushes at once when ${FLUSH_AT} entries wait`, async () => {
    const user = `u-${crypto.randomUUID()}`;
    const { ctx, pending, settle } = fakeCtx();
    for (let k = 0; k < FLUSH_AT; k++) recordDnsQuery(env, ctx, entry({ userId: user, queryName: `n${k}.example` }));
    await pending.at(-1); // the last entry's flush: immediate, not the delayed one
    expect((await rowsOf(user)).results).toHaveLength(FLUSH_AT);
    await settle(); // the first entry's delayed flush (empty by now), so it cannot take the next test's entries
  });

  it("a failed flush is logged without query data and dropped, never thrown", async () => {
    const user = `u-${crypto.randomUUID()}`;
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const broken = { DB: { ...env.DB, prepare: env.DB.prepare.bind(env.DB), batch: () => Promise.reject(new Error("D1 overloaded")) } as unknown as D1Database };
    const { ctx, settle } = fakeCtx();
    recordDnsQuery(broken, ctx, entry({ userId: user, queryName: "secret-project.example" }));
    await expect(settle()).resolves.toBeDefined();
    expect(errors).toHaveBeenCalled();
    expect(JSON.stringify(errors.mock.calls)).not.toContain("secret-project");
    errors.mockRestore();
    // Dropped: a later flush does not write it.
    expect(await flushDnsLog(env)).toBe(0);
    expect((await rowsOf(user)).results).toHaveLength(0);
  });
});

describe("GET /api/v1/gateway/logs/dns", () => {
  it("filters by user, device, decision and time; newest first; paginated", async () => {
    const user = `u-${crypto.randomUUID()}`;
    const other = `u-${crypto.randomUUID()}`;
    const ids = [
      await insertAt("2030-01-01T00:00:01.000Z", { userId: user, deviceId: "dev-a", decision: "allowed" }),
      await insertAt("2030-01-01T00:00:02.000Z", { userId: user, deviceId: "dev-b", decision: "blocked", ruleId: "rule-9" }),
      await insertAt("2030-01-01T00:00:03.000Z", { userId: user, deviceId: "dev-a", decision: "blocked" }),
      await insertAt("2030-01-01T00:00:04.000Z", { userId: other, deviceId: "dev-c", decision: "blocked" }),
    ];
    const get = async (q: string) => {
      const res = await admin("GET", `/api/v1/gateway/logs/dns${q}`);
      expect(res.status).toBe(200);
      return (await res.json()) as { result: { id: string; datetime: string; rule_id: string | null }[]; result_info: Record<string, unknown> };
    };
    expect((await get(`?user_id=${user}`)).result.map((r) => r.id)).toEqual([ids[2], ids[1], ids[0]]);
    expect((await get(`?user_id=${user}&device_id=dev-a`)).result.map((r) => r.id)).toEqual([ids[2], ids[0]]);
    expect((await get(`?user_id=${user}&decision=blocked`)).result.map((r) => r.id)).toEqual([ids[2], ids[1]]);
    expect((await get(`?user_id=${user}&since=2030-01-01T00:00:02Z&until=2030-01-01T00:00:03Z`)).result.map((r) => r.id)).toEqual([ids[1]]);
    const one = await get(`?user_id=${user}&decision=blocked&device_id=dev-b`);
    expect(one.result[0]).toMatchObject({ id: ids[1], datetime: "2030-01-01T00:00:02.000Z", user_id: user, device_id: "dev-b", query_name: "example.com", query_type: "A", decision: "blocked", rule_id: "rule-9" });

    const p1 = await get(`?user_id=${user}&per_page=2`);
    expect(p1.result.map((r) => r.id)).toEqual([ids[2], ids[1]]);
    expect(p1.result_info).toEqual({ page: 1, per_page: 2, count: 2, has_more: true });
    const p2 = await get(`?user_id=${user}&per_page=2&page=2`);
    expect(p2.result.map((r) => r.id)).toEqual([ids[0]]);
    expect(p2.result_info).toMatchObject({ page: 2, count: 1, has_more: false });
  });

  it("names each entry's user and device (API: added user_email, user_name, device_name; dashboard: names, ids muted)", async () => {
    const conn = await createConnection();
    const email = `ann-${crypto.randomUUID().slice(0, 8)}@example.com`;
    const user = await provisionUser(conn, email);
    const device = crypto.randomUUID();
    const now = new Date().toISOString();
    await env.DB.prepare("INSERT INTO gateway_devices (id, user_id, name, token_hash, session_id, enrolled_by, created_at, expires_at) VALUES (?, ?, 'Ann laptop', ?, 's-1', 'admin', ?, '2999-01-01T00:00:00.000Z')")
      .bind(device, user.id, crypto.randomUUID(), now)
      .run();
    const gone = `u-${crypto.randomUUID()}`;
    await insertAt("2032-01-01T00:00:01.000Z", { userId: user.id, deviceId: device });
    await insertAt("2032-01-01T00:00:02.000Z", { userId: gone, deviceId: `d-${gone}` });
    const api = (await (await admin("GET", `/api/v1/gateway/logs/dns?user_id=${user.id}`)).json()) as { result: Record<string, unknown>[] };
    expect(api.result).toHaveLength(1);
    expect(api.result[0]).toMatchObject({ user_id: user.id, device_id: device, user_email: email, user_name: email, device_name: "Ann laptop" });
    const unknown = (await (await admin("GET", `/api/v1/gateway/logs/dns?user_id=${gone}`)).json()) as { result: Record<string, unknown>[] };
    expect(unknown.result[0]).toMatchObject({ user_id: gone, user_email: null, user_name: null, device_name: null });

    const page = async (q: string) =>
      (await exports.default.fetch(`${ORIGIN}/dashboard/gateway/logs?${q}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
    const html = await page(`user_id=${user.id}`);
    expect(html).toContain(`<span title="${user.id}" data-testid="dns-log-user">${email}<br/><small class="muted">${user.id}</small></span>`);
    expect(html).toContain(`<span title="${device}" data-testid="dns-log-device">Ann laptop<br/><small class="muted">${device}</small></span>`);
    expect(await page(`user_id=${gone}`)).toContain(`${gone} (deleted)`);
  });

  it.each([["?decision=maybe"], ["?since=yesterday"], ["?per_page=0"], ["?per_page=5000"], ["?token=abc"]])("refuses %s with 400", async (q) => {
    expect((await admin("GET", `/api/v1/gateway/logs/dns${q}`)).status).toBe(400);
  });
});

describe("retention", () => {
  it("pruneDnsLog deletes entries older than the retention and keeps the rest", async () => {
    const now = Date.parse("2031-06-10T00:00:00Z");
    const user = `u-${crypto.randomUUID()}`;
    const old = await insertAt("2031-06-02T23:59:59.000Z", { userId: user });
    const kept = await insertAt("2031-06-03T00:00:01.000Z", { userId: user });
    const deleted = await pruneDnsLog(env.DB, 7, now);
    expect(deleted).toBeGreaterThanOrEqual(1);
    const left = (await rowsOf(user)).results.map((r) => r.id);
    expect(left).toEqual([kept]);
    expect(left).not.toContain(old);
  });

  it("the daily cron prunes to GATEWAY_LOG_RETENTION_DAYS (7 by default)", async () => {
    expect(dnsLogRetentionDays(env)).toBe(7);
    expect(dnsLogRetentionDays({ GATEWAY_LOG_RETENTION_DAYS: "nope" })).toBe(7);
    expect(dnsLogRetentionDays({ GATEWAY_LOG_RETENTION_DAYS: "30" })).toBe(30);
    const user = `u-${crypto.randomUUID()}`;
    await insertAt(new Date(Date.now() - 8 * 86_400_000).toISOString(), { userId: user });
    const fresh = await insertAt(new Date(Date.now() - 86_400_000).toISOString(), { userId: user });
    const worker = (await import("../../src/index")).default;
    const waits: Promise<unknown>[] = [];
    await worker.scheduled!(
      { cron: "0 3 * * *", scheduledTime: Date.now(), noRetry() {} } as ScheduledController,
      env,
      { waitUntil: (p: Promise<unknown>) => void waits.push(p), passThroughOnException() {}, props: {} } as unknown as ExecutionContext,
    );
    await Promise.all(waits);
    expect((await rowsOf(user)).results.map((r) => r.id)).toEqual([fresh]);
  });
});
