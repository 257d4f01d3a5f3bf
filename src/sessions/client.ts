// The one way the rest of the Worker talks to a user's UserSessions Durable Object. Keeping every
// call here means callers depend on ./types.ts, not on the Durable Object class, and the RPC
// surface can be timed, retried or traced in one place later.
import type {
  CheckResult,
  CreateSessionInput,
  CreateSessionResult,
  GateState,
  GroupsChange,
  GroupsChangeResult,
  RevokeReason,
  RevokeResult,
  SessionInfo,
} from "./types";

/** The bindings the client needs; a narrow `Pick` so use cases can be tested with a partial env. */
export type SessionsEnv = Pick<Env, "USER_SESSIONS">;

/** Typed handle on one user's session authority (one RPC per method call). */
export interface UserSessionsClient {
  /** Opens a session; `{ ok: false }` when the user is deprovisioned or inactive. */
  createSession(input: CreateSessionInput): Promise<CreateSessionResult>;
  /** The per-request check; anything but `valid` must be refused. Never rejects: an object error is `unavailable` (deny). */
  check(sessionId: string): Promise<CheckResult>;
  /** Revokes every live session of the user. */
  revokeAll(reason: RevokeReason, actor: string): Promise<RevokeResult>;
  /** Revokes one session. */
  revokeSession(sessionId: string, reason: RevokeReason, actor?: string): Promise<RevokeResult>;
  /** Ends one Access login: the session, its parent org session and every app session opened from that. */
  revokeLogin(sessionId: string, reason: RevokeReason, actor?: string): Promise<RevokeResult>;
  /** Revokes the user's sessions of one Access app. */
  revokeApp(appId: string, reason: RevokeReason, actor?: string): Promise<RevokeResult>;
  /** Revokes everything and refuses new sessions until reactivated. */
  deprovision(actor: string, directoryVersion?: number): Promise<RevokeResult>;
  /** Opens (clearing `deprovisioned`) or closes the gate for new sessions; a `heal` never undoes a newer decision. */
  setActive(active: boolean, directoryVersion?: number, heal?: boolean): Promise<GateState>;
  /** Makes every current session answer `reauth_required`. */
  requireReauth(): Promise<GateState>;
  /** Applies a group change once per `groupsVersion` (queue redeliveries are ignored). */
  noteGroupsChanged(change: GroupsChange): Promise<GroupsChangeResult>;
  /** The user's live sessions, newest first. */
  listSessions(): Promise<SessionInfo[]>;
  /** The gate state and identity snapshot. */
  gate(): Promise<GateState>;
  /** One empty round trip (benchmark floor). */
  noop(): Promise<void>;
}

/** The session authority of `userId` (the directory user id), addressed by name. */
export function sessionsFor(env: SessionsEnv, userId: string): UserSessionsClient {
  if (userId === "") throw new TypeError("sessionsFor: empty userId");
  const stub = env.USER_SESSIONS.getByName(userId);
  // Each method is spelled out (rather than returning the stub) so the declared result types
  // above are what callers see, not the RPC layer's mapped types.
  return {
    createSession: (input) => stub.createSession(input),
    check: (sessionId) => checkOrDeny(() => stub.check(sessionId)),
    revokeAll: (reason, actor) => stub.revokeAll(reason, actor),
    revokeSession: (sessionId, reason, actor) => stub.revokeSession(sessionId, reason, actor),
    revokeLogin: (sessionId, reason, actor) => stub.revokeLogin(sessionId, reason, actor),
    revokeApp: (appId, reason, actor) => stub.revokeApp(appId, reason, actor),
    deprovision: (actor, directoryVersion) => stub.deprovision(actor, directoryVersion),
    setActive: (active, directoryVersion, heal) => stub.setActive(active, directoryVersion, heal),
    requireReauth: () => stub.requireReauth(),
    noteGroupsChanged: (change) => stub.noteGroupsChanged(change),
    listSessions: () => stub.listSessions(),
    gate: () => stub.gate(),
    noop: () => stub.noop(),
  };
}

/**
 * Fail closed on the hot path: if the object throws, is reset or overloaded, or the RPC fails, the
 * answer is a refusal (`unavailable`), never a pass and never an exception a caller could mishandle
 * (e.g. a catch-all that lets the request through).
 */
async function checkOrDeny(call: () => Promise<CheckResult>): Promise<CheckResult> {
  try {
    const result = await call();
    return result && typeof result === "object" && typeof result.status === "string" ? result : { status: "unavailable" };
  } catch (e) {
    console.error("session check failed; denying", e instanceof Error ? e.message : String(e));
    return { status: "unavailable" };
  }
}

/** Shorthand for the hot path: `check(sessionId)` on `userId`'s object. */
export function checkSession(env: SessionsEnv, userId: string, sessionId: string): Promise<CheckResult> {
  return sessionsFor(env, userId).check(sessionId);
}

/** Shorthand for deprovisioning-style revocation of every session of `userId`. */
export function revokeAllSessions(env: SessionsEnv, userId: string, reason: RevokeReason, actor: string): Promise<RevokeResult> {
  return sessionsFor(env, userId).revokeAll(reason, actor);
}
