/**
 * Attribute projection: `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9) applied with the
 * `returned` characteristics of the registry (RFC 7643 §2.4). Pure: no Hono, no D1.
 *
 * - `returned: always` (`id`; and `schemas`, which every resource carries, RFC 7643 §3) is kept whatever is asked;
 * - `returned: never` (`password`) is never kept;
 * - `returned: request` only when named in `attributes`;
 * - `returned: default` (everything else, including `meta`: RFC 7643 §3.1 gives every `meta` sub-attribute
 *   `returned: default`) unless `attributes` leaves it out or `excludedAttributes` names it.
 *
 * Names are case-insensitive (RFC 7643 §2.1) and may be URN-qualified (RFC 7644 §3.10):
 * `urn:…:enterprise:2.0:User:department`, `urn:…:core:2.0:User:userName`, or a whole schema `urn:…:enterprise:2.0:User`.
 * Names that match nothing are ignored. Attributes stored on a resource but unknown to the registry
 * (custom attributes kept for round-trips) are treated as `returned: default`.
 *
 * A name may carry a value filter, `emails[type eq "work"]` or `emails[type eq "work"].value` (the valuePath
 * notation of RFC 7644 §3.5.2, which Microsoft's SCIM reference test collection sends in `attributes`).
 * RFC 7644 §3.10 does not define it for `attributes`; we read it as selecting elements: `attributes` returns
 * ONLY the elements that match (with all their sub-attributes, or just `.value`), because a filter that
 * returned every element would be the same as naming `emails`; `excludedAttributes` removes the matching
 * elements (or just their `.value`) and keeps the others. Naming the attribute plainly as well wins (all elements).
 */

import type { Filter } from "./filter/ast";
import { matchesFilterWithin } from "./filter/evaluate";
import { parseValuePathExpression } from "./filter/parse";
import { type AttributeDef, type Returned, commonAttributeDefs, resourceTypes, schemas } from "./registry";

/** The projection inputs; the same shape as the matching fields of `ListParams`. */
export interface ProjectionParams {
  attributes?: string[];
  excludedAttributes?: string[];
}

type ResourceTypeId = "User" | "Group";

/** A parsed attribute name; all parts lower-cased. `schema` is "" for the resource type's core schema. */
interface Path {
  schema: string;
  attr?: string;
  sub?: string;
  /** `emails[type eq "work"]`: the elements selected (paths inside are relative to the attribute). */
  filter?: Filter;
}

/** One `attr[filter]` / `attr[filter].sub` name: `sub` undefined means the whole matching element. */
interface FilteredName {
  filter: Filter;
  sub?: string;
}

/** Requested names compiled for lookup: whole schemas, and per `schema|attr` either "all" or some sub-attributes. */
interface Selection {
  schemas: Set<string>;
  attrs: Map<string, "all" | Set<string>>;
  /** Per `schema|attr`, the value-filtered names. */
  filtered: Map<string, FilteredName[]>;
}

/** What survives of one attribute: nothing, or the sub-attributes passing `keepSub` (`exact`: only those). */
type Decision = { drop: true } | { drop: false; keepSub: SubPredicate; exact: boolean };
/** Whether sub-attribute `name` of element `el` is kept; `el` undefined: "of some element" (wantsAttribute). */
type SubPredicate = (name: string, def: AttributeDef | undefined, el?: unknown) => boolean;

const DROP: Decision = { drop: true };

