import { describe, expect, it } from "vitest";
import { type ListParams, parseListParams } from "../../src/scim/list-params";
import { SEARCH_REQUEST_SCHEMA } from "../../src/scim/registry";

const MAX = 100;
const q = (s: string) => parseListParams(new URLSearchParams(s), { maxResults: MAX });
const body = (b: Record<string, unknown>) => parseListParams({ schemas: [SEARCH_REQUEST_SCHEMA], ...b }, { maxResults: MAX });
const defaults: ListParams = { startIndex: 1, count: MAX, sortOrder: "ascending" };

describe("parseListParams: query string (RFC 7644 §3.4.2)", () => {
  it.each<[string, string, Partial<ListParams>]>([
    ["nothing", "", {}],
    ["missing count → maxResults", "startIndex=5", { startIndex: 5 }],
    ["startIndex 0 → 1", "startIndex=0", { startIndex: 1 }],
    ["startIndex negative → 1", "startIndex=-7", { startIndex: 1 }],
    ["count=0 asks for totalResults only", "count=0", { count: 0 }],
    ["count negative → 0", "count=-3", { count: 0 }],
    ["count above maxResults → maxResults", "count=1000", { count: MAX }],
    ["count within range", "count=10", { count: 10 }],
    ["huge count clamps", "count=99999999999999999999999", { count: MAX }],
    ["huge startIndex clamps to a safe integer", "startIndex=99999999999999999999999", { startIndex: Number.MAX_SAFE_INTEGER }],
    ["explicit +sign", "count=%2B5", { count: 5 }],
    ["whitespace around numbers", "count=%2010%20", { count: 10 }],
    ["empty values are absent", "filter=&count=&startIndex=&sortOrder=", {}],
    ["sortBy + default ascending", "sortBy=name.familyName", { sortBy: "name.familyName" }],
    ["sortOrder descending", "sortBy=userName&sortOrder=descending", { sortBy: "userName", sortOrder: "descending" }],
    ["sortOrder case-insensitive", "sortOrder=Descending", { sortOrder: "descending" }],
    ["attributes comma-separated", "attributes=userName,%20name.givenName", { attributes: ["userName", "name.givenName"] }],
    ["repeated attributes merge", "attributes=userName&attributes=emails", { attributes: ["userName", "emails"] }],
    ["excludedAttributes", "excludedAttributes=members", { excludedAttributes: ["members"] }],
    ["empty list entries dropped", "attributes=,userName,,", { attributes: ["userName"] }],
    ["all-empty list is absent", "attributes=,,", {}],
    ["parameter names case-insensitive", "STARTINDEX=3&Count=2&Filter=active%20eq%20true", { startIndex: 3, count: 2, filter: "active eq true" }],
    ["unknown parameters ignored", "foo=bar&count=4", { count: 4 }],
    // Microsoft Entra encodes spaces as `+`; URLSearchParams (x-www-form-urlencoded) decodes them.
    ["Entra's + for spaces", 'filter=userName+eq+%22alice%40contoso.com%22', { filter: 'userName eq "alice@contoso.com"' }],
    ["a literal + arrives as %2B", "filter=userName+eq+%22a%2Bb%40x.com%22", { filter: 'userName eq "a+b@x.com"' }],
    ["Entra's group filter", "filter=displayName+eq+%22Sales+Team%22&excludedAttributes=members", {
      filter: 'displayName eq "Sales Team"',
      excludedAttributes: ["members"],
    }],
  ])("%s", (_name, query, expected) => {
    expect(q(query)).toEqual({ ok: true, value: { ...defaults, ...expected } });
  });

  it.each<[string, string, string, RegExp]>([
    ["count not a number", "count=ten", "invalidValue", /"count".*integer.*ten/],
    ["count decimal", "count=1.5", "invalidValue", /"count".*integer/],
    ["count exponent", "count=1e3", "invalidValue", /"count".*integer/],
    ["startIndex not a number", "startIndex=abc", "invalidValue", /"startIndex".*integer/],
    ["sortOrder unknown", "sortOrder=up", "invalidValue", /sortOrder.*"up"/],
    ["attributes with excludedAttributes", "attributes=userName&excludedAttributes=emails", "invalidSyntax", /together/],
    ["count given twice", "count=1&count=2", "invalidSyntax", /"count".*more than once/],
    ["filter given twice (any case)", "filter=a%20pr&FILTER=b%20pr", "invalidSyntax", /"filter".*more than once/],
  ])("%s → 400 %s", (_name, query, scimType, detail) => {
    const r = q(query);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.status).toBe(400);
    expect(r.error.scimType).toBe(scimType);
    expect(r.error.message).toMatch(detail);
  });

  it("a raw decodeURIComponent would keep Entra's + (why routes must use URLSearchParams)", () => {
    const raw = "userName+eq+%22alice%40contoso.com%22";
    expect(decodeURIComponent(raw)).toBe('userName+eq+"alice@contoso.com"');
    expect(new URLSearchParams(`filter=${raw}`).get("filter")).toBe('userName eq "alice@contoso.com"');
  });
});

