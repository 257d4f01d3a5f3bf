import { describe, expect, it } from "vitest";
import { candidatePrefixes, normaliseDomain, normaliseOrigin, normaliseRequestHost, normaliseRequestPath } from "../../src/access/apps/domain";

describe("normaliseDomain", () => {
  it.each([
    ["app.example.com", "app.example.com", "app.example.com", ""],
    ["App.Example.COM", "app.example.com", "app.example.com", ""],
    ["app.example.com/", "app.example.com", "app.example.com", ""],
    ["app.example.com.", "app.example.com", "app.example.com", ""],
    ["app.example.com/admin", "app.example.com/admin", "app.example.com", "/admin"],
    ["app.example.com/Admin/x//", "app.example.com/Admin/x", "app.example.com", "/Admin/x"],
    ["app.example.com:8443/admin", "app.example.com:8443/admin", "app.example.com:8443", "/admin"],
    ["  localhost:8788  ", "localhost:8788", "localhost:8788", ""],
    ["10.0.0.1", "10.0.0.1", "10.0.0.1", ""],
  ])("%j → domain %j (host %j, prefix %j)", (input, domain, host, pathPrefix) => {
    expect(normaliseDomain(input)).toEqual({ domain, host, pathPrefix });
  });

  it.each([
    [undefined, "required"],
    ["http://app.example.com", "without a scheme"],
    ["*.example.com", "wildcards"],
    ["app.example.com/a/*", "wildcards"],
    ["app.example.com?x", "query"],
    ["app.example.com/#x", "fragment"],
    ["a b.example.com", "spaces"],
    ["app.example.com/a%20b", "%"],
    ["app.example.com\\admin", "\\"],
    ["[::1]:8080", "not a host name"],
    ["app.example.com:0", "port"],
    ["app.example.com:080", "leading zeros"],
    ["app.example.com:80", "default ports"],
    ["app.example.com/a//b", "empty"],
    ["app.example.com/./b", "\".\""],
    ["app.example.com/a/..", "\"..\""],
    ["app.example.com/a\"b", "RFC 3986"],
    [`${"a".repeat(64)}.example.com`, "not a host name"],
    [`app.example.com${"/a".repeat(17)}`, "at most 16 segments"],
  ])("%j is refused (%s)", (input, message) => {
    const result = normaliseDomain(input);
    expect(result).toHaveProperty("error");
    expect((result as { error: string }).error).toContain(message);
  });
});

describe("normaliseOrigin", () => {
  it.each([
    ["https://origin.internal", "https://origin.internal"],
    ["https://origin.internal/", "https://origin.internal"],
    ["http://10.0.0.5:8080/base/", "http://10.0.0.5:8080/base"],
    ["HTTPS://Origin.Internal", "https://origin.internal"],
  ])("%j → %j", (input, origin) => {
    expect(normaliseOrigin(input)).toEqual({ origin });
  });
  it.each(["", "origin.internal", "ftp://x", "https://u@x", "https://x/?q=1", "https://x/#f", "javascript:alert(1)"])("%j is refused", (input) => {
    expect(normaliseOrigin(input)).toHaveProperty("error");
  });
});

describe("request-side normalisation", () => {
  it.each([
    ["/", ["/", ""].slice(1)],
    ["/admin", ["/admin", ""]],
    ["/admin/", ["/admin", ""]],
    ["/a/b/c", ["/a/b/c", "/a/b", "/a", ""]],
    // Empty segments and escaped slashes split like a lenient origin reads them (review R1: `//admin`
    // and `/admin%2Fx` must not fall to an app on `/`).
    ["/a//b", ["/a/b", "/a", ""]],
    ["//admin", ["/admin", ""]],
    ["/%61dmin/x", ["/admin/x", "/admin", ""]],
    ["/a%2Fb", ["/a/b", "/a", ""]],
    ["/a%5cb", ["/a/b", "/a", ""]],
    ["/a\\b", ["/a/b", "/a", ""]],
  ])("candidatePrefixes(%j) = %j", (path, expected) => {
    expect(candidatePrefixes(path)).toEqual(expected);
  });
  it("decodes only unreserved escapes and normalises the host", () => {
    expect(normaliseRequestPath("/%7Euser/%2D%2e%5F%41%7a%30/%2F%25%20")).toBe("/~user/-._Az0/%2F%25%20");
    expect(normaliseRequestHost("App.Example.COM.")).toBe("app.example.com");
    expect(normaliseRequestHost("App.Example.COM.:8443")).toBe("app.example.com:8443");
  });
});