/** Return a copy of `resource` holding only what the request asks for (RFC 7644 §3.4.2.5, RFC 7643 §2.4). */
export function project(
  resource: Record<string, unknown>,
  resourceType: ResourceTypeId,
  params: ProjectionParams,
): Record<string, unknown> {
  const rt = resourceTypes[resourceType];
  const extensionKeys = Object.keys(resource).filter(isUrn);
  const known = [rt.schema, ...rt.schemaExtensions.map((e) => e.schema), ...extensionKeys];
  const coreUrns = [rt.schema.toLowerCase()];
  const mode = modeOf(params, (p) => parsePath(p, known, coreUrns));
  const core = coreDefs(resourceType);

  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(resource)) {
    if (key.toLowerCase() === "schemas") {
      out[key] = value; // RFC 7643 §3: every representation carries `schemas`.
    } else if (isUrn(key)) {
      const urn = key.toLowerCase();
      const defs = schemaAttributes(key);
      if (!isPlainObject(value)) {
        if (keepWholeOpaque(mode, urn)) out[key] = value;
        continue;
      }
      const inner = projectAttributes(value, urn, defs, mode, resourceType);
      if (Object.keys(inner).length > 0) out[key] = inner;
    } else {
      Object.assign(out, projectAttributes({ [key]: value }, "", core, mode, resourceType));
    }
  }
  return out;
}

/**
 * Whether a response could contain any part of attribute `path` (e.g. `members`, `groups`,
 * `urn:…:enterprise:2.0:User:manager`), so the caller can skip loading it. `returned` characteristics are
 * consulted when `resourceType` is given; without it the attribute is treated as `returned: default`.
 */
export function wantsAttribute(params: ProjectionParams, path: string, resourceType?: ResourceTypeId): boolean {
  const rts = resourceType ? [resourceTypes[resourceType]] : Object.values(resourceTypes);
  const known = rts.flatMap((rt) => [rt.schema, ...rt.schemaExtensions.map((e) => e.schema)]);
  const coreUrns = rts.map((rt) => rt.schema.toLowerCase());
  const target = parsePath(path, known, coreUrns);
  if (!target.attr) return true;
  const defs = resourceType ? (target.schema === "" ? coreDefs(resourceType) : schemaAttributes(target.schema)) : [];
  const def = findDef(defs, target.attr);
  const mode = modeOf(params, (p) => parsePath(p, known, coreUrns));
  const decision = decide(target.schema, target.attr, def, mode, resourceType ?? "User");
  if (decision.drop) return false;
  if (target.sub === undefined) return true;
  const subDef = findDef(def?.subAttributes ?? [], target.sub);
  return decision.keepSub(target.sub, subDef);
}

type Mode = { kind: "default" } | { kind: "attributes"; sel: Selection } | { kind: "excluded"; sel: Selection };

function modeOf(params: ProjectionParams, parse: (p: string) => Path): Mode {
  // `attributes` wins if a caller passes both; `parseListParams` refuses that combination anyway.
  if (params.attributes?.length) return { kind: "attributes", sel: compile(params.attributes.map(parse)) };
  if (params.excludedAttributes?.length) return { kind: "excluded", sel: compile(params.excludedAttributes.map(parse)) };
  return { kind: "default" };
}

function compile(paths: Path[]): Selection {
  const sel: Selection = { schemas: new Set(), attrs: new Map(), filtered: new Map() };
  for (const p of paths) {
    if (p.attr === undefined) {
      sel.schemas.add(p.schema);
      continue;
    }
    const key = `${p.schema}|${p.attr}`;
    if (p.filter !== undefined) {
      const list = sel.filtered.get(key) ?? [];
      list.push(p.sub === undefined ? { filter: p.filter } : { filter: p.filter, sub: p.sub });
      sel.filtered.set(key, list);
      continue;
    }
    const current = sel.attrs.get(key);
    if (p.sub === undefined) sel.attrs.set(key, "all");
    else if (current === undefined) sel.attrs.set(key, new Set([p.sub]));
    else if (current !== "all") current.add(p.sub);
  }
  return sel;
}

/**
 * Split an attribute name (RFC 7644 §3.10) into schema, attribute and sub-attribute. Known schema URNs are
 * matched first (longest wins); another `urn:` name is split at its last colon (attribute names have none).
 * A core URN maps to "" so `urn:…:core:2.0:User:userName` and `userName` are the same name.
 */
