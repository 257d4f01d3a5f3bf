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
  /** `emails[type eq "work" and value co "@x"]`: the inner filter's paths are relative to `path`. */
  | { kind: "valuePath"; path: string; filter: Filter };
