// The team host, and the one way a presented Access token becomes a live session.
import type { Config } from "../../config";
import { checkSession } from "../../sessions/client";
import type { CheckResult } from "../../sessions/types";
import { verifyAccessToken, type AccessClaims } from "../tokens/jwt";
import type { OpenedSession } from "./tokens";

/** Thrown on an app host when the deployment has no PUBLIC_BASE_URL: the team host is then unknown. */
export class TeamHostUnknown extends Error {
  constructor() {
    super("PUBLIC_BASE_URL must be set for Access: it names the team host that app hosts send people to for login");
  }
}

/** The team origin (scheme + host): PUBLIC_BASE_URL, or the request's own origin on the team host. */
export function teamOrigin(config: Config, requestUrl: string): string {
  return config.publicBaseUrl ?? new URL(requestUrl).origin;
}

/** The team origin as seen from an app host, where the request's own origin is not it. */
export function teamOriginForAppHost(config: Config): string {
  if (!config.publicBaseUrl) throw new TeamHostUnknown();
  return config.publicBaseUrl;
}

/** Tokens beyond this many in one request are ignored (a browser has one per app path; this bounds the work). */
const MAX_TOKENS_TRIED = 4;

export interface LiveSession {
  /** The presented token that proved the session. */
  token: string;
  claims: AccessClaims;
  session: OpenedSession;
  /** The object's answer; absent when `allowEnded` skipped asking. */
  check?: Extract<CheckResult, { status: "valid" }>;
}

/** Why no live session came out of the presented tokens. */
export type NoSession = { reason: "no_token" | "invalid_token" | "ended" | "unavailable" };

/**
 * The first presented token that verifies for `expect` AND whose session the user's Durable Object
 * says is valid (`allowEnded`: signature and claims only, for logout). Never throws.
 */
export async function liveSessionFromTokens(
  env: Env,
  tokens: string[],
  expect: { audience: string; type: "app" | "org"; issuer: string },
  opts: { allowEnded?: boolean } = {},
): Promise<LiveSession | null> {
  const result = await resolveSession(env, tokens, expect, opts);
  return "claims" in result ? result : null;
}

/** Like `liveSessionFromTokens`, but says why there is no session (the proxy answers each case differently). */
export async function resolveSession(
  env: Env,
  tokens: string[],
  expect: { audience: string; type: "app" | "org"; issuer: string },
  opts: { allowEnded?: boolean } = {},
): Promise<LiveSession | NoSession> {
  if (tokens.length === 0) return { reason: "no_token" };
  let outcome: NoSession = { reason: "invalid_token" };
  for (const token of tokens.slice(0, MAX_TOKENS_TRIED)) {
    const verified = await verifyAccessToken(env, token, expect);
    if (!verified.ok) continue;
    const { claims } = verified;
    const session = { sessionId: claims.sid, expiresAt: claims.exp * 1000 };
    if (opts.allowEnded) return { token, claims, session };
    const check = await checkSession(env, claims.sub, claims.sid);
    if (check.status === "valid") return { token, claims, session, check };
    // An object that cannot answer is not a refusal of this token: say so, so the caller answers 503 (fail closed, retryable).
    outcome = { reason: check.status === "unavailable" ? "unavailable" : "ended" };
  }
  return outcome;
}