function parsePath(raw: string, knownUrns: string[], coreUrns: string[]): Path {
  if (raw.includes("[")) {
    // `emails[type eq "work"].value`: parsed as a PATCH-style valuePath (the filter keeps its literals' case).
    const vp = parseValuePathExpression(raw.trim());
    if (!vp.ok || vp.value.filter === undefined) return { schema: "", attr: "\u0000invalid" };
    const base = parsePath(vp.value.path, knownUrns, coreUrns);
    if (base.attr === undefined || base.sub !== undefined) return { schema: "", attr: "\u0000invalid" };
    const sub = vp.value.subAttr?.toLowerCase();
    return { ...base, filter: vp.value.filter, ...(sub !== undefined ? { sub } : {}) };
  }
  const lower = raw.trim().toLowerCase();
  let schema = "";
  let rest = lower;
  if (isUrn(lower)) {
    const match = knownUrns
      .map((u) => u.toLowerCase())
      .filter((u) => lower === u || lower.startsWith(u + ":"))
      .sort((a, b) => b.length - a.length)[0];
    if (match !== undefined) {
      schema = match;
      rest = lower.slice(match.length + 1);
    } else {
      const colon = lower.lastIndexOf(":");
      schema = lower.slice(0, colon);
      rest = lower.slice(colon + 1);
    }
    if (coreUrns.includes(schema)) schema = "";
  }
  if (rest === "") return { schema };
  const [attr, sub, ...more] = rest.split(".");
  // Deeper paths or filters (`emails[type eq "work"]`) are not attribute names: make them match nothing.
  if (more.length > 0 || !attr) return { schema, attr: "\u0000invalid" };
  return sub === undefined ? { schema, attr } : { schema, attr, sub };
}

/** Apply the decision of each attribute of one schema (core: "", or an extension URN) to `obj`. */
function projectAttributes(
  obj: Record<string, unknown>,
  schema: string,
  defs: AttributeDef[],
  mode: Mode,
  resourceType: ResourceTypeId,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj)) {
    const def = findDef(defs, key);
    const decision = decide(schema, key.toLowerCase(), def, mode, resourceType);
    if (decision.drop) continue;
    const kept = keepSubAttributes(value, def?.subAttributes ?? [], decision);
    if (kept !== undefined) out[key] = kept;
  }
  return out;
}

/** The heart of RFC 7643 §2.4 + RFC 7644 §3.9 for one attribute. */
function decide(schema: string, attr: string, def: AttributeDef | undefined, mode: Mode, resourceType: ResourceTypeId): Decision {
  const returned: Returned = def?.returned ?? "default";
  const notNever = (_: string, d: AttributeDef | undefined) => returnedOf(d) !== "never";
  const defaultSubs = (_: string, d: AttributeDef | undefined) => ["always", "default"].includes(returnedOf(d));
  const alwaysSubs = (_: string, d: AttributeDef | undefined) => returnedOf(d) === "always";
  const onlyAlwaysSubs = (): Decision =>
    def?.subAttributes?.some((s) => s.returned === "always") ? { drop: false, keepSub: alwaysSubs, exact: true } : DROP;

  if (returned === "never") return DROP;
  // RFC 7644 §3.9: excludedAttributes "SHALL have no effect on attributes whose schema "returned" setting is "always"".
  if (returned === "always") return { drop: false, keepSub: notNever, exact: false };

  if (mode.kind === "default") return returned === "request" ? DROP : { drop: false, keepSub: defaultSubs, exact: false };

  const sel = mode.sel.attrs.get(`${schema}|${attr}`);
  const wholeSchema = mode.sel.schemas.has(schema);
  const filtered = mode.sel.filtered.get(`${schema}|${attr}`);
  // The registry path of the attribute, for the filter's case rules (`emails` + `value` is caseExact=false).
  const parentPath = schema === "" ? (def?.name ?? attr) : `${schema}:${def?.name ?? attr}`;
  /** A filtered name selecting sub-attribute `name` (or the whole element) of `el`. */
  const filterHits = (name: string, el: unknown): boolean =>
    filtered?.some((f) => (f.sub === undefined || f.sub === name) && isPlainObject(el) && matchesFilterWithin(el, f.filter, resourceType, parentPath)) ?? false;

  if (mode.kind === "attributes") {
    // Naming the attribute returns all of it (bar `never` sub-attributes).
    if (sel === "all") return { drop: false, keepSub: notNever, exact: false };
    // A whole schema named (`attributes=urn:…:enterprise:2.0:User`) returns its default attributes.
    const viaSchema = wholeSchema && returned !== "request";
    if (sel !== undefined || filtered !== undefined) {
      // `attributes=name.givenName`: only the named sub-attributes (plus `always` ones, plus the defaults
      // when the whole schema was named as well); `emails[type eq "work"]`: those of the matching elements
      // (of any element when asked without one, by wantsAttribute).
      return {
        drop: false,
        keepSub: (name, d, el) => {
          const lower = name.toLowerCase();
          if (sel?.has(lower) || (filtered !== undefined && (el === undefined || filterHits(lower, el)))) return returnedOf(d) !== "never";
          return alwaysSubs(name, d) || (viaSchema && defaultSubs(name, d));
        },
        exact: !viaSchema,
      };
    }
    if (viaSchema) return { drop: false, keepSub: defaultSubs, exact: false };
    return onlyAlwaysSubs();
  }

  // excludedAttributes
  if (returned === "request") return DROP;
  if (sel === "all" || wholeSchema) return onlyAlwaysSubs();
  if (sel !== undefined || filtered !== undefined) {
    // An element whose every sub-attribute is excluded is dropped (keepSubAttributes).
    return {
      drop: false,
      keepSub: (name, d, el) =>
        returnedOf(d) === "always" || (defaultSubs(name, d) && !sel?.has(name.toLowerCase()) && !(el !== undefined && filterHits(name.toLowerCase(), el))),
      exact: false,
    };
  }
  return { drop: false, keepSub: defaultSubs, exact: false };
}

