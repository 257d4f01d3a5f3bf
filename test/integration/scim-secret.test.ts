import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { authenticateScim, checkSecret } from "../../src/auth/scim-secret";
import { sha256Hex } from "../../src/lib/crypto";
import { createConnection } from "../helpers";

const setHash = async (id: string, secret: string) =>
  env.DB.prepare("UPDATE identity_providers SET scim_secret_hash = ? WHERE id = ?").bind(await sha256Hex(secret), id).run();

describe("SCIM secret check (no cache: always against the hash D1 holds now)", () => {
  it("accepts only the connection's own secret, and says when the connection exists", async () => {
    const a = await createConnection();
    const b = await createConnection();
    expect((await authenticateScim(env.DB, a.id, a.secret)).valid).toBe(true);
    expect(await authenticateScim(env.DB, a.id, b.secret)).toMatchObject({ valid: false, idp: { id: a.id } });
    expect(await authenticateScim(env.DB, a.id, undefined)).toMatchObject({ valid: false });
    expect(await authenticateScim(env.DB, "no-such-connection", a.secret)).toEqual({ idp: undefined, valid: false });
  });

  // Before the fix, a positive match was cached per isolate for 5 s: the old secret kept working here.
  it("a secret rotated in D1 by another isolate: the old one is refused on the very next check", async () => {
    const conn = await createConnection();
    expect((await authenticateScim(env.DB, conn.id, conn.secret)).valid).toBe(true);
    await setHash(conn.id, "fresh-secret");
    expect((await authenticateScim(env.DB, conn.id, conn.secret)).valid).toBe(false);
    expect((await authenticateScim(env.DB, conn.id, "fresh-secret")).valid).toBe(true);
  });

  it("a connection deleted in D1: its secret is refused on the very next check", async () => {
    const conn = await createConnection();
    expect((await authenticateScim(env.DB, conn.id, conn.secret)).valid).toBe(true);
    await env.DB.prepare("DELETE FROM identity_providers WHERE id = ?").bind(conn.id).run();
    expect(await authenticateScim(env.DB, conn.id, conn.secret)).toEqual({ idp: undefined, valid: false });
  });

  it.each([
    ["no secret presented", undefined, "h", false],
    ["unknown connection", "h", undefined, false],
    ["wrong secret", "a".repeat(64), "b".repeat(64), false],
    ["matching secret", "c".repeat(64), "c".repeat(64), true],
  ])("checkSecret: %s", (_name, presented, stored, valid) => {
    const row = stored === undefined ? null : { id: "x", scim_secret_hash: stored, scim_enabled: 1 };
    expect(checkSecret(presented, row).valid).toBe(valid);
  });
});
