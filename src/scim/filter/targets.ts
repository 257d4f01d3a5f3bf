/**
 * The allowlist of filterable/sortable attribute paths → SQL expressions over `users u` / `groups g`
 * (migrations/0000_init.sql). Anything not resolved here is rejected with 400 `invalidFilter`
 * (RFC 7644 §3.4.2.2: "unknown or unsupported attribute"). SQL text here is fixed; every value that
 * comes from the request — including JSON paths — is a bound parameter.
 */
import { err, ok, scimErrors, type Result } from "../errors";
import { resolveAttribute, resourceTypes, type AttributeDef } from "../registry";
import { splitAttrPath } from "./path";

/** A bound SQL parameter (D1 binds strings, numbers and null). */
export type Param = string | number | null;
export type ResourceType = "User" | "Group";

/** A SQL fragment and its parameters, in the order of its `?` placeholders. */
export interface Sql {
  sql: string;
  params: Param[];
}

/** One value per row (or per element inside a collection). */
export interface ScalarTarget {
  kind: "scalar";
  /** Expression and its params; repeated verbatim (with its params) wherever the expression is reused. */
  expr: Sql;
  /** `any`: an unknown-extension attribute, typed by the literal it is compared with. */
  type: "string" | "boolean" | "dateTime" | "any";
  caseExact: boolean;
  /** The column holds JS-lower-cased text (`user_name_lower`, `value_lower`, `display_name_lower`). */
  lowered: boolean;
  /** Set for JSON-backed values: the document expression (no params) and the JSON path (bound). */
  json?: { doc: string; path: Sql };
  /** Inside a collection with a `semiJoin`: an index on (its idp column, this column) serves eq and sw. */
  indexed?: boolean;
  /** An FTS5 trigram index over this column (migrations/0003_email_trigram.sql) and the rowid it is keyed by: narrows co/ew. */
  trigram?: { table: string; rowid: string };
  /** Reads the parent row (`u.resource`), so a subquery over the collection cannot be evaluated once. */
  correlated?: boolean;
}

/** A multi-valued attribute: rows of a child table or of `json_each`, matched with EXISTS (or a semi-join). */
export interface CollectionTarget {
  kind: "collection";
  /** `SELECT … FROM <from> WHERE <where>`; `params` are those of from+where, in order. */
  from: string;
  where: string;
  params: Param[];
  /** The sub-attribute named in the path (`emails.value` → `value`), if any. */
  sub: string | undefined;
  /** Resolves a sub-attribute of one element (relative name, case-insensitive). */
  element(sub: string): Result<ScalarTarget>;
  /** ORDER BY inside the subquery that picks the value to sort by: primary first, else first (RFC 7644 §3.4.2.3). */
  firstOrder: string;
  /**
   * Set when the collection can also be matched as `<outer> IN (SELECT <key> FROM <from> WHERE <idp> = ? AND …)`:
   * an element condition on an `indexed` or `trigram` column then costs one index search, not a probe per row.
   */
  semiJoin?: { outer: string; key: string; idp: string };
}

/** A single-valued complex attribute (`name`, `urn:…:enterprise:2.0:User:manager`). */
export interface ComplexTarget {
  kind: "complex";
  /** The path as resolved; sub-attributes are reached as `${path}.${sub}`. */
  path: string;
  hasValue: boolean;
  json: { doc: string; path: Sql };
}

export type Target = ScalarTarget | CollectionTarget | ComplexTarget;

/** The table alias the caller uses: `users u`, `groups g`. */
export const tableAlias = (rt: ResourceType): "u" | "g" => (rt === "User" ? "u" : "g");

const invalid = (detail: string) => err(scimErrors.invalidFilter(detail));

/** A JSON path with every key quoted: URN keys contain ':' and '.' (`$."urn:…:2.0:User"."department"`). */
export function jsonPath(keys: string[]): string {
  return "$" + keys.map((k) => `."${k}"`).join("");
}

/** A column or fixed expression; `caseExact` is filled in from the registry by `withRegistryCase`. */
function column(sql: string, type: ScalarTarget["type"], opts: Pick<ScalarTarget, "indexed" | "trigram"> & { lowered?: boolean } = {}): ScalarTarget {
  const { lowered = false, ...rest } = opts;
  return { kind: "scalar", expr: { sql, params: [] }, type, caseExact: false, lowered, ...rest };
}

function jsonScalar(doc: string, keys: string[], def: AttributeDef | undefined): ScalarTarget {
  return jsonValue(doc, { sql: "?", params: [jsonPath(keys)] }, def);
}

