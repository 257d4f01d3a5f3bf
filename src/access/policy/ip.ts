// A small, strict IP address and CIDR parser for the `ip` Access rule (Cloudflare's `{"ip":{"ip"}}`
// accepts "an IPv4 or IPv6 CIDR", a bare address meaning a single host). Addresses are parsed into
// bigints, never validated by regex alone, so `1.2.3.4.5`, `256.0.0.1`, `01.2.3.4`, `1::2::3` and
// zone ids (`fe80::1%eth0`) are refused rather than half-matched.
//
// IPv4-mapped IPv6 (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2) is the same host as `a.b.c.d`: a request
// address in either form is compared as IPv4 against IPv4 ranges and as its mapped IPv6 form
// against IPv6 ranges. So `10.0.0.0/8` matches a dual-stack socket's `::ffff:10.1.2.3`, and
// `::ffff:0:0/96` matches every IPv4 client.

/** A parsed address: its family and value (32 or 128 bits). */
export interface IpAddress {
  family: 4 | 6;
  value: bigint;
}

/** A parsed CIDR range; `network` has its host bits cleared. */
export interface IpRange {
  family: 4 | 6;
  network: bigint;
  prefix: number;
}

const DECIMAL = /^(0|[1-9][0-9]*)$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseIpv4(text: string): bigint | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  let value = 0n;
  for (const part of parts) {
    // No leading zeros: `010` is octal to inet_aton but decimal to others, so it is refused.
    if (!DECIMAL.test(part) || part.length > 3) return null;
    const n = Number(part);
    if (n > 255) return null;
    value = (value << 8n) | BigInt(n);
  }
  return value;
}

/** The 16-bit groups of one side of `::` (the last may be a dotted IPv4 tail, RFC 4291 §2.2 form 3). */
function groups(side: string, allowIpv4Tail: boolean): number[] | null {
  if (side === "") return [];
  const parts = side.split(":");
  const out: number[] = [];
  for (const [i, part] of parts.entries()) {
    if (allowIpv4Tail && i === parts.length - 1 && part.includes(".")) {
      const v4 = parseIpv4(part);
      if (v4 === null) return null;
      out.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
    } else if (HEX_GROUP.test(part)) {
      out.push(Number.parseInt(part, 16));
    } else {
      return null;
    }
  }
  return out;
}

function parseIpv6(text: string): bigint | null {
  const [before, after, ...more] = text.split("::");
  if (before === undefined || more.length > 0) return null;
  let all: number[];
  if (after !== undefined) {
    const head = groups(before, false);
    const tail = groups(after, true);
    // `::` stands for at least one zero group (RFC 5952 §4.2.2 says it should not replace just one,
    // but RFC 4291 allows it, so it is accepted).
    if (!head || !tail || head.length + tail.length > 7) return null;
    all = [...head, ...Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    const only = groups(text, true);
    if (!only || only.length !== 8) return null;
    all = only;
  }
  return all.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

/** Parses an IPv4 or IPv6 address (no brackets, no zone id, no prefix); null when malformed. */
export function parseIp(text: string): IpAddress | null {
  if (text.includes(":")) {
    const value = parseIpv6(text);
    return value === null ? null : { family: 6, value };
  }
  const value = parseIpv4(text);
  return value === null ? null : { family: 4, value };
}

function mask(family: 4 | 6, prefix: number): bigint {
  const bits = family === 4 ? 32n : 128n;
  const all = (1n << bits) - 1n;
  return prefix === 0 ? 0n : (all >> (bits - BigInt(prefix))) << (bits - BigInt(prefix));
}

/**
 * Parses `address` or `address/prefix`; null when malformed. Host bits under the prefix
 * (`10.1.2.3/8`) are cleared, as routers and Cloudflare's dashboard treat them, not refused.
 */
export function parseCidr(text: string): IpRange | null {
  const slash = text.indexOf("/");
  const address = parseIp(slash === -1 ? text : text.slice(0, slash));
  if (!address) return null;
  const max = address.family === 4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const p = text.slice(slash + 1);
    if (!DECIMAL.test(p) || p.length > 3 || Number(p) > max) return null;
    prefix = Number(p);
  }
  return { family: address.family, network: address.value & mask(address.family, prefix), prefix };
}

const MAPPED_PREFIX = 0xffffn << 32n; // ::ffff:0:0/96

/** The address in each family it belongs to (IPv4 and its IPv4-mapped IPv6 form are one host). */
function forms(address: IpAddress): IpAddress[] {
  if (address.family === 4) return [address, { family: 6, value: MAPPED_PREFIX | address.value }];
  if (address.value >> 32n === 0xffffn) return [address, { family: 4, value: address.value & 0xffffffffn }];
  return [address];
}

/** Whether `address` lies in `range` (IPv4-mapped IPv6 counts as its IPv4 address, see above). */
export function ipInRange(address: IpAddress, range: IpRange): boolean {
  return forms(address).some((a) => a.family === range.family && (a.value & mask(a.family, range.prefix)) === range.network);
}
