import { describe, expect, it } from "vitest";
import { ageTtls, cacheTtl, FLAG, parseMessage, rcodeOf, readName, TYPE, typeName } from "../../src/gateway/dns/codec";
import { buildResponse, buildUpstreamQuery, encodeName, parseIp, parseQuery } from "../../src/gateway/dns/messages";
import { a, dnsQuery, dnsResponse, soa } from "../support/dns";

const header = (qd = 1, an = 0, ns = 0, ar = 0) => [0x12, 0x34, 0x01, 0x00, 0, qd, 0, an, 0, ns, 0, ar];

describe("readName", () => {
  it.each<[string, number[], number, string | null]>([
    ["plain", [3, 0x77, 0x77, 0x77, 2, 0x61, 0x62, 0], 0, "www.ab"],
    ["root", [0], 0, ""],
    ["escaped dot and backslash", [3, 0x61, 0x2e, 0x5c, 0], 0, "a\\.\\\\"],
    ["non-printable as \\DDD", [2, 0x00, 0x20, 0], 0, "\\000\\032"],
    // Names live after the 12-octet header; pointers may only target offsets past it.
    ["backward pointer", [...new Array(12).fill(0), 1, 0x61, 0, 1, 0x62, 0xc0, 12], 15, "b.a"],
    ["backward pointer into the header", [1, 0x61, 0, 1, 0x62, 0xc0, 0x00], 3, null],
    ["pointer to itself (loop)", [0xc0, 0x00], 0, null],
    ["forward pointer", [0xc0, 0x02, 0], 0, null],
    ["two pointers into each other", [0xc0, 0x02, 0xc0, 0x00], 2, null],
    ["truncated pointer", [0xc0], 0, null],
    ["extended label type 0x40", [0x41, 0x61, 0], 0, null],
    ["label type 0x80", [0x81, 0x61, 0], 0, null],
    ["label past the end", [5, 0x61, 0x62], 0, null],
    ["no terminator", [1, 0x61], 0, null],
  ])("%s", (_label, bytes, offset, expected) => {
    const result = readName(Uint8Array.from(bytes), offset);
    if (expected === null) expect(result.ok).toBe(false);
    else expect(result.ok && result.value.name).toBe(expected);
  });

  it("refuses a name over 255 octets, also when built from pointers", () => {
    const label = [63, ...new Array(63).fill(0x61)];
    expect(readName(Uint8Array.from([...label, ...label, ...label, ...label, 0]), 0).ok).toBe(false); // 257 octets
    expect(readName(Uint8Array.from([...label, ...label, ...label, 61, ...new Array(61).fill(0x61), 0]), 0).ok).toBe(true); // 255
  });

  it("ends on a long chain of backward pointers (each hop strictly earlier)", () => {
    const bytes = [0];
    for (let i = 0; i < 100; i++) bytes.push(0xc0, bytes.length - 1 - (i === 0 ? 0 : 1));
    // Whatever the verdict (hop cap), it terminates and does not throw.
    expect(() => readName(Uint8Array.from(bytes), bytes.length - 2)).not.toThrow();
  });
});

describe("parseQuery", () => {
  it("reads a stub's query: id, name (case kept), type, class, EDNS DO", () => {
    const q = parseQuery(dnsQuery("A.Example.COM", { id: 7, type: TYPE.AAAA, edns: { do: true } }));
    expect(q.ok && q.value).toMatchObject({ id: 7, name: "A.Example.COM", type: TYPE.AAAA, class: 1, opcode: 0, edns: { udpSize: 1232, version: 0, do: true } });
  });

  it.each<[string, number[]]>([
    ["empty", []],
    ["header only, no question", header(0)],
    ["two questions", [...header(2), 1, 0x61, 0, 0, 1, 0, 1, 1, 0x62, 0, 0, 1, 0, 1]],
    ["truncated question", [...header(1), 1, 0x61, 0, 0, 1, 0]],
    ["trailing octets", [...header(1), 1, 0x61, 0, 0, 1, 0, 1, 0xff]],
    ["a response (QR set)", [0x12, 0x34, 0x81, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x61, 0, 0, 1, 0, 1]],
    ["answer count with no record", [...header(1, 1), 1, 0x61, 0, 0, 1, 0, 1]],
    ["record data past the end", [...header(1, 0, 0, 1), 1, 0x61, 0, 0, 1, 0, 1, 0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 9]],
    ["two OPT records", [...header(1, 0, 0, 2), 1, 0x61, 0, 0, 1, 0, 1, 0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0, 0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0]],
    ["question name with a loop", [...header(1), 0xc0, 12, 0, 1, 0, 1]],
  ])("refuses %s", (_label, bytes) => {
    expect(parseQuery(Uint8Array.from(bytes)).ok).toBe(false);
  });

  it("refuses, from the header alone, a query declaring more records than a query carries (CPU before the token check)", () => {
    // 64 KB of records whose owners each point at a 253-octet question name: ~5,400 name walks.
    const question = [...Array.from({ length: 127 }, () => [1, 0x61]).flat(), 0, 0, 1, 0, 1];
    const count = Math.floor((65535 - 12 - question.length) / 12);
    const records = Array.from({ length: count }, () => [0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]).flat();
    const bytes = Uint8Array.from([0x12, 0x34, 0x01, 0x00, 0, 1, count >> 8, count & 0xff, 0, 0, 0, 0, ...question, ...records]);
    expect(parseMessage(bytes).ok).toBe(true); // well-formed as a message…
    expect(parseQuery(bytes)).toEqual({ ok: false, error: "a query carries at most 8 records" }); // …but not a query we serve
    const withOpt = dnsQuery("example.com", { edns: { do: true } });
    expect(parseQuery(withOpt).ok).toBe(true);
  });
});

