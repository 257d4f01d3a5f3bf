// DNS wire format (RFC 1035 §4) for the DoH resolver: our own small codec, no dependency.
//
// Why not a library. We evaluated `dns-packet` (5.6; decodes into objects, needs Node's `Buffer`,
// which nodejs_compat provides) and `@leichtgewicht/dns-packet` (6.0; the same decoder on
// `Uint8Array`, plus five one-author utf8 micro-packages). Both run in workerd (checked under the
// vitest pool: `dns-packet` returns Node `Buffer`s, the other plain `Uint8Array`s) and both are sound
// on compression pointers (backward pointers only). But both throw on malformed input, decode EVERY
// record into objects (per-type rdata decoders: attack surface and CPU on the hot path) and re-encode
// to write a message, while the resolver needs much less and needs it byte-exact:
//   - parse the header, the one question and the OPT pseudo-record (DO bit) of a query;
//   - walk an upstream answer's records only far enough to read and rewrite their TTL fields (a
//     negative answer's SOA aged from min(TTL, MINIMUM), RFC 2308 §5), and rewrite the message ID — passing everything else through
//     untouched (unknown types, DNSSEC records, EDNS options), which a decode/encode round trip
//     does not guarantee;
//   - write a handful of answers (NOERROR/NXDOMAIN/SERVFAIL/REFUSED with A/AAAA records).
// That is ~400 lines (this file and ./messages.ts) over `Uint8Array`/`DataView` that never throw (every reader returns a result),
// fuzzed with fast-check in test/unit/dns-fuzz.test.ts (random bytes and mutated valid messages).
//
// Compression pointers (RFC 1035 §4.1.4): a pointer must point strictly before the pointer itself,
// so a chain always terminates (no loops); hops are capped as well, and a name is at most 255 octets.
// Label types 0b01/0b10 (RFC 6891 §5 deprecated extended labels) are refused.

/** The fixed 12-octet header (RFC 1035 §4.1.1). */
export interface DnsHeader {
  id: number;
  /** The 16 flag bits: QR, opcode, AA, TC, RD, RA, Z, AD, CD, RCODE. */
  flags: number;
  qdcount: number;
  ancount: number;
  nscount: number;
  arcount: number;
}

/** The question section's one entry, with where its name lies in the message. */
export interface DnsQuestion {
  /** Presentation form without the trailing dot (RFC 1035 §5.1 escapes), original case; "" is the root. */
  name: string;
  type: number;
  class: number;
  /** Offsets of the question's wire name in the message: `[start, end)`; it may contain pointers. */
  nameStart: number;
  nameEnd: number;
  /** The name uncompressed in wire form, original case (for a fresh query or answer). */
  wire: Uint8Array;
  /** Offset just past QTYPE/QCLASS. */
  end: number;
}

/** One resource record's fixed fields, located in the message (rdata is not decoded). */
export interface DnsRecord {
  section: "answer" | "authority" | "additional";
  type: number;
  class: number;
  ttl: number;
  /** Offset of the 32-bit TTL field (rewritten in place when an answer ages in the cache). */
  ttlOffset: number;
  rdataOffset: number;
  rdlength: number;
}

/** A whole message: header, questions and every record's location. */
export interface DnsMessage {
  header: DnsHeader;
  questions: DnsQuestion[];
  records: DnsRecord[];
}

/** EDNS(0) from the OPT pseudo-record (RFC 6891 §6.1.3): its class is the UDP size, its TTL holds flags. */
export interface Edns {
  udpSize: number;
  version: number;
  /** DNSSEC OK (RFC 3225). */
  do: boolean;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

export const HEADER_LENGTH = 12;
/** RFC 1035 §2.3.4: a name is at most 255 octets on the wire, a label at most 63. */
const MAX_NAME_OCTETS = 255;
const MAX_POINTER_HOPS = 64;
/** RFC 8484 §6 / the 16-bit DNS-over-TCP length: a DNS message is at most 65535 octets. */
export const MAX_MESSAGE_OCTETS = 65535;

export const TYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, OPT: 41, DS: 43, RRSIG: 46, NSEC: 47, DNSKEY: 48, SVCB: 64, HTTPS: 65, ANY: 255, CAA: 257 } as const;
export const CLASS_IN = 1;
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export const FLAG = { QR: 0x8000, AA: 0x0400, TC: 0x0200, RD: 0x0100, RA: 0x0080, AD: 0x0020, CD: 0x0010 } as const;

const TYPE_NAMES = new Map<number, string>(Object.entries(TYPE).map(([k, v]) => [v, k]));

/** Mnemonic of a record type (`A`, `AAAA`, …), or RFC 3597 §5's `TYPE<n>` for the rest. */
export function typeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `TYPE${type}`;
}

/** The 4-bit opcode (0 = QUERY). */
export const opcodeOf = (flags: number): number => (flags >> 11) & 0xf;
/** The 4-bit header RCODE. */
export const rcodeOf = (flags: number): number => flags & 0xf;

