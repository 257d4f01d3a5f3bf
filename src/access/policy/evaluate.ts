// The Access policy evaluator: (policies, identity, request) → decision, with the policy and rule
// that decided it and a human-readable reason (the policy simulator shows it as is). Pure: no I/O,
// no clock; the caller resolves the user's SCIM groups and the app's reusable groups beforehand.
//
// Cloudflare's semantics (developers.cloudflare.com/cloudflare-one/policies/access/):
// - Within a policy, Include is OR (at least one rule; an empty include matches nobody), Require
//   is AND (every rule), Exclude is NOT (any match and the policy does not apply).
// - "Order of execution": Bypass and Service Auth (`non_identity`) policies are evaluated first,
//   then Allow and Block (`deny`) policies, each in precedence order. The first policy that applies
//   decides; when none does, the request is denied by default.
// - Bypass and Service Auth policies take no identity: they are evaluated on the request alone, so
//   identity-based selectors in them never match (whether or not the user happens to be signed in).
import { ipInRange, parseCidr, parseIp, type IpAddress } from "./ip";
import type { Decision, GroupDefinition, Policy, Rule } from "./rules";

/** The user, as read from the directory at login or from the session's identity snapshot. */
export interface PolicyIdentity {
  email: string | null;
  /** The IdP connection the user signed in through. */
  idpId: string;
  /** The user's SCIM groups in that connection. */
  groups: { id: string; externalId: string | null; name: string }[];
  /** The IdP token's `groups` claim; used only when the connection has no SCIM. */
  idpGroupClaims?: string[];
  scimEnabled: boolean;
}

/** What the evaluator knows about the request itself. */
export interface PolicyRequest {
  /** The client address (`CF-Connecting-IP`); null or unparsable: no `ip` rule matches. */
  ip: string | null;
  /** `request.cf.country`; accepted for a future `geo` rule, not used by any rule yet. */
  country?: string | null;
}

export type Section = "include" | "exclude" | "require";

/** The outcome; `default_deny` means no policy applied (with a null identity: sign in first). */
export interface Evaluation {
  decision: Decision | "default_deny";
  policy: { name: string; precedence: number } | null;
  rule: { section: Section; index: number; rule: Rule } | null;
  reason: string;
}

interface Context {
  identity: PolicyIdentity | null;
  ip: IpAddress | null;
  groupsById: ReadonlyMap<string, GroupDefinition>;
  /** Reusable groups being evaluated, so a group that (indirectly) names itself matches nobody. */
  visiting: Set<string>;
}

const lower = (s: string) => s.toLowerCase();

/** The part after the last `@`, lower-cased; null for something that is not an address. */
function emailDomain(email: string): string | null {
  const at = email.lastIndexOf("@");
  return at > 0 && at < email.length - 1 ? lower(email.slice(at + 1)) : null;
}

/** A short label for reasons: `email_domain example.com`, `okta group "risky"`. */
export function describeRule(rule: Rule): string {
  if ("email" in rule) return `email ${rule.email.email}`;
  if ("email_domain" in rule) return `email_domain ${rule.email_domain.domain}`;
  if ("everyone" in rule) return "everyone";
  if ("ip" in rule) return `ip ${rule.ip.ip}`;
  if ("group" in rule) return `group ${rule.group.id}`;
  if ("azureAD" in rule) return `azureAD group ${rule.azureAD.id}`;
  if ("okta" in rule) return `okta group "${rule.okta.name}"`;
  return `oidc groups "${rule.oidc.claim_value}"`;
}

/** IdP group rules: SCIM membership when the connection has SCIM, the token's claim otherwise. */
function groupRuleMatches(rule: Rule, identity: PolicyIdentity): boolean {
  const scim = identity.scimEnabled;
  const claims = scim ? [] : (identity.idpGroupClaims ?? []);
  if ("azureAD" in rule) {
    // Entra object ids are GUIDs, compared case-insensitively. Entra's token `groups` claim carries
    // the same ids, so without SCIM the claim is matched.
    if (rule.azureAD.identity_provider_id !== identity.idpId) return false;
    const id = lower(rule.azureAD.id);
    return scim ? identity.groups.some((g) => g.externalId !== null && lower(g.externalId) === id) : claims.some((c) => lower(c) === id);
  }
  if ("okta" in rule) {
    if (rule.okta.identity_provider_id !== identity.idpId) return false;
    const name = lower(rule.okta.name); // Okta group names are case-insensitive.
    return scim ? identity.groups.some((g) => lower(g.name) === name) : claims.some((c) => lower(c) === name);
  }
  if ("oidc" in rule) {
    if (rule.oidc.identity_provider_id !== identity.idpId) return false;
    // SCIM displayName is caseExact false (RFC 7643 §4.2); a raw token claim is compared exactly.
    const value = rule.oidc.claim_value;
    return scim ? identity.groups.some((g) => lower(g.name) === lower(value)) : claims.includes(value);
  }
  return false;
}

