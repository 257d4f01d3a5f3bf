import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { certsResponse, signAccessToken, verifyAccessToken } from "../../src/access/tokens/jwt";
import { loadOrCreateCurrentKey, resetKeyCaches, rotateIfDue, rotateSigningKey } from "../../src/access/tokens/keys";
import { admin } from "../helpers";

const ISSUER = "https://team.edge.test";
const AUD = "c".repeat(64);
const DAY = 86_400_000;
const expect_ = { audience: AUD, type: "app" as const, issuer: ISSUER };

const sign = () =>
  signAccessToken(
    env,
    { aud: [AUD], email: "bob@example.com", sub: "user-2", exp: Math.floor(Date.now() / 1000) + 3600, type: "app", identity_nonce: "n", sid: "s", groups_version: 0, idp_id: "idp" },
    ISSUER,
  );
const kidOf = (token: string) => JSON.parse(atob(token.split(".")[0]!.replaceAll("-", "+").replaceAll("_", "/"))).kid as string;

interface Row {
  kid: string;
  created_at: string;
  rotated_at: string | null;
  retire_after: string | null;
}
const rows = async () => (await env.DB.prepare("SELECT kid, created_at, rotated_at, retire_after FROM access_signing_keys ORDER BY created_at").all<Row>()).results;
const certs = async () => (await (await certsResponse(env)).json()) as { keys: { kid: string }[]; public_cert: { kid: string }; public_certs: { kid: string }[] };
const auditActions = async (action: string) =>
  (await env.DB.prepare("SELECT actor, target_id, details FROM audit_log WHERE action = ? ORDER BY logged_at").bind(action).all<{ actor: string; target_id: string; details: string }>()).results;

beforeEach(async () => {
  await env.DB.batch([env.DB.prepare("DELETE FROM access_signing_keys"), env.DB.prepare("DELETE FROM access_settings"), env.DB.prepare("DELETE FROM access_apps"), env.DB.prepare("DELETE FROM audit_log")]);
  resetKeyCaches(); // a fresh isolate
});
afterEach(() => vi.restoreAllMocks());

describe("Access signing keys: first use", () => {
  it("makes exactly one current key when 10 first uses race (D1 conditional insert)", async () => {
    const made = await Promise.all(Array.from({ length: 10 }, () => loadOrCreateCurrentKey(env)));
    expect(new Set(made.map((r) => r.kid)).size).toBe(1);
    expect(await rows()).toHaveLength(1);
    expect(await auditActions("access.signing_key.create")).toHaveLength(1);
  });

  it("makes exactly one key when 10 tokens are signed at once on a cold isolate", async () => {
    const tokens = await Promise.all(Array.from({ length: 10 }, sign));
    expect(new Set(tokens.map(kidOf)).size).toBe(1);
    expect(await rows()).toEqual([expect.objectContaining({ kid: kidOf(tokens[0]!), rotated_at: null, retire_after: null })]);
  });
});