describe("parseListParams: SearchRequest body (RFC 7644 §3.4.3)", () => {
  it.each<[string, Record<string, unknown>, Partial<ListParams>]>([
    ["only schemas", {}, {}],
    ["full request", {
      filter: 'userName sw "a"',
      startIndex: 11,
      count: 10,
      sortBy: "userName",
      sortOrder: "descending",
      attributes: ["userName", "emails.value"],
    }, { filter: 'userName sw "a"', startIndex: 11, count: 10, sortBy: "userName", sortOrder: "descending", attributes: ["userName", "emails.value"] }],
    ["excludedAttributes array", { excludedAttributes: ["members"] }, { excludedAttributes: ["members"] }],
    ["comma string accepted for attributes", { attributes: "userName,displayName" }, { attributes: ["userName", "displayName"] }],
    ["numeric strings accepted", { startIndex: "2", count: "3" }, { startIndex: 2, count: 3 }],
    ["JSON null is absent", { filter: null, count: null, attributes: null }, {}],
    ["count negative → 0", { count: -1 }, { count: 0 }],
    ["count above max", { count: 5000 }, { count: MAX }],
    ["startIndex 0 → 1", { startIndex: 0 }, { startIndex: 1 }],
    ["keys case-insensitive", { StartIndex: 4, COUNT: 5 }, { startIndex: 4, count: 5 }],
    ["filter keeps literal +", { filter: 'userName eq "a+b@x.com"' }, { filter: 'userName eq "a+b@x.com"' }],
    ["empty attributes array is absent", { attributes: [], excludedAttributes: ["emails"] }, { excludedAttributes: ["emails"] }],
  ])("%s", (_name, b, expected) => {
    expect(body(b)).toEqual({ ok: true, value: { ...defaults, ...expected } });
  });

  it.each<[string, Record<string, unknown>, string, RegExp]>([
    ["missing schemas", { count: 1 }, "invalidSyntax", /SearchRequest/],
    ["wrong schemas", { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"] }, "invalidSyntax", /SearchRequest/],
    ["schemas not an array", { schemas: SEARCH_REQUEST_SCHEMA }, "invalidSyntax", /SearchRequest/],
    ["count decimal", { schemas: [SEARCH_REQUEST_SCHEMA], count: 2.5 }, "invalidValue", /"count".*integer.*2\.5/],
    ["count boolean", { schemas: [SEARCH_REQUEST_SCHEMA], count: true }, "invalidValue", /"count".*integer/],
    ["startIndex object", { schemas: [SEARCH_REQUEST_SCHEMA], startIndex: {} }, "invalidValue", /"startIndex".*integer/],
    ["filter not a string", { schemas: [SEARCH_REQUEST_SCHEMA], filter: 42 }, "invalidValue", /"filter".*string/],
    ["attributes with a number", { schemas: [SEARCH_REQUEST_SCHEMA], attributes: ["userName", 1] }, "invalidValue", /"attributes"/],
    ["both lists", { schemas: [SEARCH_REQUEST_SCHEMA], attributes: ["a"], excludedAttributes: ["b"] }, "invalidSyntax", /together/],
    ["sortOrder unknown", { schemas: [SEARCH_REQUEST_SCHEMA], sortOrder: "asc" }, "invalidValue", /sortOrder/],
    ["count under two spellings", { schemas: [SEARCH_REQUEST_SCHEMA], count: 1, Count: 2 }, "invalidSyntax", /more than once/],
  ])("%s → 400 %s", (_name, b, scimType, detail) => {
    const r = parseListParams(b, { maxResults: MAX });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.status).toBe(400);
    expect(r.error.scimType).toBe(scimType);
    expect(r.error.message).toMatch(detail);
  });

  it("schemas URI is matched case-insensitively", () => {
    expect(parseListParams({ schemas: [SEARCH_REQUEST_SCHEMA.toUpperCase()] }, { maxResults: 5 })).toEqual({
      ok: true,
      value: { startIndex: 1, count: 5, sortOrder: "ascending" },
    });
  });

  it("never throws on a non-object body", () => {
    const r = parseListParams([] as unknown as Record<string, unknown>, { maxResults: MAX });
    expect(r.ok).toBe(false);
  });
});

describe("parseListParams: cursor pagination (RFC 9865 §2, §3)", () => {
  it.each<[string, string, Partial<ListParams>]>([
    ["bare ?cursor asks for the first page", "cursor&count=10", { cursor: "", count: 10 }],
    ["empty cursor= asks for the first page", "cursor=&count=10", { cursor: "", count: 10 }],
    ["a cursor value is kept as is", "cursor=AbC-_.~09", { cursor: "AbC-_.~09" }],
    ["cursor name is case-insensitive", "CURSOR=xyz", { cursor: "xyz" }],
    ["cursor with filter and sort", "filter=userName%20sw%20%22J%22&cursor&count=10&sortBy=userName", { cursor: "", count: 10, filter: 'userName sw "J"', sortBy: "userName" }],
    ["empty startIndex does not conflict with a cursor", "cursor=abc&startIndex=", { cursor: "abc" }],
    ["no cursor: index paging as before", "startIndex=3", { startIndex: 3 }],
  ])("%s", (_name, query, expected) => {
    expect(q(query)).toEqual({ ok: true, value: { ...defaults, ...expected } });
  });

  it.each<[string, Record<string, unknown>, Partial<ListParams>]>([
    ['"cursor": "" asks for the first page', { cursor: "", count: 10 }, { cursor: "", count: 10 }],
    ["a cursor value", { cursor: "VZUTiyhEQJ94IR" }, { cursor: "VZUTiyhEQJ94IR" }],
    ["JSON null cursor is absent", { cursor: null }, {}],
  ])("body: %s", (_name, b, expected) => {
    expect(body(b)).toEqual({ ok: true, value: { ...defaults, ...expected } });
  });

  it.each<[string, URLSearchParams | Record<string, unknown>, string, RegExp]>([
    ["cursor with startIndex", new URLSearchParams("cursor&startIndex=1"), "invalidValue", /"cursor" and "startIndex"/],
    ["cursor value with startIndex", new URLSearchParams("cursor=abc&startIndex=5"), "invalidValue", /"cursor" and "startIndex"/],
    ["body cursor with startIndex", { schemas: [SEARCH_REQUEST_SCHEMA], cursor: "", startIndex: 1 }, "invalidValue", /"cursor" and "startIndex"/],
    ["reserved characters in a cursor", new URLSearchParams("cursor=a%2Fb"), "invalidCursor", /cursor/],
    ["a space in a cursor", new URLSearchParams("cursor=a%20b"), "invalidCursor", /cursor/],
    ["non-ASCII in a cursor", new URLSearchParams("cursor=%C3%A9"), "invalidCursor", /cursor/],
    ["body cursor not a string", { schemas: [SEARCH_REQUEST_SCHEMA], cursor: 5 }, "invalidCursor", /cursor/],
    ["cursor given twice", new URLSearchParams("cursor=a&cursor=b"), "invalidSyntax", /"cursor".*more than once/],
  ])("%s → 400 %s", (_name, input, scimType, detail) => {
    const r = parseListParams(input, { maxResults: MAX });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.status).toBe(400);
    expect(r.error.scimType).toBe(scimType);
    expect(r.error.message).toMatch(detail);
  });
});
