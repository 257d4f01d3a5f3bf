// The policy simulator (`POST /access/apps/:id/simulate`), which Cloudflare lacks: what would happen
// if this directory user signed in to this app now, computed from the live directory with the same
// evaluator, directory match and connection checks the login flow uses.
import { z } from "zod";
import { apiErrors } from "../../http/api-error";
import { directoryIdentity, findDirectoryUser } from "../identity";
import { evaluatePolicies } from "../policy/evaluate";
import { parseIp } from "../policy/ip";
import type { Rule } from "../policy/rules";
import { parseBody } from "../../http/input";
import { getAppById } from "./lookup";
import type { AppWithPolicies } from "./types";

const simulateSchema = z
  .strictObject({
    email: z.string().trim().min(1).max(320).optional(),
    user_id: z.string().min(1).max(128).optional(),
    ip: z.string().refine((s) => parseIp(s) !== null, "must be an IPv4 or IPv6 address").optional(),
  })
  .refine((b) => (b.email === undefined) !== (b.user_id === undefined), { message: 'give exactly one of "email" or "user_id"' });

/** One simulated login: the decision and why, for one directory user. */
export interface Simulation {
  decision: string;
  policy: { id: string; name: string; precedence: number } | null;
  rule: { section: string; index: number; rule: Rule } | null;
  reason: string;
  user: { id: string | null; email: string | null; idp_id: string; active: boolean; groups: string[] };
  /** Only for an ambiguous match: the users that matched equally well. */
  candidates?: string[];
}

/** Simulates one directory user against the app (connection allowed? active? then the policies). */
async function simulateUser(db: D1Database, loaded: AppWithPolicies, userId: string, ip: string | null): Promise<Simulation | null> {
  const identity = await directoryIdentity(db, userId);
  if (!identity) return null;
  const user = { id: identity.userId, email: identity.email, idp_id: identity.idpId, active: identity.active, groups: identity.groups.map((g) => g.name) };
  const { app, policies, groupsById } = loaded;
  if (app.allowedIdps.length > 0 && !app.allowedIdps.includes(identity.idpId)) {
    return { decision: "deny", policy: null, rule: null, reason: `login refused: the user's identity provider ${identity.idpId} is not in this app's allowed_idps`, user };
  }
  const evaluation = evaluatePolicies(policies, identity, { ip }, groupsById);
  const stored = evaluation.policy ? policies.find((p) => p.precedence === evaluation.policy?.precedence) : undefined;
  const policy = stored ? { id: stored.id, name: stored.name, precedence: stored.precedence } : null;
  if (!identity.active) {
    return {
      decision: "deny",
      policy: null,
      rule: null,
      reason: `login refused: the user is deactivated in the directory (SCIM active=false), so no session is opened whatever the policies say (were the user active: ${evaluation.reason})`,
      user,
    };
  }
  return { decision: evaluation.decision, policy, rule: evaluation.rule, reason: evaluation.reason, user };
}

/**
 * Runs the simulator. `{"user_id"}` names one user. `{"email"}` is matched as a login would be, in
 * every connection the app allows (`allowed_idps`, or all): each connection with a match yields one
 * simulation (an ambiguous match in a connection is a refused login). The result carries them all in
 * `matches`; with exactly one, its fields are also the result's own, otherwise the top-level
 * `decision` is null and `reason` says to read `matches`.
 */
export async function simulate(db: D1Database, appId: string, body: unknown) {
  const input = parseBody(simulateSchema, body);
  const loaded = await getAppById(db, appId);
  if (!loaded) throw apiErrors.notFound("Access application");
  const ip = input.ip ?? null;
  const matches: Simulation[] = [];
  if (input.user_id !== undefined) {
    const one = await simulateUser(db, loaded, input.user_id, ip);
    if (!one) throw apiErrors.notFound(`Directory user "${input.user_id}"`);
    matches.push(one);
  } else {
    const email = input.email as string;
    const allowed = loaded.app.allowedIdps;
    const idps =
      allowed.length > 0 ? allowed : (await db.prepare("SELECT id FROM identity_providers ORDER BY created_at, id").all<{ id: string }>()).results.map((r) => r.id);
    const found = await Promise.all(idps.map(async (idp) => ({ idp, match: await findDirectoryUser(db, idp, email) })));
    for (const { idp, match } of found) {
      if (!match) continue;
      if (match.ambiguous) {
        matches.push({
          decision: "deny",
          policy: null,
          rule: null,
          reason: `login refused: ${match.candidates.length} users of identity provider ${idp} match "${email}" (userName or primary email) equally; the directory must make it unique`,
          user: { id: null, email: email.toLowerCase(), idp_id: idp, active: false, groups: [] },
          candidates: match.candidates,
        });
        continue;
      }
      const one = await simulateUser(db, loaded, match.id, ip);
      if (one) matches.push(one);
    }
    if (matches.length === 0) {
      const where = allowed.length > 0 ? "the identity providers this app allows" : "any identity provider";
      throw apiErrors.notFound(`No directory user with userName or primary email "${email}" in ${where}; a login as this user would be refused`);
    }
  }
  if (matches.length === 1) return { ...(matches[0] as Simulation), matches };
  return {
    decision: null,
    policy: null,
    rule: null,
    reason: `${matches.length} directory users match "${input.email}" (one per identity provider); the connection used to sign in decides which one applies, see matches`,
    user: null,
    matches,
  };
}

/** The simulator body schema, for the OpenAPI document (src/admin/openapi.ts). */
export { simulateSchema };
