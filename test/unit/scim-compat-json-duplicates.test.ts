import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { findDuplicateMember } from "../../src/scim/json-duplicates";

describe("findDuplicateMember", () => {
  it.each<[string, string | undefined]>([
    ['{"userName":"a","userName":"b"}', "userName"],
    ['{"userName":"a","USERNAME":"b"}', "USERNAME"],
    ['{"user\\u004eame":"a","username":"b"}', "username"],
    ['{"userName":"a","user\\u004Eame":"b"}', "userName"],
    ['{"schemas":[],"Operations":[{"op":"add","value":{"title":"a","Title":"b"}}]}', "Title"],
    ['{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"a","department":"b"}}', "department"],
    ['{"emails":[{"value":"a","type":"work","value":"b"}]}', "value"],
    ['{"a":{"b":{"c":{"d":1,"D":2}}}}', "D"],
    ['{"a":1,"b":{"a":2},"A":3}', "A"],
    // values that look like names, names equal to values, the same name in sibling or nested objects: fine
    ['{"userName":"userName","displayName":"userName"}', undefined],
    ['{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}', undefined],
    ['[{"a":1},{"A":1}]', undefined],
    ['{"k":"x\\"","k2":"\\\\","k3":"}{,\\"k\\":"}', undefined],
    ['{"a":"\\\\","A":1}', "A"],
    ['{"a":[1,{"b":2},"c,\\"a\\""],"c":3}', undefined],
    ['{"":1,"":2}', ""],
    ["{}", undefined],
    ['"a"', undefined],
    ["[]", undefined],
    [' { "a" : 1 , "b" : [ ] , "A" : 2 } ', "A"],
  ])("%s → %j", (text, name) => {
    JSON.parse(text); // the scanner runs on validated JSON only
    expect(findDuplicateMember(text)?.name).toBe(name);
  });

  it("reports the offset of the second occurrence", () => {
    expect(findDuplicateMember('{"a":1,"A":2}')).toEqual({ name: "A", at: 7 });
  });

  it("agrees with a reference over the parsed value for random JSON", () => {
    // JSON.stringify never repeats an exact key, so a duplicate is two keys that differ only in case.
    const hasCaseDuplicate = (v: unknown): boolean => {
      if (Array.isArray(v)) return v.some(hasCaseDuplicate);
      if (typeof v !== "object" || v === null) return false;
      const keys = Object.keys(v).map((k) => k.toLowerCase());
      return new Set(keys).size !== keys.length || Object.values(v).some(hasCaseDuplicate);
    };
    const key = fc.string({ unit: fc.constantFrom("a", "A", "b", "\\", '"', "é", "É", "{", ","), maxLength: 3 });
    const value = fc.letrec<{ v: unknown }>((tie) => ({
      v: fc.oneof(
        { depthSize: "small" },
        fc.oneof(fc.string({ maxLength: 4 }), fc.integer(), fc.boolean(), fc.constant(null)),
        fc.array(tie("v"), { maxLength: 3 }),
        fc.dictionary(key, tie("v"), { maxKeys: 4 }),
      ),
    })).v;
    fc.assert(
      fc.property(value, fc.boolean(), (v, pretty) => {
        const text = JSON.stringify(v, null, pretty ? 2 : undefined) ?? "null";
        expect(findDuplicateMember(text) !== undefined).toBe(hasCaseDuplicate(v));
      }),
      { numRuns: 2000 },
    );
  });

  it("is linear: a 1 MB body with many members and escapes scans fast", () => {
    const members = Array.from({ length: 20_000 }, (_, i) => `"attr${i}":"v\\"al\\u00e9${i}"`).join(",");
    const text = `{"schemas":["x"],"Operations":[{"op":"add","value":{${members}}}],"pad":"${"x".repeat(1_000_000 - members.length)}"}`;
    expect(text.length).toBeGreaterThan(1_000_000);
    const started = performance.now();
    expect(findDuplicateMember(text)).toBeUndefined();
    expect(findDuplicateMember(text.replace('"attr19999"', '"ATTR5"'))?.name).toBe("ATTR5");
    // Generous bound for a shared CI machine; the scan itself takes a few milliseconds.
    expect(performance.now() - started).toBeLessThan(500);
  });
});
