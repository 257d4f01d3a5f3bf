import { describe, expect, it } from "vitest";
import { prefixRange } from "../../src/admin/directory-views";

// The group dropdown's search is `lower <= display_name_lower < upper` over an index: the range must
// hold exactly the strings that start with the prefix, in SQLite's BINARY (code point) order.
describe("prefixRange", () => {
  it.each([
    ["ris", "ris", "rit"],
    ["grp-1", "grp-1", "grp-2"],
    ["a\u{10FFFF}", "a\u{10FFFF}", "b"],
    ["\u{D7FF}", "\u{D7FF}", "\u{E000}"],
    ["é", "é", "ê"],
  ])("%j → [%j, %j)", (prefix, lower, upper) => {
    expect(prefixRange(prefix)).toEqual({ lower, upper });
  });

  it("has no range for an empty prefix and no upper bound past the last code point", () => {
    expect(prefixRange("")).toBeNull();
    expect(prefixRange("\u{10FFFF}")).toEqual({ lower: "\u{10FFFF}", upper: null });
  });

  it.each(["risky", "ris", "risk-team", "ris\u{10FFFF}x"])("%j is inside the range of \"ris\"", (s) => {
    const r = prefixRange("ris")!;
    expect(s >= r.lower && (r.upper === null || s < r.upper)).toBe(true);
  });
  it.each(["ri", "rit", "frisky", "rj"])("%j is outside the range of \"ris\"", (s) => {
    const r = prefixRange("ris")!;
    expect(s >= r.lower && (r.upper === null || s < r.upper)).toBe(false);
  });
});