function jsonValue(doc: string, path: Sql, def: AttributeDef | undefined): ScalarTarget {
  const type = def === undefined ? "any" : def.type === "boolean" ? "boolean" : def.type === "dateTime" ? "dateTime" : def.type === "integer" || def.type === "decimal" ? "any" : "string";
  const expr = { sql: `json_extract(${doc}, ${path.sql})`, params: path.params };
  return { kind: "scalar", expr, type, caseExact: def?.caseExact ?? false, lowered: false, json: { doc, path } };
}

const notFilterable = (path: string) => invalid(`"${path}" is not filterable`);

/** The registry decides case sensitivity (RFC 7643 §2.1); lower-cased columns are case-insensitive by construction. */
function withRegistryCase(t: ScalarTarget, def: AttributeDef): ScalarTarget {
  return t.lowered ? t : { ...t, caseExact: def.caseExact };
}

/** Columns of the core schema, keyed by canonical `attr` / `attr.sub` (RFC 7643 §3.1, §4.1, §4.2). */
function coreColumn(rt: ResourceType, key: string): ScalarTarget | null | undefined {
  const a = tableAlias(rt);
  switch (key) {
    case "id":
      return column(`${a}.id`, "string");
    case "externalId":
      return column(`${a}.external_id`, "string");
    case "meta.created":
      return column(`${a}.created_at`, "dateTime");
    case "meta.lastModified":
      return column(`${a}.updated_at`, "dateTime");
    case "meta.resourceType":
      return column(`'${rt}'`, "string");
    case "meta.version": // rendered as the ETag, src/directory/etag.ts
      return column(`('W/"' || ${a}.version || '"')`, "string");
    case "meta":
    case "meta.location":
      return null; // meta is not stored in `resource`; location is built from the request URL
  }
  if (rt === "Group") return key === "displayName" ? column("g.display_name_lower", "string", { lowered: true }) : undefined;
  switch (key) {
    case "userName":
      return column("u.user_name_lower", "string", { lowered: true });
    case "displayName":
      return column("u.display_name", "string");
    case "name.givenName":
      return column("u.given_name", "string");
    case "name.familyName":
      return column("u.family_name", "string");
    case "active":
      return column("u.active", "boolean");
  }
  return undefined;
}

/** Child-table collections: `emails` (user_emails), `groups` and `members` (group_members). */
function tableCollection(rt: ResourceType, attr: AttributeDef, sub: string | undefined): CollectionTarget | undefined {
  const key = `${rt}.${attr.name}`;
  const subDef = (name: string) => attr.subAttributes?.find((s) => s.name.toLowerCase() === name.toLowerCase());
  const make = (from: string, where: string, firstOrder: string, cols: Record<string, ScalarTarget | null>, semiJoin?: CollectionTarget["semiJoin"]): CollectionTarget => ({
    kind: "collection",
    from,
    where,
    params: [],
    sub,
    firstOrder,
    ...(semiJoin ? { semiJoin } : {}),
    element(name) {
      const def = subDef(name);
      const target = def ? cols[def.name] : undefined;
      if (def === undefined || target === undefined) return invalid(`"${attr.name}.${name}" is not a known attribute`);
      if (target === null) return notFilterable(`${attr.name}.${name}`);
      return ok(withRegistryCase(target, def));
    },
  });
  if (key === "User.emails") {
    // `position` is the element's index in resource.emails (src/directory/user-record.ts), so what
    // the columns cannot say — `display`, and whether `primary` was given at all — is read from the
    // JSON at `$."emails"[position]` (prefix and suffix of the path are bound).
    const atPosition = (name: string): ScalarTarget => ({
      ...jsonValue("u.resource", { sql: "(? || ue.position || ?)", params: ['$."emails"[', `]."${name}"`] }, subDef(name)),
      correlated: true,
    });
    // value: index user_emails_idp_value (idp_id, value_lower); trigram index user_emails_trigram, keyed by the rowid.
    const value = column("ue.value_lower", "string", { lowered: true, indexed: true, trigram: { table: "user_emails_trigram", rowid: "ue.rowid" } });
    return make(
      "user_emails ue",
      "ue.user_id = u.id",
      "ue.is_primary DESC, ue.position",
      { value, type: column("ue.type", "string"), primary: atPosition("primary"), display: atPosition("display") },
      { outer: "u.id", key: "ue.user_id", idp: "ue.idp_id" },
    );
  }
  if (key === "User.groups") {
    return make("group_members gm JOIN groups gg ON gg.id = gm.group_id", "gm.user_id = u.id", "gm.group_id", {
      value: column("gm.group_id", "string"),
      display: column("gg.display_name_lower", "string", { lowered: true }),
      type: column("'direct'", "string"),
      $ref: null,
    });
  }
  if (key === "Group.members") {
    // display as rendered by src/directory/group-store.ts: coalesce(display_name, user_name)
    return make("group_members gm JOIN users mu ON mu.id = gm.user_id", "gm.group_id = g.id", "gm.user_id", {
      value: column("gm.user_id", "string"),
      display: column("coalesce(mu.display_name, mu.user_name)", "string"),
      type: column("'User'", "string"),
      $ref: null,
    });
  }
  return undefined;
}

