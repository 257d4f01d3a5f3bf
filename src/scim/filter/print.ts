/**
 * Prints a filter syntax tree back to RFC 7644 §3.4.2.2 text, fully parenthesised, so that
 * `parseFilter(printFilter(f))` yields `f` again (used for logs and round-trip tests).
 */
import type { Filter } from "./ast";

/** Canonical text of a filter: lower-case operators, JSON literals, every sub-expression parenthesised. */
export function printFilter(f: Filter): string {
  switch (f.kind) {
    case "compare":
      return `${f.path} ${f.op} ${JSON.stringify(f.value)}`;
    case "present":
      return `${f.path} pr`;
    case "and":
    case "or":
      return `${group(f.left)} ${f.kind} ${group(f.right)}`;
    case "not":
      return `not (${printFilter(f.filter)})`;
    case "valuePath":
      return `${f.path}[${printFilter(f.filter)}]${f.sub ? `.${printFilter(f.sub)}` : ""}`;
  }
}

function group(f: Filter): string {
  return f.kind === "and" || f.kind === "or" ? `(${printFilter(f)})` : printFilter(f);
}
