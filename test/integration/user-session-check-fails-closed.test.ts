import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { checkSession, sessionsFor, type SessionsEnv } from "../../src/sessions/client";

/** A USER_SESSIONS namespace whose objects fail the way a real one can (reset, overload, bad reply). */
function failingEnv(check: () => Promise<unknown>): SessionsEnv {
  const stub = { check };
  return { USER_SESSIONS: { getByName: () => stub } } as unknown as SessionsEnv;
}

describe("a session check the object cannot answer is a refusal, never a pass", () => {
  it.each([
    ["the object throws", () => Promise.reject(new Error("Durable Object reset because its code was updated"))],
    ["the object is overloaded", () => Promise.reject(Object.assign(new Error("Durable Object is overloaded"), { overloaded: true }))],
    ["the RPC throws synchronously", () => { throw new TypeError("stub gone"); }],
    ["the reply is malformed", () => Promise.resolve(undefined)],
  ])("%s: unavailable (deny), and the promise does not reject", async (_name, check) => {
    const failing = failingEnv(check as () => Promise<unknown>);
    await expect(sessionsFor(failing, "u-1").check("s-1")).resolves.toEqual({ status: "unavailable" });
    await expect(checkSession(failing, "u-1", "s-1")).resolves.toEqual({ status: "unavailable" });
  });

  it("a real object's unknown session is still `unknown` (the wrapper only catches failures)", async () => {
    expect(await checkSession(env, `user-${crypto.randomUUID()}`, "nope")).toEqual({ status: "unknown" });
  });
});
