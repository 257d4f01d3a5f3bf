/** Small JSON helpers shared by the PATCH engine and resource normalisation (no mutation of inputs). */

/** A SCIM resource as JSON: core attributes at the top level, extensions under their schema URN. */
export type ScimObject = Record<string, unknown>;

/** True for a plain JSON object (not an array, not null). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Structural equality of JSON values (key order ignored). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => deepEqual(x, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    if (ka.length !== kb.length) return false;
    return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

/** Deep copy of a JSON value; the copy shares nothing with (and is not frozen like) the original. */
export function cloneJson<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => cloneJson(v)) as T;
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = cloneJson(v);
    return out as T;
  }
  return value;
}

/**
 * Approximate serialised size of a JSON value in bytes, or `undefined` when it nests deeper than
 * `maxDepth` or exceeds `limit` — computed without `JSON.stringify`, so hostile input cannot blow the stack.
 */
export function boundedJsonSize(value: unknown, limit: number, maxDepth = 16): number | undefined {
  let total = 0;
  const walk = (v: unknown, depth: number): boolean => {
    if (depth > maxDepth) return false;
    if (typeof v === "string") total += v.length + 2;
    else if (Array.isArray(v)) {
      total += 2;
      for (const x of v) if (!walk(x, depth + 1)) return false;
    } else if (isPlainObject(v)) {
      total += 2;
      for (const [k, x] of Object.entries(v)) {
        total += k.length + 3;
        if (!walk(x, depth + 1)) return false;
      }
    } else total += 8;
    return total <= limit;
  };
  return walk(value, 0) ? total : undefined;
}

/** The key of `obj` equal to `name` ignoring case (attribute names are case-insensitive, RFC 7643 §2.1). */
export function findKey(obj: Record<string, unknown>, name: string): string | undefined {
  if (Object.prototype.hasOwnProperty.call(obj, name)) return name;
  const lower = name.toLowerCase();
  return Object.keys(obj).find((k) => k.toLowerCase() === lower);
}
