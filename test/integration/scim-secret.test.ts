import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { authenticateScim, CONNECTION_CACHE_TTL_MS, forgetConnection } from "../../src/auth/scim-secret";
import { sha256Hex } from "../../src/lib/crypto";
import { createConnection } from "../helpers";

describe("SCIM secret check with the per-isolate connection cache", () => {
  it("accepts only the connection's own secret, and says when the connection exists", async () => {
    const a = await createConnection();
    const b = await createConnection();
    expect((await authenticateScim(env.DB, a.id, a.secret)).valid).toBe(true);
    expect(await authenticateScim(env.DB, a.id, b.secret)).toMatchObject({ valid: false, idp: { id: a.id } });
    expect(await authenticateScim(env.DB, a.id, undefined)).toMatchObject({ valid: false });
    expect(await authenticateScim(env.DB, "no-such-connection", a.secret)).toEqual({ idp: undefined, valid: false });
  });

  it("a secret rotated elsewhere: the new one works at once, the old one for at most the TTL", async () => {
    const conn = await createConnection();
    const t0 = Date.now();
    expect((await authenticateScim(env.DB, conn.id, conn.secret, t0)).valid).toBe(true); // cached now
    // Another isolate rotates the secret: D1 changes, this isolate's cache does not know.
    await env.DB.prepare("UPDATE identity_providers SET scim_secret_hash = ? WHERE id = ?").bind(await sha256Hex("fresh-secret"), conn.id).run();
    expect((await authenticateScim(env.DB, conn.id, "fresh-secret", t0 + 1)).valid).toBe(true);
    // Reading through for the new secret refreshed the cache, so the old one is already refused here…
    expect((await authenticateScim(env.DB, conn.id, conn.secret, t0 + 2)).valid).toBe(false);
  });

  it("an old secret cached before a rotation stops working once the TTL has passed", async () => {
    const conn = await createConnection();
    const t0 = Date.now();
    await authenticateScim(env.DB, conn.id, conn.secret, t0);
    await env.DB.prepare("UPDATE identity_providers SET scim_secret_hash = ? WHERE id = ?").bind(await sha256Hex("other"), conn.id).run();
    expect((await authenticateScim(env.DB, conn.id, conn.secret, t0 + CONNECTION_CACHE_TTL_MS - 1)).valid).toBe(true);
    expect((await authenticateScim(env.DB, conn.id, conn.secret, t0 + CONNECTION_CACHE_TTL_MS + 1)).valid).toBe(false);
  });

  it("forgetConnection drops the cached row at once (admin changes in this isolate)", async () => {
    const conn = await createConnection();
    const t0 = Date.now();
    await authenticateScim(env.DB, conn.id, conn.secret, t0);
    await env.DB.prepare("UPDATE identity_providers SET scim_secret_hash = ? WHERE id = ?").bind(await sha256Hex("other"), conn.id).run();
    forgetConnection(conn.id);
    expect((await authenticateScim(env.DB, conn.id, conn.secret, t0 + 1)).valid).toBe(false);
  });
});