function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** Reads the header; fails only when the message is shorter than 12 octets. */
export function readHeader(b: Uint8Array): Parsed<DnsHeader> {
  if (b.length < HEADER_LENGTH) return { ok: false, error: "shorter than a DNS header" };
  return { ok: true, value: { id: u16(b, 0), flags: u16(b, 2), qdcount: u16(b, 4), ancount: u16(b, 6), nscount: u16(b, 8), arcount: u16(b, 10) } };
}

/**
 * Walks the wire name at `offset`, calling `onLabel(start, len)` for each label in order, and returns
 * the offset just past the name in the message (past the first pointer, if any). Pointers must point
 * strictly backwards (RFC 1035 §4.1.4 "a prior occurrence"), so following them always ends. The one
 * place the name rules live: `readName` and `skipName` differ only in what they keep.
 */
function walkName(b: Uint8Array, offset: number, onLabel?: (start: number, len: number) => void): Parsed<{ end: number; octets: number }> {
  let pos = offset;
  let end = -1;
  let octets = 1; // the root label
  let hops = 0;
  for (;;) {
    if (pos >= b.length) return { ok: false, error: "name runs past the message" };
    const len = b[pos]!;
    if (len === 0) return { ok: true, value: { end: end < 0 ? pos + 1 : end, octets } };
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= b.length) return { ok: false, error: "truncated compression pointer" };
      const target = ((len & 0x3f) << 8) | b[pos + 1]!;
      if (target >= pos) return { ok: false, error: "compression pointer does not point backwards" };
      // Names start after the 12-octet header (RFC 1035 §4.1.4 points at "a prior occurance of the same
      // name"); a pointer into the header would read the ID and flags as labels, and change meaning
      // when we rewrite the ID (found by the fuzzer).
      if (target < HEADER_LENGTH) return { ok: false, error: "compression pointer into the header" };
      if (++hops > MAX_POINTER_HOPS) return { ok: false, error: "too many compression pointers" };
      if (end < 0) end = pos + 2;
      pos = target;
      continue;
    }
    if (kind !== 0) return { ok: false, error: "unsupported label type" };
    octets += len + 1;
    if (octets > MAX_NAME_OCTETS) return { ok: false, error: "name longer than 255 octets" };
    if (pos + 1 + len > b.length) return { ok: false, error: "label runs past the message" };
    onLabel?.(pos, len);
    pos += 1 + len;
  }
}

/** Reads the wire name at `offset`: its presentation form, its uncompressed wire form, and the offset just past it. */
export function readName(b: Uint8Array, offset: number): Parsed<{ name: string; end: number; wire: Uint8Array }> {
  const labels: string[] = [];
  const raw: Uint8Array[] = [];
  const walked = walkName(b, offset, (start, len) => {
    labels.push(presentLabel(b, start + 1, len));
    raw.push(b.subarray(start, start + 1 + len));
  });
  if (!walked.ok) return walked;
  const wire = new Uint8Array(walked.value.octets);
  let at = 0;
  for (const r of raw) {
    wire.set(r, at);
    at += r.length;
  }
  return { ok: true, value: { name: labels.join("."), end: walked.value.end, wire } };
}

/**
 * Validates the wire name at `offset` exactly as `readName` does and returns the offset just past it,
 * without building its text or wire copy. Records' owner names are never read, only skipped: building
 * strings for each of the ~5,400 records a 64 KB message can hold (each a 2-octet pointer to a
 * 253-octet name) cost ~100 ms of CPU per request, before the token is even checked.
 */
export function skipName(b: Uint8Array, offset: number): Parsed<number> {
  const walked = walkName(b, offset);
  return walked.ok ? { ok: true, value: walked.value.end } : walked;
}

/** RFC 1035 §5.1 / RFC 4343 §2.1: `.` and `\` escaped with a backslash, other non-printables as `\DDD`. */
function presentLabel(b: Uint8Array, start: number, len: number): string {
  let out = "";
  for (let i = start; i < start + len; i++) {
    const c = b[i]!;
    if (c === 0x2e || c === 0x5c) out += "\\" + String.fromCharCode(c);
    else if (c > 0x20 && c < 0x7f) out += String.fromCharCode(c);
    else out += "\\" + String(c).padStart(3, "0");
  }
  return out;
}

/** ASCII-only lower-casing (RFC 4343 §3: DNS names compare case-insensitively on ASCII letters only). */
export function lowerName(name: string): string {
  return name.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}

/**
 * Parses a whole message: header, every question and every record's fixed fields (rdata is located,
 * not decoded). Fails on anything malformed, including octets after the last record.
 */
