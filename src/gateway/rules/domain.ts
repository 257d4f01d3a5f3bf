// DNS name handling shared by the expression parser (validating rule values) and the engine
// (normalising query names). Pure.
//
// - Case: DNS names compare case-insensitively over ASCII only (RFC 4343 §3). `toLowerCase()` is
//   NOT used: it folds some non-ASCII characters onto ASCII letters (U+212A KELVIN SIGN → "k"),
//   which would let a name that is not `example.com` on the wire compare equal to it.
// - The root label: `example.com.` and `example.com` are the same name (RFC 1034 §3.1); one
//   trailing dot is dropped.
// - IDNA: names are compared as ASCII, in the form the DNS carries them (A-labels, `xn--…`,
//   RFC 5890 §2.3.2.1). The resolver never converts; a rule value must therefore be written in its
//   A-label form, and a Unicode value is refused when the rule is saved (it could never match).

/** The longest DNS name in presentation form without the trailing dot (RFC 1035 §2.3.4). */
export const MAX_NAME_LENGTH = 253;

/** ASCII-only lower-casing (RFC 4343 §3); other characters are left as they are. */
export function asciiLower(s: string): string {
  return /[A-Z]/.test(s) ? s.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : s;
}

/** A name as matched: ASCII lower case, one trailing dot dropped. */
export function normalizeName(name: string): string {
  const lower = asciiLower(name);
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}

/**
 * The name and each of its parent domains, longest first, at label boundaries only:
 * `a.b.example.com` → `a.b.example.com`, `b.example.com`, `example.com`, `com`. This is the value
 * of Cloudflare's `dns.domains` array, and why `notexample.com` never matches `example.com`.
 * The input must already be normalised; the empty name (the root) has no domains.
 */
export function domainsOf(normalized: string): string[] {
  if (normalized === "") return [];
  const out = [normalized];
  for (let i = normalized.indexOf("."); i !== -1; i = normalized.indexOf(".", i + 1)) {
    out.push(normalized.slice(i + 1));
  }
  return out;
}

/** Why `value` cannot be a domain in a rule, or null when it can (checked when the rule is saved). */
export function domainValueProblem(value: string): string | null {
  const name = value.endsWith(".") ? value.slice(0, -1) : value;
  if (name === "") return "a domain must not be empty";
  // eslint-disable-next-line no-control-regex
  if (/[^\x21-\x7e]/.test(name)) {
    return /[^\x00-\x7f]/.test(name)
      ? "a domain must be written in ASCII (use the xn-- form of an internationalised name)"
      : "a domain must not contain spaces or control characters";
  }
  if (name.includes("*")) return 'wildcards are not supported: any(dns.domains[*] == "example.com") matches every subdomain';
  if (name.length > MAX_NAME_LENGTH) return `a domain is at most ${MAX_NAME_LENGTH} characters`;
  if (name.split(".").some((label) => label === "")) return "a domain must not contain an empty label";
  if (name.split(".").some((label) => label.length > 63)) return "a domain label is at most 63 characters";
  return null;
}