/** A multi-valued attribute kept only in the JSON resource: EXISTS over `json_each` (RFC 7644 §3.4.2.2). */
function jsonCollection(rt: ResourceType, keys: string[], attr: AttributeDef, sub: string | undefined): CollectionTarget {
  // Elements that are not objects have no sub-attributes; the CASE keeps json_extract off non-JSON text.
  const doc = "(CASE WHEN j.type = 'object' THEN j.value END)";
  return {
    kind: "collection",
    from: `json_each(${tableAlias(rt)}.resource, ?) j`,
    where: "1 = 1",
    params: [jsonPath(keys)],
    sub,
    firstOrder: `coalesce(${doc} -> '$.primary', 'false') = 'true' DESC, j.key`,
    element(name) {
      const def = attr.subAttributes?.find((s) => s.name.toLowerCase() === name.toLowerCase());
      if (!def) return invalid(`"${attr.name}.${name}" is not a known attribute`);
      if (def.returned === "never") return notFilterable(`${attr.name}.${name}`);
      return ok(jsonScalar(doc, [def.name], def));
    },
  };
}

/**
 * Resolves a filter or sortBy path (case-insensitively, RFC 7643 §2.1) to a target: a column, a child
 * table, or a bound JSON path into `resource`. Unknown attributes and `returned: never` ones (password)
 * are 400 `invalidFilter`.
 */
export function resolveTarget(rt: ResourceType, path: string): Result<Target> {
  const split = splitAttrPath(path);
  if (!split) return invalid(`"${path}" is not a valid attribute path`);
  const a = tableAlias(rt);
  const doc = `${a}.resource`;
  const rtDef = resourceTypes[rt];
  const schemaLower = split.schema?.toLowerCase();
  const isCore = schemaLower === undefined || schemaLower === rtDef.schema.toLowerCase();
  const extension = isCore ? undefined : rtDef.schemaExtensions.find((e) => e.schema.toLowerCase() === schemaLower)?.schema;
  if (!isCore && extension === undefined) {
    // An extension we have no schema for (RFC 7643 §3.3): stored under its URN key, as written.
    const keys = [split.schema!, split.attr, ...(split.subAttr !== undefined ? [split.subAttr] : [])];
    return ok(jsonScalar(doc, keys, undefined));
  }
  const resolved = resolveAttribute(rt, path);
  if (!resolved) return invalid(`Unknown attribute "${path}"`);
  const { attribute, subAttribute } = resolved;
  if (attribute.returned === "never" || subAttribute?.returned === "never") return notFilterable(path);
  const prefix = extension !== undefined ? [extension] : [];
  if (isCore) {
    const col = coreColumn(rt, subAttribute ? `${attribute.name}.${subAttribute.name}` : attribute.name);
    if (col === null) return notFilterable(path);
    if (col !== undefined) return ok(withRegistryCase(col, subAttribute ?? attribute));
    if (attribute.multiValued) {
      const table = tableCollection(rt, attribute, subAttribute?.name);
      if (table) return ok(table);
    }
  }
  if (attribute.multiValued) return ok(jsonCollection(rt, [...prefix, attribute.name], attribute, subAttribute?.name));
  if (subAttribute) return ok(jsonScalar(doc, [...prefix, attribute.name, subAttribute.name], subAttribute));
  if (attribute.type === "complex") {
    const hasValue = attribute.subAttributes?.some((s) => s.name === "value") ?? false;
    return ok({ kind: "complex", path, hasValue, json: { doc, path: { sql: "?", params: [jsonPath([...prefix, attribute.name])] } } });
  }
  return ok(jsonScalar(doc, [...prefix, attribute.name], attribute));
}