describe("Access signing keys: rotation", () => {
  it("keeps a rotated key published and its tokens valid, then unpublishes it after retire_after", async () => {
    const before = await sign();
    const oldKid = kidOf(before);
    await rotateSigningKey(env, "admin:token");
    const after = await sign();
    const newKid = kidOf(after);
    expect(newKid).not.toBe(oldKid);

    expect((await verifyAccessToken(env, before, expect_)).ok).toBe(true);
    expect((await verifyAccessToken(env, after, expect_)).ok).toBe(true);
    const body = await certs();
    expect(body.public_cert.kid).toBe(newKid);
    expect(body.keys.map((k) => k.kid)).toEqual([newKid, oldKid]);
    expect(body.public_certs.map((k) => k.kid)).toEqual([newKid, oldKid]);

    const old = (await rows()).find((r) => r.kid === oldKid)!;
    expect(old.rotated_at).not.toBeNull();
    // No app yet: Cloudflare's default 24h session, plus 5 minutes of verifier clock slack.
    expect(Date.parse(old.retire_after!) - Date.parse(old.rotated_at!)).toBe(DAY + 300_000);
    expect(await auditActions("access.signing_key.rotate")).toEqual([
      { actor: "admin:token", target_id: newKid, details: expect.stringContaining(`"previous_kid":"${oldKid}"`) },
    ]);

    // Past retire_after, even an isolate that cached the key before refuses it.
    vi.spyOn(Date, "now").mockReturnValue(Date.parse(old.retire_after!) + 1000);
    expect(await verifyAccessToken(env, before, expect_)).toEqual({ ok: false, reason: "unknown_kid" });
    vi.restoreAllMocks();

    // And in D1: a fresh isolate no longer publishes it.
    await env.DB.prepare("UPDATE access_signing_keys SET retire_after = ? WHERE kid = ?").bind(new Date(Date.now() - 1000).toISOString(), oldKid).run();
    resetKeyCaches();
    expect(await verifyAccessToken(env, before, expect_)).toEqual({ ok: false, reason: "unknown_kid" });
    expect((await verifyAccessToken(env, after, expect_)).ok).toBe(true);
    expect((await certs()).keys.map((k) => k.kid)).toEqual([newKid]);
  });

  it("keeps a rotated key for the longest session an app or policy grants", async () => {
    await env.DB.prepare(
      "INSERT INTO access_apps (id, name, domain, host, aud, session_duration, origin, created_at, updated_at) VALUES ('app-1', 'a', 'a.test', 'a.test', ?, '72h', 'https://origin.test', '', '')",
    )
      .bind(AUD)
      .run();
    await sign();
    await rotateSigningKey(env, "admin:token");
    const old = (await rows()).find((r) => r.rotated_at !== null)!;
    expect(Date.parse(old.retire_after!) - Date.parse(old.rotated_at!)).toBe(3 * DAY + 300_000);
  });

  it("rotates on the daily cron only when the key is older than key_rotation_interval_days, and prunes retired keys", async () => {
    const first = await loadOrCreateCurrentKey(env);
    const created = Date.parse(first.created_at);
    expect(await rotateIfDue(env, created + 41 * DAY)).toBe(false);
    expect(await rows()).toHaveLength(1);

    // Five crons at once on the due day: one rotation.
    const due = created + 42 * DAY + 1;
    const results = await Promise.all(Array.from({ length: 5 }, () => rotateIfDue(env, due)));
    expect(results.filter(Boolean)).toHaveLength(1);
    const after = await rows();
    expect(after).toHaveLength(2);
    expect(after.filter((r) => r.rotated_at === null)).toHaveLength(1);
    expect(await auditActions("access.signing_key.rotate")).toEqual([expect.objectContaining({ actor: "system:cron" })]);

    // The next day the old key is past retire_after (24h + 5 min): pruned, the new key stays.
    expect(await rotateIfDue(env, due + DAY + 301_000)).toBe(false);
    expect((await rows()).map((r) => r.kid)).toEqual([after.find((r) => r.rotated_at === null)!.kid]);
  });

  it("is wired into the daily cron, not the every-minute one", async () => {
    const first = await loadOrCreateCurrentKey(env);
    const due = Date.parse(first.created_at) + 43 * DAY;
    for (const cron of ["* * * * *", "17 3 * * *"]) {
      const ctx = createExecutionContext();
      await worker.scheduled(createScheduledController({ scheduledTime: due, cron }), env, ctx);
      await waitOnExecutionContext(ctx);
      expect(await rows()).toHaveLength(cron === "* * * * *" ? 1 : 2);
    }
  });
});

describe("Admin API: /api/v1/access/keys", () => {
  it("reads, updates and rotates in Cloudflare's shape", async () => {
    const get = await admin("GET", "/api/v1/access/keys");
    expect(get.status).toBe(200);
    const { result } = (await get.json()) as { result: { key_rotation_interval_days: number; last_key_rotation_at: string; days_until_next_rotation: number } };
    expect(result).toEqual({ key_rotation_interval_days: 42, last_key_rotation_at: expect.any(String), days_until_next_rotation: 42 });

    const put = await admin("PUT", "/api/v1/access/keys", { key_rotation_interval_days: 30 });
    expect(put.status).toBe(200);
    expect(((await put.json()) as { result: unknown }).result).toEqual({ ...result, key_rotation_interval_days: 30, days_until_next_rotation: 30 });
    expect(await auditActions("access.keys.update")).toEqual([expect.objectContaining({ actor: "admin:token" })]);

    const oldKid = (await certs()).public_cert.kid;
    const rotate = await admin("POST", "/api/v1/access/keys/rotate");
    expect(rotate.status).toBe(200);
    const rotated = ((await rotate.json()) as { result: { last_key_rotation_at: string; key_rotation_interval_days: number } }).result;
    expect(rotated.key_rotation_interval_days).toBe(30);
    expect(Date.parse(rotated.last_key_rotation_at)).toBeGreaterThanOrEqual(Date.parse(result.last_key_rotation_at));
    expect((await certs()).public_cert.kid).not.toBe(oldKid);
    expect(await auditActions("access.signing_key.rotate")).toEqual([expect.objectContaining({ actor: "admin:token" })]);

    // A 21-day interval makes a 22-day-old key due.
    await admin("PUT", "/api/v1/access/keys", { key_rotation_interval_days: 21 });
    expect(await rotateIfDue(env, Date.parse(rotated.last_key_rotation_at) + 22 * DAY)).toBe(true);
  });

  it.each([[20], [366], [30.5], ["30"], [null]])("refuses key_rotation_interval_days = %j with 400 and changes nothing", async (value) => {
    const res = await admin("PUT", "/api/v1/access/keys", { key_rotation_interval_days: value });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ success: false, errors: [{ code: 10001, message: expect.stringContaining("key_rotation_interval_days") }] });
    expect((await env.DB.prepare("SELECT COUNT(*) AS n FROM access_settings").first<{ n: number }>())!.n).toBe(0);
  });

  it("requires the admin token", async () => {
    const { exports } = await import("cloudflare:workers");
    const res = await exports.default.fetch("https://edge.test/api/v1/access/keys/rotate", { method: "POST" });
    expect(res.status).toBe(401);
    expect(await rows()).toHaveLength(0);
  });
});
