// The handful of DER encoders (ITU-T X.690 §8 and §10) that a self-signed X.509 certificate needs.
// Only definite-length, primitive-or-constructed encodings of the types used by RFC 5280 are
// supported; nothing here parses DER.

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), (at += p.length));
  return out;
}

/** Definite-length form (X.690 §8.1.3): short form below 128, else 0x80|count then big-endian bytes. */
function length(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

/** One TLV with the given identifier octet. */
export function tlv(tag: number, content: Uint8Array): Uint8Array {
  return concat(Uint8Array.of(tag), length(content.length), content);
}

export const sequence = (...items: Uint8Array[]) => tlv(0x30, concat(...items));
export const set = (...items: Uint8Array[]) => tlv(0x31, concat(...items));
/** `[n] EXPLICIT` context-specific constructed tag. */
export const explicit = (n: number, inner: Uint8Array) => tlv(0xa0 | n, inner);
export const nullValue = () => Uint8Array.of(0x05, 0x00);
export const boolean = (v: boolean) => Uint8Array.of(0x01, 0x01, v ? 0xff : 0x00);
export const octetString = (bytes: Uint8Array) => tlv(0x04, bytes);
export const utf8String = (s: string) => tlv(0x0c, new TextEncoder().encode(s));
/** BIT STRING with `unused` padding bits in the last octet (X.690 §8.6.2). */
export const bitString = (bytes: Uint8Array, unused = 0) => tlv(0x03, concat(Uint8Array.of(unused), bytes));

/** A non-negative INTEGER from big-endian magnitude bytes: minimal, with a 0x00 pad when the top bit is set (§8.3.2). */
export function unsignedInteger(magnitude: Uint8Array): Uint8Array {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  return tlv(0x02, (trimmed[0] ?? 0) & 0x80 ? concat(Uint8Array.of(0), trimmed) : trimmed);
}

export const smallInteger = (n: number) => unsignedInteger(Uint8Array.of(n));

/** OBJECT IDENTIFIER from dotted form (§8.19): first two arcs as 40·a+b, then base-128 arcs. */
export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map(Number);
  const out: number[] = [40 * arcs[0]! + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const chunk = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Uint8Array.from(out));
}

/**
 * RFC 5280 §4.1.2.5 Time: UTCTime (YYMMDDHHMMSSZ) through 2049, GeneralizedTime (YYYYMMDDHHMMSSZ)
 * from 2050, both in UTC with seconds and without fractions.
 */
export function time(date: Date): Uint8Array {
  const iso = date.toISOString(); // 2026-01-02T03:04:05.678Z
  const digits = iso.slice(0, 19).replace(/[-:T]/g, "") + "Z"; // 20260102030405Z
  const year = date.getUTCFullYear();
  return year < 2050 ? tlv(0x17, new TextEncoder().encode(digits.slice(2))) : tlv(0x18, new TextEncoder().encode(digits));
}
