// The stored shapes of Access applications, policies and reusable groups, and their row mappers.
import type { GroupDefinition, Policy, Rule } from "../policy/rules";

/** A self-hosted Access application (the admin API renders it in Cloudflare's shape). */
export interface AccessApp {
  id: string;
  name: string;
  /** `host[:port][/prefix]`, normalised. */
  domain: string;
  host: string;
  /** `""` or `/admin` (no trailing slash). */
  pathPrefix: string;
  type: "self_hosted";
  /** The JWT audience tag: 64 lower-case hex characters, fixed at creation. */
  aud: string;
  /** Connections allowed to log in; empty: every connection. */
  allowedIdps: string[];
  /** Go duration, e.g. `24h`. */
  sessionDuration: string;
  origin: string;
  createdAt: string;
  updatedAt: string;
}

/** A policy as stored: the evaluator's `Policy` plus its id and app. */
export interface StoredPolicy extends Policy {
  id: string;
  appId: string;
  sessionDuration?: string | null;
  createdAt: string;
  updatedAt: string;
}

/** A reusable Access group as stored. */
export interface StoredGroup extends GroupDefinition {
  id: string;
  name: string;
  createdAt: string;
  updatedAt: string;
}

/** An app with everything the evaluator needs for it. */
export interface AppWithPolicies {
  app: AccessApp;
  /** Ordered by precedence. */
  policies: StoredPolicy[];
  /** The reusable groups the policies name, transitively. */
  groupsById: Map<string, GroupDefinition>;
}

export interface AppRow {
  id: string;
  name: string;
  domain: string;
  host: string;
  path_prefix: string;
  type: string;
  aud: string;
  allowed_idps: string;
  session_duration: string;
  origin: string;
  created_at: string;
  updated_at: string;
}

export interface PolicyRow {
  id: string;
  app_id: string;
  name: string;
  decision: string;
  include: string;
  exclude: string;
  require: string;
  precedence: number;
  session_duration: string | null;
  created_at: string;
  updated_at: string;
}

export interface GroupRow {
  id: string;
  name: string;
  include: string;
  exclude: string;
  require: string;
  created_at: string;
  updated_at: string;
}

/** Rules were validated when saved; stored JSON is trusted as such. */
const rules = (json: string) => JSON.parse(json) as Rule[];

/** An `access_apps` row as an `AccessApp`. */
export function appFromRow(r: AppRow): AccessApp {
  return {
    id: r.id,
    name: r.name,
    domain: r.domain,
    host: r.host,
    pathPrefix: r.path_prefix,
    type: "self_hosted",
    aud: r.aud,
    allowedIdps: JSON.parse(r.allowed_idps) as string[],
    sessionDuration: r.session_duration,
    origin: r.origin,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** An `access_policies` row as a `StoredPolicy`. */
export function policyFromRow(r: PolicyRow): StoredPolicy {
  return {
    id: r.id,
    appId: r.app_id,
    name: r.name,
    decision: r.decision as Policy["decision"],
    include: rules(r.include),
    exclude: rules(r.exclude),
    require: rules(r.require),
    precedence: r.precedence,
    sessionDuration: r.session_duration,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** An `access_groups` row as a `StoredGroup`. */
export function groupFromRow(r: GroupRow): StoredGroup {
  return { id: r.id, name: r.name, include: rules(r.include), exclude: rules(r.exclude), require: rules(r.require), createdAt: r.created_at, updatedAt: r.updated_at };
}

/** Cloudflare's app shape. */
export function renderApp(a: AccessApp) {
  return {
    id: a.id,
    name: a.name,
    domain: a.domain,
    type: a.type,
    aud: a.aud,
    allowed_idps: a.allowedIdps,
    session_duration: a.sessionDuration,
    origin: a.origin,
    created_at: a.createdAt,
    updated_at: a.updatedAt,
  };
}

/** Cloudflare's policy shape. */
export function renderPolicy(p: StoredPolicy) {
  return {
    id: p.id,
    name: p.name,
    decision: p.decision,
    include: p.include,
    exclude: p.exclude,
    require: p.require,
    precedence: p.precedence,
    session_duration: p.sessionDuration ?? null,
    created_at: p.createdAt,
    updated_at: p.updatedAt,
  };
}

/** Cloudflare's reusable group shape. */
export function renderGroup(g: StoredGroup) {
  return { id: g.id, name: g.name, include: g.include, exclude: g.exclude, require: g.require, created_at: g.createdAt, updated_at: g.updatedAt };
}