function ruleMatches(rule: Rule, ctx: Context): boolean {
  if ("everyone" in rule) return true;
  if ("ip" in rule) {
    const range = parseCidr(rule.ip.ip);
    return ctx.ip !== null && range !== null && ipInRange(ctx.ip, range);
  }
  if ("group" in rule) return groupMatches(rule.group.id, ctx);
  const identity = ctx.identity;
  if (!identity) return false;
  if ("email" in rule) return identity.email !== null && lower(identity.email) === lower(rule.email.email);
  if ("email_domain" in rule) {
    // The exact domain after `@`: `a@sub.example.com` and `a@evil-example.com` are not `example.com`.
    return identity.email !== null && emailDomain(identity.email) === lower(rule.email_domain.domain);
  }
  return groupRuleMatches(rule, identity);
}

/** A reusable Access group matches like a policy applies: include OR, require AND, exclude NOT. */
function groupMatches(id: string, ctx: Context): boolean {
  const def = ctx.groupsById.get(id);
  if (!def || ctx.visiting.has(id)) return false;
  ctx.visiting.add(id);
  try {
    return applies(def, ctx).applies;
  } finally {
    ctx.visiting.delete(id);
  }
}

interface Applied {
  applies: boolean;
  rule: Evaluation["rule"];
  why: string;
}

/** The first rule satisfying `test`, with its index. */
function first(rules: readonly Rule[], test: (r: Rule) => boolean): { index: number; rule: Rule } | null {
  for (const [index, rule] of rules.entries()) if (test(rule)) return { index, rule };
  return null;
}

/** Whether a policy (or reusable group) applies, with the deciding rule and why. */
function applies(body: Pick<Policy, "include" | "exclude" | "require">, ctx: Context): Applied {
  const included = first(body.include, (r) => ruleMatches(r, ctx));
  if (!included) {
    const why = body.include.length === 0 ? "include is empty" : "no include rule matched";
    return { applies: false, rule: null, why };
  }
  const reasons = [`included by ${describeRule(included.rule)}`];
  const unmet = first(body.require, (r) => !ruleMatches(r, ctx));
  if (unmet) {
    reasons.push(`require ${describeRule(unmet.rule)} not met`);
    return { applies: false, rule: { section: "require", ...unmet }, why: reasons.join("; ") };
  }
  if (body.require.length > 0) reasons.push(`required ${body.require.map(describeRule).join(", ")}`);
  const excluded = first(body.exclude, (r) => ruleMatches(r, ctx));
  if (excluded) {
    reasons.push(`excluded by ${describeRule(excluded.rule)}`);
    return { applies: false, rule: { section: "exclude", ...excluded }, why: reasons.join("; ") };
  }
  return { applies: true, rule: { section: "include", ...included }, why: reasons.join("; ") };
}

const REQUEST_ONLY: ReadonlySet<Decision> = new Set(["bypass", "non_identity"]);

/**
 * Evaluates an app's policies for one request. `identity` null means "not signed in": only
 * bypass and non_identity policies can then apply, and `default_deny` tells the caller to log in.
 */
export function evaluatePolicies(
  policies: readonly Policy[],
  identity: PolicyIdentity | null,
  request: PolicyRequest,
  groupsById: ReadonlyMap<string, GroupDefinition> | Record<string, GroupDefinition> = new Map(),
): Evaluation {
  const groups = groupsById instanceof Map ? groupsById : new Map(Object.entries(groupsById));
  const ip = request.ip === null ? null : parseIp(request.ip); // unparsable: no ip rule matches
  // Stable sort: equal precedences (refused when saved) keep their given order.
  const ordered = [...policies].sort((a, b) => a.precedence - b.precedence);
  const passes = [ordered.filter((p) => REQUEST_ONLY.has(p.decision)), ordered.filter((p) => !REQUEST_ONLY.has(p.decision))];
  const skipped: string[] = [];
  for (const [pass, list] of passes.entries()) {
    if (pass === 1 && identity === null) {
      if (list.length > 0) skipped.push(`${list.length} allow/deny ${list.length === 1 ? "policy needs" : "policies need"} a signed-in user`);
      break;
    }
    for (const policy of list) {
      const ctx: Context = { identity: pass === 0 ? null : identity, ip, groupsById: groups, visiting: new Set() };
      const result = applies(policy, ctx);
      if (result.applies) {
        return {
          decision: policy.decision,
          policy: { name: policy.name, precedence: policy.precedence },
          rule: result.rule,
          reason: `${policy.decision} by policy "${policy.name}": ${result.why}`,
        };
      }
      skipped.push(`"${policy.name}" did not apply: ${result.why}`);
    }
  }
  const reason = skipped.length === 0 ? "no policies: denied by default" : `no policy applied, denied by default (${skipped.join("; ")})`;
  return { decision: "default_deny", policy: null, rule: null, reason };
}
