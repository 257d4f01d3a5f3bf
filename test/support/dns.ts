// DNS messages for tests: queries as a DoH client sends them, and answers as an upstream resolver
// writes them (uncompressed names), built with the resolver's own codec helpers where they fit.
import { CLASS_IN, FLAG, TYPE } from "../../src/gateway/dns/codec";
import { encodeName } from "../../src/gateway/dns/messages";

function name(n: string): number[] {
  const wire = encodeName(n);
  if (!wire) throw new Error(`not a plain name: ${n}`);
  return [...wire];
}
const u16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];
const u32 = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];

/** EDNS options: `ecs` adds an EDNS Client Subnet option (RFC 7871) the upstream must never see. */
export interface QueryOptions {
  id?: number;
  type?: number;
  klass?: number;
  rd?: boolean;
  cd?: boolean;
  edns?: { do?: boolean; ecs?: boolean } | false;
  opcode?: number;
}

/** A query as a stub sends it (RD set, EDNS with a 1232 UDP size unless `edns: false`). */
export function dnsQuery(qname: string, opts: QueryOptions = {}): Uint8Array {
  const edns = opts.edns === undefined ? {} : opts.edns;
  const flags = (opts.rd === false ? 0 : FLAG.RD) | (opts.cd ? FLAG.CD : 0) | ((opts.opcode ?? 0) << 11);
  const bytes = [...u16(opts.id ?? 0x1234), ...u16(flags), ...u16(1), ...u16(0), ...u16(0), ...u16(edns ? 1 : 0), ...name(qname), ...u16(opts.type ?? TYPE.A), ...u16(opts.klass ?? CLASS_IN)];
  if (edns) {
    // ECS: family 1, source /24, scope 0, 192.0.2.0
    const options = edns.ecs ? [...u16(8), ...u16(7), ...u16(1), 24, 0, 192, 0, 2] : [];
    bytes.push(0, ...u16(TYPE.OPT), ...u16(1232), 0, 0, edns.do ? 0x80 : 0, 0, ...u16(options.length), ...options);
  }
  return Uint8Array.from(bytes);
}

/** One record of a fake upstream's answer. */
export interface FakeRecord {
  name: string;
  type: number;
  ttl: number;
  rdata: number[];
}

/** An SOA record whose MINIMUM is `minimum` (RFC 2308 negative caching). */
export function soa(zone: string, ttl: number, minimum: number): FakeRecord {
  return { name: zone, type: TYPE.SOA, ttl, rdata: [...name(`ns.${zone}`), ...name(`hostmaster.${zone}`), ...u32(1), ...u32(3600), ...u32(600), ...u32(86400), ...u32(minimum)] };
}

/** An A record. */
export function a(owner: string, ip: string, ttl = 300): FakeRecord {
  return { name: owner, type: TYPE.A, ttl, rdata: ip.split(".").map(Number) };
}

/** An answer as an upstream writes it: question echoed, records uncompressed, optional OPT. */
export function dnsResponse(opts: { id?: number; qname: string; qtype?: number; rcode?: number; answers?: FakeRecord[]; authority?: FakeRecord[]; edns?: boolean; flags?: number }): Uint8Array {
  const answers = opts.answers ?? [];
  const authority = opts.authority ?? [];
  const flags = opts.flags ?? FLAG.QR | FLAG.RD | FLAG.RA | (opts.rcode ?? 0);
  const bytes = [...u16(opts.id ?? 0), ...u16(flags), ...u16(1), ...u16(answers.length), ...u16(authority.length), ...u16(opts.edns ? 1 : 0), ...name(opts.qname), ...u16(opts.qtype ?? TYPE.A), ...u16(CLASS_IN)];
  for (const r of [...answers, ...authority]) bytes.push(...name(r.name), ...u16(r.type), ...u16(CLASS_IN), ...u32(r.ttl), ...u16(r.rdata.length), ...r.rdata);
  if (opts.edns) bytes.push(0, ...u16(TYPE.OPT), ...u16(1232), 0, 0, 0, 0, 0, 0);
  return Uint8Array.from(bytes);
}

/** Unpadded base64url (RFC 8484 §4.1's `dns=` parameter). */
export function base64Url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
