// Gateway rule evaluation: rules in precedence order, the first enabled rule of the filter whose
// traffic and identity expressions both hold decides; no match is the default allow (null).
// Pure: no I/O, no clock.
//
// Scale: matching one name against thousands of rules is O(labels), not O(rules). `buildRuleSet`
// derives from each rule's traffic expression a NECESSARY domain condition — the set of names the
// query name must equal (`dns.fqdn`, `http.request.host`) or have as a parent domain (`dns.domains`,
// `http.request.domains`) for the rule to possibly match — and files the rule under those names in
// two maps. A query looks up its full name and each parent domain (one map probe per label), and
// only those candidates plus the rules with no such condition (identity-only rules, `not`, `!=`, an
// `or` with a non-domain branch) are evaluated. The index only PRUNES: every candidate is evaluated
// with its full expressions, so a rule the index keeps wrongly costs time, never correctness; and
// the derivation is conservative (a rule whose condition cannot be proven is never indexed).
//
// Semantics (see expression.ts for the syntax):
// - Domains compare case-insensitively over ASCII, one trailing dot ignored, as the DNS carries
//   them (xn-- A-labels are compared as given; see domain.ts).
// - `identity.email` and group names compare case-insensitively (SCIM displayName is caseExact
//   false, RFC 7643 §4.2; emails are matched as Cloudflare's Access does); group ids exactly
//   (SCIM `id` is caseExact, RFC 7643 §3.1); paths exactly.
// - A field the query does not carry (no identity, an http.* field in a DNS query) makes every
//   comparison on it false, `!=` included; `not(…)` of such a comparison is therefore true.
import { asciiLower, domainsOf, normalizeName } from "./domain";
import { FIELDS, type CompareOp, type Expr, type Field } from "./expression";

export interface GatewayRule {
  id: string;
  name: string;
  action: "allow" | "block" | "override";
  precedence: number;
  enabled: boolean;
  filters: ("dns" | "http")[];
  traffic: Expr | null;
  identity: Expr | null;
  settings: { override_ips?: string[]; block_page_enabled?: boolean };
}

export interface MatchContext {
  dns?: { fqdn: string; type: string };
  http?: { host: string; path: string };
  identity: { email: string | null; groups: { id: string; name: string }[] } | null;
}

export type Filter = "dns" | "http";

/** An expression with its literals normalised once, at build time. */
type Compiled =
  | { type: "and" | "or"; operands: Compiled[] }
  | { type: "not"; operand: Compiled }
  | { type: "compare"; field: Field; op: CompareOp; values: ReadonlySet<string> };

interface Entry {
  rule: GatewayRule;
  traffic: Compiled | null;
  identity: Compiled | null;
}

interface FilterIndex {
  /** Normalised full name → ordinals of the rules that need the query name to be exactly it. */
  exact: Map<string, number[]>;
  /** Normalised domain → ordinals of the rules that need it among the query name's domains. */
  suffix: Map<string, number[]>;
  /** Ordinals of the rules of this filter that the index cannot prune, ascending. */
  unindexed: number[];
}

/** Opaque, built once per rules version: the enabled rules in precedence order and their index. */
export interface RuleSet {
  readonly entries: readonly Entry[];
  readonly index: Readonly<Record<Filter, FilterIndex>>;
}

/** A query's values, normalised once per match. */
interface Query {
  fqdn: string | null;
  domains: string[] | null;
  rtype: string | null;
  host: string | null;
  hostDomains: string[] | null;
  path: string | null;
  email: string | null;
  groupNames: Set<string> | null;
  groupIds: Set<string> | null;
}

/** How a field's literal or query value is normalised before comparing. */
function normalizerOf(field: Field): (value: string) => string {
  switch (FIELDS[field].kind) {
    case "domain":
      return normalizeName;
    case "rtype":
      return asciiLower;
    case "email":
    case "group_name":
      return (v) => v.toLowerCase();
    default:
      return (v) => v;
  }
}

function compile(expr: Expr): Compiled {
  switch (expr.type) {
    case "compare": {
      const normalize = normalizerOf(expr.field);
      return { type: "compare", field: expr.field, op: expr.op, values: new Set(expr.values.map(normalize)) };
    }
    case "not":
      return { type: "not", operand: compile(expr.operand) };
    default:
      return { type: expr.type, operands: expr.operands.map(compile) };
  }
}

/** The query's value(s) of `field`: a string, an array (any-semantics), or null when absent. */
function valueOf(q: Query, field: Field): string | string[] | Set<string> | null {
  switch (field) {
    case "dns.fqdn":
      return q.fqdn;
    case "dns.domains":
      return q.domains;
    case "dns.query_rtype":
      return q.rtype;
    case "http.request.host":
      return q.host;
    case "http.request.domains":
      return q.hostDomains;
    case "http.request.uri.path":
      return q.path;
    case "identity.email":
      return q.email;
    case "identity.groups.name":
      return q.groupNames;
    case "identity.groups.id":
      return q.groupIds;
  }
}

function holds(op: CompareOp, value: string, values: ReadonlySet<string>): boolean {
  return op === "!=" ? !values.has(value) : values.has(value);
}

function evaluate(expr: Compiled, q: Query): boolean {
  switch (expr.type) {
    case "and":
      return expr.operands.every((e) => evaluate(e, q));
    case "or":
      return expr.operands.some((e) => evaluate(e, q));
    case "not":
      return !evaluate(expr.operand, q);
    case "compare": {
      const value = valueOf(q, expr.field);
      if (value === null) return false;
      if (typeof value === "string") return holds(expr.op, value, expr.values);
      // Arrays: `any(field[*] op …)`. For ==/in with a set of members, probe the rule's values.
      if (value instanceof Set && expr.op !== "!=") {
        const [small, large] = value.size <= expr.values.size ? [value, expr.values] : [expr.values, value];
        for (const v of small) if (large.has(v)) return true;
        return false;
      }
      for (const v of value) if (holds(expr.op, v, expr.values)) return true;
      return false;
    }
  }
}

