// fast-check fuzzing of the DNS codec: random bytes and mutated valid messages never make it throw,
// and whatever it accepts, every operation the resolver performs on it (TTL, aging, answers) is total.
// The route-level half (no 5xx through /dns-query) is in test/integration/gateway-doh.test.ts.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ageTtls, cacheTtl, ednsOf, minRecordTtl, parseMessage, readName, setId, skipName, TYPE } from "../../src/gateway/dns/codec";
import { buildResponse, parseIp, parseQuery } from "../../src/gateway/dns/messages";
import { a, dnsQuery, dnsResponse, soa } from "../support/dns";

const seeds: Uint8Array[] = [
  dnsQuery("example.com"),
  dnsQuery("a.b.example.com", { type: TYPE.AAAA, edns: { do: true, ecs: true } }),
  dnsQuery("x", { edns: false }),
  dnsResponse({ qname: "x.test", answers: [a("x.test", "192.0.2.1", 100), a("x.test", "192.0.2.2", 5)], edns: true }),
  dnsResponse({ qname: "x.test", rcode: 3, authority: [soa("test", 900, 30)] }),
  // A compressed answer: the owner is a pointer to the question name.
  Uint8Array.from([0, 0, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0x78, 4, 0x74, 0x65, 0x73, 0x74, 0, 0, 1, 0, 1, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]),
];

/** A seed with byte edits: overwrite, truncate, insert, or a forged compression pointer. */
const mutated = fc
  .tuple(
    fc.constantFrom(...seeds),
    fc.array(
      fc.oneof(
        fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
        fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
        fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
        fc.record({ kind: fc.constant("pointer" as const), at: fc.nat(), target: fc.integer({ min: 0, max: 0x3fff }) }),
      ),
      { minLength: 1, maxLength: 6 },
    ),
  )
  .map(([seed, edits]) => {
    let bytes = [...seed];
    for (const e of edits) {
      const at = bytes.length === 0 ? 0 : e.at % bytes.length;
      if (e.kind === "set") bytes[at] = e.value;
      else if (e.kind === "truncate") bytes = bytes.slice(0, at);
      else if (e.kind === "insert") bytes.splice(at, 0, e.value);
      else bytes.splice(at, 2, 0xc0 | (e.target >> 8), e.target & 0xff);
    }
    return Uint8Array.from(bytes);
  });

/** Everything the resolver does with a message, all of which must be total on accepted input. */
function exercise(bytes: Uint8Array): void {
  const m = parseMessage(bytes);
  if (m.ok) {
    const copy = bytes.slice();
    cacheTtl(copy, m.value, 300);
    ednsOf(m.value);
    ageTtls(copy, m.value, 17);
    minRecordTtl(m.value, copy);
    setId(copy, 0xffff);
    expect(parseMessage(copy).ok).toBe(true); // in-place edits keep a message well-formed
  }
  const q = parseQuery(bytes);
  if (q.ok) {
    expect(q.value.wire.length).toBeLessThanOrEqual(255);
    const answer = buildResponse(q.value, 0, [{ type: TYPE.A, ttl: 60, rdata: new Uint8Array(4) }]);
    expect(parseMessage(answer).ok).toBe(true); // what we write from any accepted query is well-formed
  }
  for (let i = 0; i < Math.min(bytes.length, 64); i++) {
    // parseMessage skips records' names with skipName: it must accept and end exactly where readName does.
    const read = readName(bytes, i);
    expect(skipName(bytes, i)).toEqual(read.ok ? { ok: true, value: read.value.end } : read);
  }
}

describe("DNS codec fuzzing", () => {
  it("never throws on random bytes", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => exercise(bytes)), { numRuns: 3000 });
  });

  it("never throws on mutated valid messages (overwrites, truncations, insertions, forged pointers)", () => {
    fc.assert(fc.property(mutated, (bytes) => exercise(bytes)), { numRuns: 5000 });
  });

  it("never throws on random address text", () => {
    fc.assert(fc.property(fc.oneof(fc.string(), fc.ipV4(), fc.ipV6(), fc.ipV4Extended()), (s) => {
      const ip = parseIp(s);
      if (ip) expect(ip.bytes.length).toBe(ip.family === 4 ? 4 : 16);
    }));
  });

  it("parses every well-formed IPv6 literal fast-check can write", () => {
    fc.assert(fc.property(fc.ipV6(), (s) => {
      expect(parseIp(s)?.family).toBe(6);
    }));
  });
});

describe("DNS codec: fuzzer findings kept as regressions", () => {
  it("refuses a compression pointer into the header (it would read the ID as labels, and change when the ID is rewritten)", () => {
    // Found by the mutated-message property: the answer's owner name points at offset 0.
    const bytes = Uint8Array.from([0, 0, 129, 128, 0, 1, 0, 1, 0, 0, 0, 0, 1, 120, 4, 116, 101, 115, 116, 0, 0, 1, 0, 1, 192, 0, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
    expect(parseMessage(bytes)).toEqual({ ok: false, error: "compression pointer into the header" });
    exercise(bytes);
  });
});
