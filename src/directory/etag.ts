import { scimErrors } from "../scim/errors";

/** The weak entity tag of a resource version (RFC 7644 §3.14); also `meta.version`. */
export function etagOf(version: number): string {
  return `W/"${version}"`;
}

function tagsOf(header: string): string[] {
  return header.split(",").map((t) => t.trim()).filter(Boolean);
}

/** RFC 7232 §3.1 weak comparison: `W/"3"` and `"3"` both match version 3; `*` matches any. */
function matches(header: string, version: number): boolean {
  const want = `"${version}"`;
  return tagsOf(header).some((t) => t === "*" || t.replace(/^W\//, "") === want);
}

/** `If-Match` on a write (RFC 7644 §3.14): a stale version answers 412 and changes nothing. */
export function assertIfMatch(header: string | undefined, version: number): void {
  if (header !== undefined && !matches(header, version)) {
    throw scimErrors.preconditionFailed(`If-Match ${header} does not match the current version ${etagOf(version)}`);
  }
}

/** `If-None-Match` on a read: true when the client's copy is current (answer 304). */
export function notModified(header: string | undefined, version: number): boolean {
  return header !== undefined && matches(header, version);
}
