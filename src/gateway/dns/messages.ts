// Reading a DoH query and writing the few messages the resolver authors itself (policy answers,
// SERVFAIL), plus the canonical query it sends upstream. Pure: bytes in, bytes out.
import { CLASS_IN, ednsOf, FLAG, HEADER_LENGTH, opcodeOf, parseMessage, readHeader, TYPE, type Edns, type Parsed } from "./codec";

/** A client's query, reduced to what the resolver acts on. */
export interface DnsQuery {
  id: number;
  flags: number;
  opcode: number;
  /** Presentation form without trailing dot, original case ("" = root). */
  name: string;
  /** The name in wire form, uncompressed, original case (echoed in answers: DNS 0x20 clients compare case). */
  wire: Uint8Array;
  type: number;
  class: number;
  edns: Edns | null;
}

/**
 * The most records (answer + authority + additional) a query may carry. A stub's query has none but
 * its OPT (RFC 6891) and perhaps a TSIG or SIG(0) (RFC 8945, RFC 2931); NOTIFY and UPDATE carry more but
 * are answered NOTIMP here anyway.
 */
export const MAX_QUERY_RECORDS = 8;

/**
 * Parses a DoH request body as a query (RFC 8484 §4.1): a well-formed message with QR = 0 and exactly
 * one question. Anything else is malformed (HTTP 400).
 */
export function parseQuery(bytes: Uint8Array): Parsed<DnsQuery> {
  // Checked on the header, before any record is walked: this runs before the token is checked, and a
  // 64 KB body can declare ~5,400 records whose names each point at a 253-octet name.
  const declared = readHeader(bytes);
  if (!declared.ok) return declared;
  const { ancount, nscount, arcount } = declared.value;
  if (ancount + nscount + arcount > MAX_QUERY_RECORDS) return { ok: false, error: `a query carries at most ${MAX_QUERY_RECORDS} records` };
  const parsed = parseMessage(bytes);
  if (!parsed.ok) return parsed;
  const { header, questions } = parsed.value;
  if ((header.flags & FLAG.QR) !== 0) return { ok: false, error: "a response, not a query" };
  if (questions.length !== 1) return { ok: false, error: "a query has exactly one question" };
  const edns = ednsOf(parsed.value);
  if (!edns.ok) return edns;
  const q = questions[0]!;
  return { ok: true, value: { id: header.id, flags: header.flags, opcode: opcodeOf(header.flags), name: q.name, wire: q.wire, type: q.type, class: q.class, edns: edns.value } };
}

/** One answer record the resolver writes: owner is always the question's name (a pointer to it). */
export interface AnswerRecord {
  type: number;
  ttl: number;
  rdata: Uint8Array;
}

/** Our advertised EDNS UDP size (DNS Flag Day 2020's 1232); meaningless over HTTPS but required in OPT. */
const EDNS_UDP_SIZE = 1232;

function optRecord(doBit: boolean): Uint8Array {
  // Root owner, TYPE OPT, CLASS = UDP size, TTL = ext-rcode 0 | version 0 | DO, RDLENGTH 0 (RFC 6891 §6.1.2).
  return Uint8Array.of(0, 0, TYPE.OPT, EDNS_UDP_SIZE >> 8, EDNS_UDP_SIZE & 0xff, 0, 0, doBit ? 0x80 : 0, 0, 0, 0);
}