export function parseMessage(b: Uint8Array): Parsed<DnsMessage> {
  const header = readHeader(b);
  if (!header.ok) return header;
  const h = header.value;
  if (b.length > MAX_MESSAGE_OCTETS) return { ok: false, error: "longer than 65535 octets" };
  let pos = HEADER_LENGTH;
  const questions: DnsQuestion[] = [];
  for (let i = 0; i < h.qdcount; i++) {
    const name = readName(b, pos);
    if (!name.ok) return name;
    const at = name.value.end;
    if (at + 4 > b.length) return { ok: false, error: "truncated question" };
    questions.push({ name: name.value.name, type: u16(b, at), class: u16(b, at + 2), nameStart: pos, nameEnd: at, wire: name.value.wire, end: at + 4 });
    pos = at + 4;
  }
  const records: DnsRecord[] = [];
  const sections: [DnsRecord["section"], number][] = [["answer", h.ancount], ["authority", h.nscount], ["additional", h.arcount]];
  for (const [section, count] of sections) {
    for (let i = 0; i < count; i++) {
      const name = skipName(b, pos);
      if (!name.ok) return name;
      const at = name.value;
      if (at + 10 > b.length) return { ok: false, error: "truncated record" };
      const rdlength = u16(b, at + 8);
      if (at + 10 + rdlength > b.length) return { ok: false, error: "record data runs past the message" };
      records.push({ section, type: u16(b, at), class: u16(b, at + 2), ttl: u32(b, at + 4), ttlOffset: at + 4, rdataOffset: at + 10, rdlength });
      pos = at + 10 + rdlength;
    }
  }
  if (pos !== b.length) return { ok: false, error: "trailing octets after the last record" };
  return { ok: true, value: { header: h, questions, records } };
}

/** EDNS(0) of a parsed message, or null without an OPT record; more than one OPT is malformed (RFC 6891 §6.1.1). */
export function ednsOf(message: DnsMessage): Parsed<Edns | null> {
  const opts = message.records.filter((r) => r.type === TYPE.OPT);
  if (opts.length === 0) return { ok: true, value: null };
  if (opts.length > 1 || opts[0]!.section !== "additional") return { ok: false, error: "misplaced or repeated OPT record" };
  const opt = opts[0]!;
  return { ok: true, value: { udpSize: opt.class, version: (opt.ttl >>> 16) & 0xff, do: (opt.ttl & 0x8000) !== 0 } };
}

/**
 * How long an upstream answer may be cached, in seconds, or 0 for "do not cache": the smallest TTL of
 * its records (RFC 2181 §5.2 treats an RRset's TTLs as one, we take the whole answer's minimum); a
 * negative answer (NXDOMAIN or NODATA) per RFC 2308 §5: min(SOA TTL, SOA MINIMUM) of the authority SOA,
 * not cached without one. Other rcodes (SERVFAIL, REFUSED, …) are not cached. Capped at `cap`.
 */
export function cacheTtl(b: Uint8Array, message: DnsMessage, cap: number): number {
  const rcode = rcodeOf(message.header.flags);
  if (rcode !== RCODE.NOERROR && rcode !== RCODE.NXDOMAIN) return 0;
  if ((message.header.flags & FLAG.TC) !== 0) return 0;
  const records = message.records.filter((r) => r.type !== TYPE.OPT);
  const answers = records.filter((r) => r.section === "answer");
  let ttl: number;
  if (rcode === RCODE.NOERROR && answers.length > 0) {
    ttl = Math.min(...records.map((r) => r.ttl));
  } else {
    const soa = records.find((r) => r.section === "authority" && r.type === TYPE.SOA && r.rdlength >= 22);
    if (!soa) return 0;
    const minimum = u32(b, soa.rdataOffset + soa.rdlength - 4);
    ttl = Math.min(soa.ttl, minimum, ...answers.map((r) => r.ttl));
  }
  // RFC 2181 §8: a TTL with the top bit set is treated as zero.
  if (ttl > 0x7fffffff) return 0;
  return Math.max(0, Math.min(ttl, cap));
}

/**
 * Lowers every record's TTL by `seconds` (not below 0) in place; OPT's TTL field holds flags and is
 * left alone. An authority SOA (a negative answer's) is first lowered to its MINIMUM: the stub's
 * negative TTL is min(SOA TTL, MINIMUM) (RFC 2308 §5), so ageing the SOA TTL alone would leave that
 * minimum un-aged and a cached NXDOMAIN would live up to twice its negative TTL downstream. MINIMUM
 * itself is rdata and stays untouched (an RRSIG covers it; TTLs are not signed, RFC 4034 §3.1.4).
 */
export function ageTtls(b: Uint8Array, message: DnsMessage, seconds: number): void {
  if (seconds <= 0) return;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (const r of message.records) {
    if (r.type === TYPE.OPT) continue;
    let ttl = Math.min(r.ttl, 0x7fffffff);
    if (r.type === TYPE.SOA && r.section === "authority" && r.rdlength >= 22) ttl = Math.min(ttl, u32(b, r.rdataOffset + r.rdlength - 4));
    view.setUint32(r.ttlOffset, Math.max(0, ttl - seconds));
  }
}

/** The smallest TTL among the answer's non-OPT records (after aging), or null when it has none. */
export function minRecordTtl(message: DnsMessage, b: Uint8Array): number | null {
  let min: number | null = null;
  for (const r of message.records) {
    if (r.type === TYPE.OPT) continue;
    const ttl = u32(b, r.ttlOffset);
    min = min === null ? ttl : Math.min(min, ttl);
  }
  return min;
}

/** Writes the 16-bit message ID in place. */
export function setId(b: Uint8Array, id: number): void {
  b[0] = (id >> 8) & 0xff;
  b[1] = id & 0xff;
}
