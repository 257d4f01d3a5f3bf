/** RFC 7644 §3.4.2.2 filter syntax tree. Paths are kept as written (`name.givenName`, `urn:…:User:manager.value`). */

export type CompareOp = "eq" | "ne" | "co" | "sw" | "ew" | "gt" | "ge" | "lt" | "le";

/** A comparison literal: JSON string, number, `true`/`false`, or `null`. */
export type FilterValue = string | number | boolean | null;

export type Filter =
  | { kind: "compare"; path: string; op: CompareOp; value: FilterValue }
  | { kind: "present"; path: string }
  | { kind: "and"; left: Filter; right: Filter }
  | { kind: "or"; left: Filter; right: Filter }
  | { kind: "not"; filter: Filter }
  /**
   * `emails[type eq "work" and value co "@x"]`: the inner filter's paths are relative to `path`.
   * `sub` is the `emails[type eq "work"].value eq "x"` form (Entra ID sends it): a comparison on a
   * sub-attribute that must hold for the SAME element as `filter` (RFC 7644 §3.4.2.2 valuePath, §3.5.2
   * `valuePath [subAttr]`), so it means `emails[type eq "work" and value eq "x"]`.
   */
  | { kind: "valuePath"; path: string; filter: Filter; sub?: SubAttrFilter };

/** The comparison after `attr[filter].`: its path is a sub-attribute name of the element. */
export type SubAttrFilter = Extract<Filter, { kind: "compare" | "present" }>;