function header(id: number, flags: number, qd: number, an: number, ns: number, ar: number): Uint8Array {
  return Uint8Array.of(id >> 8, id & 0xff, flags >> 8, flags & 0xff, 0, qd, an >> 8, an & 0xff, 0, ns, 0, ar);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function u16(n: number): Uint8Array {
  return Uint8Array.of((n >> 8) & 0xff, n & 0xff);
}

/**
 * A response the resolver authors: the client's ID, opcode, RD and CD echoed, RA set, the question
 * echoed byte for byte (its case included), `answers` owned by the question name (pointer to offset
 * 12), and an OPT record when the query had one (RFC 6891 §7: only then).
 */
export function buildResponse(query: DnsQuery, rcode: number, answers: AnswerRecord[] = []): Uint8Array {
  const flags = FLAG.QR | (query.opcode << 11) | (query.flags & (FLAG.RD | FLAG.CD)) | FLAG.RA | (rcode & 0xf);
  const parts: Uint8Array[] = [header(query.id, flags, 1, answers.length, 0, query.edns ? 1 : 0), query.wire, u16(query.type), u16(query.class)];
  for (const a of answers) {
    const ttl = Math.max(0, Math.min(a.ttl, 0x7fffffff));
    parts.push(Uint8Array.of(0xc0, HEADER_LENGTH, a.type >> 8, a.type & 0xff, CLASS_IN >> 8, CLASS_IN & 0xff, ttl >>> 24, (ttl >>> 16) & 0xff, (ttl >>> 8) & 0xff, ttl & 0xff), u16(a.rdata.length), a.rdata);
  }
  if (query.edns) parts.push(optRecord(query.edns.do));
  return concat(parts);
}

/** What an upstream query is built from (also the answer cache's key fields). */
export interface UpstreamQuestion {
  wire: Uint8Array;
  type: number;
  class: number;
  /** Whether the client spoke EDNS: the upstream answer carries OPT only then. */
  edns: boolean;
  /** DNSSEC OK (RFC 3225) and Checking Disabled (RFC 4035 §3.2.2): they change what the answer holds. */
  do: boolean;
  cd: boolean;
}

/**
 * A fresh query for the upstream: ID 0 (RFC 8484 §4.1, cache friendly), RD, the client's CD, the
 * question, and a bare OPT (DO only) when the client used EDNS. Nothing else of the client's message
 * is forwarded: no EDNS Client Subnet, cookies or padding that could identify the device upstream.
 */
export function buildUpstreamQuery(q: UpstreamQuestion): Uint8Array {
  const flags = FLAG.RD | (q.cd ? FLAG.CD : 0);
  return concat([header(0, flags, 1, 0, 0, q.edns ? 1 : 0), q.wire, u16(q.type), u16(q.class), ...(q.edns ? [optRecord(q.do)] : [])]);
}

/** Encodes a plain presentation name (`a.b.example.com`, no escapes) to wire form; null when it is not one. */
export function encodeName(name: string): Uint8Array | null {
  const trimmed = name.endsWith(".") ? name.slice(0, -1) : name;
  const labels = trimmed === "" ? [] : trimmed.split(".");
  const bytes: number[] = [];
  for (const label of labels) {
    if (label.length === 0 || label.length > 63 || !/^[\x21-\x7e]+$/.test(label)) return null;
    bytes.push(label.length, ...Array.from(label, (c) => c.charCodeAt(0)));
  }
  bytes.push(0);
  return bytes.length > 255 ? null : Uint8Array.from(bytes);
}

/** Parses an IPv4 or IPv6 literal into its 4 or 16 octets; null when it is neither. */
export function parseIp(text: string): { family: 4 | 6; bytes: Uint8Array } | null {
  const v4 = parseIpv4(text);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = parseIpv6(text);
  return v6 ? { family: 6, bytes: v6 } : null;
}

function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255)) return null;
  return Uint8Array.from(parts.map(Number));
}

function parseIpv6(text: string): Uint8Array | null {
  if (!/^[0-9a-fA-F:.]{2,45}$/.test(text)) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (s: string): number[] | null => {
    if (s === "") return [];
    const out: number[] = [];
    const parts = s.split(":");
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes(".")) {
        const v4 = parseIpv4(p); // an embedded IPv4 tail (RFC 4291 §2.2 form 3)
        if (!v4) return null;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) out.push(parseInt(p, 16));
      else return null;
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}