/**
 * Filter the sub-attributes of a complex value (an object, or each object of a multi-valued attribute).
 * Returns undefined when nothing is left; a non-complex value survives only a non-exact decision.
 */
function keepSubAttributes(value: unknown, subDefs: AttributeDef[], decision: Decision & { drop: false }): unknown {
  const filterOne = (v: unknown): unknown => {
    if (!isPlainObject(v)) return decision.exact ? undefined : v;
    const out: Record<string, unknown> = {};
    for (const [k, sv] of Object.entries(v)) {
      if (decision.keepSub(k, findDef(subDefs, k), v)) out[k] = sv;
    }
    return Object.keys(out).length > 0 || (!decision.exact && Object.keys(v).length === 0) ? out : undefined;
  };
  if (Array.isArray(value)) {
    const items = value.map(filterOne).filter((v) => v !== undefined);
    // RFC 7643 §2.5: an empty multi-valued attribute is the same as unassigned; omit it.
    return items.length > 0 || (!decision.exact && value.length === 0) ? items : undefined;
  }
  return filterOne(value);
}

/** A value stored under an extension URN that is not an object: kept unless the request rules it out. */
function keepWholeOpaque(mode: Mode, urn: string): boolean {
  if (mode.kind === "default") return true;
  const named = mode.sel.schemas.has(urn);
  return mode.kind === "attributes" ? named : !named;
}

function coreDefs(resourceType: ResourceTypeId): AttributeDef[] {
  return [...commonAttributeDefs, ...(schemas[resourceTypes[resourceType].schema]?.attributes ?? [])];
}

function schemaAttributes(urn: string): AttributeDef[] {
  const lower = urn.toLowerCase();
  return Object.values(schemas).find((s) => s.id.toLowerCase() === lower)?.attributes ?? [];
}

function findDef(defs: AttributeDef[], name: string): AttributeDef | undefined {
  const lower = name.toLowerCase();
  return defs.find((d) => d.name.toLowerCase() === lower);
}

const returnedOf = (d: AttributeDef | undefined): Returned => d?.returned ?? "default";
const isUrn = (key: string) => key.toLowerCase().startsWith("urn:");
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