describe("buildResponse", () => {
  const q = parseQuery(dnsQuery("WwW.Example.com", { id: 0xbeef, cd: true })) as { ok: true; value: Parameters<typeof buildResponse>[0] };

  it("echoes ID, RD, CD and the question byte for byte, sets QR and RA, writes A records under a pointer", () => {
    const bytes = buildResponse(q.value, 0, [{ type: TYPE.A, ttl: 60, rdata: Uint8Array.of(0, 0, 0, 0) }]);
    const m = parseMessage(bytes);
    expect(m.ok).toBe(true);
    if (!m.ok) return;
    expect(m.value.header.id).toBe(0xbeef);
    expect(m.value.header.flags & (FLAG.QR | FLAG.RD | FLAG.RA | FLAG.CD)).toBe(FLAG.QR | FLAG.RD | FLAG.RA | FLAG.CD);
    expect(m.value.questions[0]!.name).toBe("WwW.Example.com");
    expect(m.value.records.map((r) => [r.section, r.type, r.ttl, r.rdlength])).toEqual([["answer", TYPE.A, 60, 4], ["additional", TYPE.OPT, 0, 0]]);
    expect(readName(bytes, m.value.records[0]!.rdataOffset - 12).ok && readName(bytes, m.value.records[0]!.rdataOffset - 12)).toMatchObject({ value: { name: "WwW.Example.com" } });
  });

  it.each([["SERVFAIL", 2], ["NXDOMAIN", 3], ["REFUSED", 5], ["NOERROR", 0]])("writes %s with no answers", (_n, rcode) => {
    const m = parseMessage(buildResponse(q.value, rcode));
    expect(m.ok && [rcodeOf(m.value.header.flags), m.value.header.ancount]).toEqual([rcode, 0]);
  });

  it("leaves OPT out when the query had none (RFC 6891 §7)", () => {
    const plain = parseQuery(dnsQuery("example.com", { edns: false }));
    const m = plain.ok && parseMessage(buildResponse(plain.value, 0));
    expect(m && m.ok && m.value.header.arcount).toBe(0);
  });
});

describe("buildUpstreamQuery", () => {
  it("is ID 0, RD, the client's CD, the question and a bare OPT: no EDNS Client Subnet or other option", () => {
    const q = parseQuery(dnsQuery("example.com", { id: 99, cd: true, edns: { do: true, ecs: true } }));
    if (!q.ok) throw new Error("query");
    const bytes = buildUpstreamQuery({ wire: q.value.wire, type: TYPE.A, class: 1, edns: true, do: true, cd: true });
    const m = parseMessage(bytes);
    if (!m.ok) throw new Error(m.error);
    expect(m.value.header.id).toBe(0);
    expect(m.value.header.flags).toBe(FLAG.RD | FLAG.CD);
    expect(m.value.records).toEqual([expect.objectContaining({ type: TYPE.OPT, rdlength: 0, ttl: 0x8000 })]);
  });
});

