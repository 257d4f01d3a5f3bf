import { describe, expect, it } from "vitest";
import { cursorListResponse } from "../../src/scim/list-response";
import { LIST_RESPONSE_SCHEMA } from "../../src/scim/registry";
import { CURSOR_TIMEOUT_SECONDS, decodeCursor, encodeCursor, importCursorKey, type CursorBinding, type CursorPosition } from "../../src/scim/cursor";

const key = await importCursorKey(new Uint8Array(32).fill(7));
const otherKey = await importCursorKey(new Uint8Array(32).fill(8));
const NOW = 1_800_000_000;
const binding: CursorBinding = { resourceType: "User", idpId: "idp-1", filter: 'userName sw "a"', sortBy: "userName", sortOrder: "ascending" };

describe("cursor codec (RFC 9865): round trips", () => {
  it.each<[string, CursorPosition]>([
    ["string key, after", { key: "alice@example.com", id: "u-1", before: false }],
    ["string key, before", { key: "bob", id: "u-2", before: true }],
    ["NULL key (sort keys can be NULL)", { key: null, id: "u-3", before: false }],
    ["numeric key", { key: 42, id: "u-4", before: true }],
    ["non-ASCII key", { key: "zoë 🚀 \"quoted\"", id: "u-5", before: false }],
    ["empty-string key", { key: "", id: "u-6", before: false }],
  ])("%s", async (_name, position) => {
    const token = await encodeCursor(key, position, binding, NOW);
    // RFC 9865 §2: only RFC 3986 unreserved characters.
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    // Opaque: the sort key is not readable in the token (RFC 9865 §5.2).
    expect(atobSafe(token)).not.toContain("alice");
    expect(await decodeCursor(key, token, binding, NOW + 10)).toEqual({ ok: true, value: position });
  });

  it("two cursors for the same position differ (random IV), both open", async () => {
    const p: CursorPosition = { key: "k", id: "i", before: false };
    const [a, b] = [await encodeCursor(key, p, binding, NOW), await encodeCursor(key, p, binding, NOW)];
    expect(a).not.toBe(b);
    expect((await decodeCursor(key, a, binding, NOW)).ok).toBe(true);
    expect((await decodeCursor(key, b, binding, NOW)).ok).toBe(true);
  });

  it("sortBy is bound case-insensitively (attribute names are, RFC 7643 §2.1)", async () => {
    const token = await encodeCursor(key, { key: "k", id: "i", before: false }, binding, NOW);
    expect((await decodeCursor(key, token, { ...binding, sortBy: "USERNAME" }, NOW)).ok).toBe(true);
  });
});

describe("cursor codec: refusals", () => {
  const position: CursorPosition = { key: "k", id: "u-1", before: false };
  it.each<[string, Partial<CursorBinding> | "key"]>([
    ["another filter", { filter: 'userName sw "b"' }],
    ["no filter", { filter: undefined }],
    ["another sortBy", { sortBy: "displayName" }],
    ["another sortOrder", { sortOrder: "descending" }],
    ["another resource type", { resourceType: "Group" }],
    ["another connection id", { idpId: "idp-2" }],
    ["another connection's key", "key"],
  ])("a cursor replayed against %s → invalidCursor", async (_name, change) => {
    const token = await encodeCursor(key, position, binding, NOW);
    const r = change === "key" ? await decodeCursor(otherKey, token, binding, NOW) : await decodeCursor(key, token, { ...binding, ...change }, NOW);
    expect(r.ok).toBe(false);
    if (!r.ok) expect([r.error.status, r.error.scimType]).toEqual([400, "invalidCursor"]);
  });

  it.each<[string, (t: string) => string]>([
    ["one character changed", (t) => t.slice(0, 20) + (t[20] === "A" ? "B" : "A") + t.slice(21)],
    ["truncated", (t) => t.slice(0, -4)],
    ["extended", (t) => t + "AAAA"],
    ["empty after trimming to the IV", (t) => t.slice(0, 16)],
    ["not base64url", () => "!!!!"],
    ["padding characters", (t) => t + "=="],
    ["base64 length ≡ 1 mod 4", () => "AAAAA"],
    ["huge", () => "A".repeat(5000)],
    ["a guessed plaintext", () => btoa(JSON.stringify({ k: "k", i: "u-1", b: 0, t: NOW })).replaceAll("=", "")],
  ])("%s → invalidCursor", async (_name, mangle) => {
    const token = await encodeCursor(key, position, binding, NOW);
    const r = await decodeCursor(key, mangle(token), binding, NOW);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.scimType).toBe("invalidCursor");
  });

  it.each<[string, number, string | undefined]>([
    ["just inside the timeout", CURSOR_TIMEOUT_SECONDS, undefined],
    ["past the timeout → expiredCursor", CURSOR_TIMEOUT_SECONDS + 1, "expiredCursor"],
    ["issued far in the future → invalidCursor", -3600, "invalidCursor"],
  ])("%s", async (_name, age, scimType) => {
    const token = await encodeCursor(key, position, binding, NOW);
    const r = await decodeCursor(key, token, binding, NOW + age);
    if (scimType === undefined) expect(r.ok).toBe(true);
    else {
      expect(r.ok).toBe(false);
      if (!r.ok) expect([r.error.status, r.error.scimType]).toEqual([400, scimType]);
    }
  });
});

function atobSafe(token: string): string {
  try {
    return atob(token.replaceAll("-", "+").replaceAll("_", "/") + "=".repeat((4 - (token.length % 4)) % 4));
  } catch {
    return "";
  }
}

describe("cursorListResponse (RFC 9865 §2)", () => {
  it.each<[string, Parameters<typeof cursorListResponse<number>>, object, string[]]>([
    ["first page: nextCursor only", [[1, 2], 5, { nextCursor: "n" }], { totalResults: 5, itemsPerPage: 2, nextCursor: "n", Resources: [1, 2] }, ["schemas", "totalResults", "itemsPerPage", "nextCursor", "Resources"]],
    ["middle page: both", [[3, 4], 5, { nextCursor: "n", previousCursor: "p" }], { totalResults: 5, itemsPerPage: 2, previousCursor: "p", nextCursor: "n", Resources: [3, 4] }, ["schemas", "totalResults", "itemsPerPage", "previousCursor", "nextCursor", "Resources"]],
    ["last page: previousCursor only", [[5], 5, { previousCursor: "p" }], { totalResults: 5, itemsPerPage: 1, previousCursor: "p", Resources: [5] }, ["schemas", "totalResults", "itemsPerPage", "previousCursor", "Resources"]],
    ["only page: no cursors, no startIndex", [[1], 1, {}], { totalResults: 1, itemsPerPage: 1, Resources: [1] }, ["schemas", "totalResults", "itemsPerPage", "Resources"]],
  ])("%s", (_name, args, expected, keys) => {
    const out = cursorListResponse(...args);
    expect(out).toEqual({ schemas: [LIST_RESPONSE_SCHEMA], ...expected });
    expect(Object.keys(out)).toEqual(keys);
  });
});
