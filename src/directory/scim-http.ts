import type { Context } from "hono";
import { scimErrors } from "../scim/errors";
import { findDuplicateMember } from "../scim/json-duplicates";
import { etagOf } from "./etag";
import type { ScimEnv } from "./scim-env";

export const SCIM_CONTENT_TYPE = "application/scim+json; charset=utf-8";

/** Media types a SCIM request body may have (RFC 7644 §3.1 requires accepting `application/scim+json`; clients also send `application/json`). */
const JSON_TYPES = ["application/scim+json", "application/json"];

/**
 * Reads and parses a SCIM request body: 415 for a non-JSON media type, 413 over the advertised
 * `maxPayloadSize`, 400 `invalidSyntax` for malformed JSON (RFC 7644 §3.12).
 */
export async function readScimJson(c: Context<ScimEnv>): Promise<unknown> {
  const type = c.req.header("content-type")?.split(";")[0]?.trim().toLowerCase();
  if (type !== undefined && type !== "" && !JSON_TYPES.includes(type)) {
    throw scimErrors.unsupportedMediaType(`Content-Type ${type} is not supported; send application/scim+json`);
  }
  const max = c.var.config.maxPayloadBytes;
  const declared = Number(c.req.header("content-length") ?? "0");
  if (declared > max) throw scimErrors.payloadTooLarge(`The request body exceeds the maximum payload size of ${max} bytes`);
  const bytes = await c.req.arrayBuffer();
  if (bytes.byteLength > max) throw scimErrors.payloadTooLarge(`The request body exceeds the maximum payload size of ${max} bytes`);
  const text = decodeUtf8(bytes);
  if (text.trim() === "") throw scimErrors.invalidSyntax("The request body is empty");
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw scimErrors.invalidSyntax("The request body is not valid JSON");
  }
  const duplicate = findDuplicateMember(text);
  if (duplicate !== undefined) {
    // JSON.parse would keep the last one silently; attribute names are case-insensitive (RFC 7643 §2.1).
    throw scimErrors.invalidSyntax(`The request body names "${duplicate.name.slice(0, 64)}" twice in one object (character ${duplicate.at + 1})`);
  }
  c.set("scimRequestBody", body);
  return body;
}

/**
 * Strict UTF-8 (RFC 8259 §8.1: JSON exchanged between systems MUST be UTF-8): a malformed sequence is 400
 * `invalidSyntax`, never stored as U+FFFD. A leading byte order mark is ignored, as §8.1 allows ("MAY
 * ignore"): Windows tooling (.NET's `UTF8Encoding(true)`, PowerShell 5) writes one. `fatal` with the default
 * `ignoreBOM: false` strips exactly one leading BOM; a second one reaches JSON.parse and fails there.
 */
function decodeUtf8(bytes: ArrayBuffer): string {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw scimErrors.invalidSyntax("The request body is not valid UTF-8");
  }
}

/** A SCIM JSON response with `Content-Type: application/scim+json`, plus `ETag` when versioned. */
export function scimJson(c: Context<ScimEnv>, body: unknown, status: 200 | 201 = 200, version?: number, location?: string): Response {
  const headers: Record<string, string> = { "content-type": SCIM_CONTENT_TYPE };
  if (version !== undefined) headers.etag = etagOf(version);
  if (location) headers.location = location;
  return c.body(JSON.stringify(body), status, headers);
}

/** The `meta.version` of a rendered resource as a number (for the ETag header). */
export function versionOf(resource: Record<string, unknown>): number | undefined {
  const meta = resource.meta as { version?: string } | undefined;
  const m = meta?.version?.match(/^W\/"(\d+)"$/);
  return m ? Number(m[1]) : undefined;
}