/** The names the query name must equal (exact) or have as a domain (suffix), or null if unprovable. */
function domainCondition(expr: Compiled, filter: Filter): { exact: string[]; suffix: string[] } | null {
  switch (expr.type) {
    case "compare": {
      if (expr.op === "!=") return null;
      const exactField = filter === "dns" ? "dns.fqdn" : "http.request.host";
      const suffixField = filter === "dns" ? "dns.domains" : "http.request.domains";
      if (expr.field === exactField) return { exact: [...expr.values], suffix: [] };
      if (expr.field === suffixField) return { exact: [], suffix: [...expr.values] };
      return null;
    }
    case "and": {
      // Every operand must hold, so any one operand's condition is necessary: keep the narrowest.
      let best: { exact: string[]; suffix: string[] } | null = null;
      for (const operand of expr.operands) {
        const c = domainCondition(operand, filter);
        if (c && (best === null || c.exact.length + c.suffix.length < best.exact.length + best.suffix.length)) best = c;
      }
      return best;
    }
    case "or": {
      // Some operand holds, so the union is necessary, provided every operand has a condition.
      const out = { exact: [] as string[], suffix: [] as string[] };
      for (const operand of expr.operands) {
        const c = domainCondition(operand, filter);
        if (c === null) return null;
        out.exact.push(...c.exact);
        out.suffix.push(...c.suffix);
      }
      return out;
    }
    case "not":
      return null;
  }
}

function file(map: Map<string, number[]>, key: string, ordinal: number): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [ordinal]);
  else if (list[list.length - 1] !== ordinal) list.push(ordinal);
}

/** Builds the rule set: enabled rules in precedence order (ties keep input order) and their index. */
export function buildRuleSet(rules: GatewayRule[]): RuleSet {
  const ordered = rules
    .map((rule, k) => ({ rule, k }))
    .filter(({ rule }) => rule.enabled)
    .sort((a, b) => a.rule.precedence - b.rule.precedence || a.k - b.k);
  const entries: Entry[] = ordered.map(({ rule }) => ({
    rule,
    traffic: rule.traffic ? compile(rule.traffic) : null,
    identity: rule.identity ? compile(rule.identity) : null,
  }));
  const index = {} as Record<Filter, FilterIndex>;
  for (const filter of ["dns", "http"] as const) {
    const idx: FilterIndex = { exact: new Map(), suffix: new Map(), unindexed: [] };
    entries.forEach((entry, ordinal) => {
      if (!entry.rule.filters.includes(filter)) return;
      const condition = entry.traffic ? domainCondition(entry.traffic, filter) : null;
      if (condition === null) {
        idx.unindexed.push(ordinal);
        return;
      }
      for (const name of condition.exact) file(idx.exact, name, ordinal);
      for (const name of condition.suffix) file(idx.suffix, name, ordinal);
    });
    index[filter] = idx;
  }
  return { entries, index };
}

function prepare(ctx: MatchContext): Query {
  const fqdn = ctx.dns ? normalizeName(ctx.dns.fqdn) : null;
  const host = ctx.http ? normalizeName(ctx.http.host) : null;
  const identity = ctx.identity;
  return {
    fqdn,
    domains: fqdn === null ? null : domainsOf(fqdn),
    rtype: ctx.dns ? asciiLower(ctx.dns.type) : null,
    host,
    hostDomains: host === null ? null : domainsOf(host),
    path: ctx.http ? ctx.http.path : null,
    email: identity?.email != null ? identity.email.toLowerCase() : null,
    groupNames: identity ? new Set(identity.groups.map((g) => g.name.toLowerCase())) : null,
    groupIds: identity ? new Set(identity.groups.map((g) => g.id)) : null,
  };
}

function matches(entry: Entry, q: Query): boolean {
  return (entry.traffic === null || evaluate(entry.traffic, q)) && (entry.identity === null || evaluate(entry.identity, q));
}

/** First matching enabled rule of `filter` in precedence order, or null (default allow). O(labels) for domain rules. */
export function matchRule(set: RuleSet, filter: Filter, ctx: MatchContext): GatewayRule | null {
  const idx = set.index[filter];
  const q = prepare(ctx);
  // Candidates from the index: the exact name, then the name and each parent domain.
  const name = filter === "dns" ? q.fqdn : q.host;
  const domains = filter === "dns" ? q.domains : q.hostDomains;
  let candidates: number[] = [];
  if (name !== null) {
    const exact = idx.exact.get(name);
    if (exact) candidates = candidates.concat(exact);
    for (const d of domains ?? []) {
      const hit = idx.suffix.get(d);
      if (hit) candidates = candidates.concat(hit);
    }
    if (candidates.length > 1) candidates.sort((a, b) => a - b);
  }
  // Merge the candidates with the unindexed rules, in precedence (ordinal) order.
  const { unindexed } = idx;
  let c = 0;
  let u = 0;
  let last = -1;
  while (c < candidates.length || u < unindexed.length) {
    const fromCandidates = u >= unindexed.length || (c < candidates.length && (candidates[c] as number) <= (unindexed[u] as number));
    const ordinal = fromCandidates ? (candidates[c++] as number) : (unindexed[u++] as number);
    if (ordinal === last) continue; // a rule filed under several of the query's names
    last = ordinal;
    const entry = set.entries[ordinal] as Entry;
    if (matches(entry, q)) return entry.rule;
  }
  return null;
}
