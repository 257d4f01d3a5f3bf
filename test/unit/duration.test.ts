import { describe, expect, it } from "vitest";
import { checkSessionDuration, parseDuration } from "../../src/access/apps/duration";

describe("parseDuration (Go time.ParseDuration syntax → whole seconds)", () => {
  it.each([
    ["24h", 86_400],
    ["30m", 1_800],
    ["1h30m", 5_400],
    ["1.5h", 5_400],
    ["90s", 90],
    ["1h0m0s", 3_600],
    ["2h45m30s", 9_930],
    ["1500ms", 1],
    ["730h", 2_628_000],
    [".5m", 30],
    ["1.m", 60],
    ["1µs", 0],
    ["1μs", 0],
    ["1us", 0],
    ["5ns", 0],
    ["1m1m", 120],
  ])("%s → %i", (input, seconds) => {
    expect(parseDuration(input)).toBe(seconds);
  });

  it.each(["", "24", "h", "1d", "1w", "-1h", "+1h", "1 h", " 1h", "1h ", "1H", "1.2.3h", "one hour", "0", "1h-30m", "1e3s", "x".repeat(65)])("%j is malformed", (input) => {
    expect(parseDuration(input)).toBeNull();
  });
});

describe("checkSessionDuration (1m to 730h)", () => {
  it.each([
    ["1m", true],
    ["60s", true],
    ["59s", false],
    ["730h", true],
    ["730h1s", false],
    ["24h", true],
    ["0s", false],
  ])("%s → ok %s", (input, ok) => {
    expect(checkSessionDuration(input).ok).toBe(ok);
  });

  it("names the problem", () => {
    expect(checkSessionDuration("1d")).toEqual({ ok: false, error: '"1d" is not a duration; use Go syntax such as "24h", "30m" or "1h30m"' });
    expect(checkSessionDuration(5)).toEqual({ ok: false, error: 'must be a duration string such as "24h" or "30m"' });
  });
});