describe("cacheTtl", () => {
  const ttlOf = (bytes: Uint8Array, cap = 300) => {
    const m = parseMessage(bytes);
    if (!m.ok) throw new Error(m.error);
    return cacheTtl(bytes, m.value, cap);
  };
  it.each<[string, Uint8Array, number]>([
    ["the smallest record TTL", dnsResponse({ qname: "x.test", answers: [a("x.test", "192.0.2.1", 120), a("x.test", "192.0.2.2", 40)], edns: true }), 40],
    ["capped", dnsResponse({ qname: "x.test", answers: [a("x.test", "192.0.2.1", 86400)] }), 300],
    ["NXDOMAIN: min(SOA TTL, SOA MINIMUM) (RFC 2308 §5)", dnsResponse({ qname: "x.test", rcode: 3, authority: [soa("test", 900, 30)] }), 30],
    ["NODATA: the SOA's TTL when smaller", dnsResponse({ qname: "x.test", authority: [soa("test", 20, 600)] }), 20],
    ["NXDOMAIN without SOA: not cached", dnsResponse({ qname: "x.test", rcode: 3 }), 0],
    ["SERVFAIL: not cached", dnsResponse({ qname: "x.test", rcode: 2, answers: [a("x.test", "192.0.2.1")] }), 0],
    ["REFUSED: not cached", dnsResponse({ qname: "x.test", rcode: 5 }), 0],
    ["a TTL with the top bit set is zero (RFC 2181 §8)", dnsResponse({ qname: "x.test", answers: [a("x.test", "192.0.2.1", 0x80000000)] }), 0],
    ["truncated (TC): not cached", dnsResponse({ qname: "x.test", flags: FLAG.QR | FLAG.TC, answers: [a("x.test", "192.0.2.1")] }), 0],
  ])("%s", (_label, bytes, expected) => {
    expect(ttlOf(bytes)).toBe(expected);
  });
});

describe("ageTtls", () => {
  it("lowers every record's TTL by the age, not below 0, and leaves OPT's flags alone", () => {
    const bytes = dnsResponse({ qname: "x.test", answers: [a("x.test", "192.0.2.1", 100), a("x.test", "192.0.2.2", 5)], edns: true });
    const m = parseMessage(bytes);
    if (!m.ok) throw new Error(m.error);
    ageTtls(bytes, m.value, 10);
    const after = parseMessage(bytes);
    expect(after.ok && after.value.records.map((r) => r.ttl)).toEqual([90, 0, 0]);
  });

  it("ages a negative answer's SOA from min(TTL, MINIMUM), the negative TTL a stub derives (RFC 2308 §5)", () => {
    const bytes = dnsResponse({ qname: "x.test", rcode: 3, authority: [soa("test", 900, 30)] });
    const m = parseMessage(bytes);
    if (!m.ok) throw new Error(m.error);
    ageTtls(bytes, m.value, 10);
    const after = parseMessage(bytes);
    if (!after.ok) throw new Error(after.error);
    const record = after.value.records[0]!;
    const minimum = new DataView(bytes.buffer).getUint32(record.rdataOffset + record.rdlength - 4);
    // What the client will cache the NXDOMAIN for: 30 s minus the 10 s it already spent here.
    expect(Math.min(record.ttl, minimum)).toBe(20);
    expect(minimum).toBe(30); // rdata untouched (DNSSEC signs it)
  });
});

describe("names, types and addresses", () => {
  it.each([["A", 1], ["AAAA", 28], ["HTTPS", 65], ["TYPE65280", 65280]])("typeName %s", (name, n) => expect(typeName(n as number)).toBe(name));

  it.each<[string, number[] | null]>([
    ["0.0.0.0", [0, 0, 0, 0]],
    ["192.0.2.10", [192, 0, 2, 10]],
    ["256.0.0.1", null],
    ["01.2.3.4", null],
    ["::", new Array(16).fill(0)],
    ["2001:db8::1", [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]],
    ["::ffff:192.0.2.1", [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1]],
    ["1:2:3:4:5:6:7:8", [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]],
    ["1:2:3:4:5:6:7:8:9", null],
    ["1::2::3", null],
    ["example.com", null],
  ])("parseIp %s", (text, expected) => {
    const ip = parseIp(text);
    expect(ip ? [...ip.bytes] : null).toEqual(expected);
  });

  it.each<[string, boolean]>([["example.com", true], ["example.com.", true], ["", true], ["a..b", false], ["x".repeat(64), false]])("encodeName %j", (n, ok) => {
    expect(encodeName(n) !== null).toBe(ok);
  });
});
