import { ENTERPRISE_USER_SCHEMA, USER_SCHEMA } from "../scim/registry";
import type { ScimObject } from "./context";
import { etagOf } from "./etag";
import type { UserGroupRef } from "../db/memberships";

/** A `users` row as D1 returns it. */
export interface UserRow {
  id: string;
  idp_id: string;
  external_id: string | null;
  user_name: string;
  user_name_lower: string;
  display_name: string | null;
  given_name: string | null;
  family_name: string | null;
  email: string | null;
  active: number;
  resource: string;
  version: number;
  created_at: string;
  updated_at: string;
}

/** One `emails[]` element as stored in `user_emails`. */
export interface EmailRow {
  position: number;
  value: string;
  valueLower: string;
  type: string | null;
  primary: boolean;
}

/** The indexed columns of a user, derived from its SCIM representation. */
export interface UserColumns {
  externalId: string | null;
  userName: string;
  displayName: string | null;
  givenName: string | null;
  familyName: string | null;
  email: string | null;
  active: boolean;
  emails: EmailRow[];
}

const str = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : null);

/** Derives the indexed columns; the primary email (else the first) becomes `users.email`. */
export function userColumns(resource: ScimObject): UserColumns {
  const name = (resource.name ?? {}) as ScimObject;
  const rawEmails = Array.isArray(resource.emails) ? (resource.emails as ScimObject[]) : [];
  const emails: EmailRow[] = [];
  rawEmails.forEach((e, position) => {
    const value = str(e?.value);
    if (value) emails.push({ position, value, valueLower: value.toLowerCase(), type: str(e.type), primary: e.primary === true });
  });
  const primary = emails.find((e) => e.primary) ?? emails[0];
  return {
    externalId: str(resource.externalId),
    userName: String(resource.userName),
    displayName: str(resource.displayName),
    givenName: str(name.givenName),
    familyName: str(name.familyName),
    email: primary?.valueLower ?? null,
    // RFC 7643 §4.1.1: `active` is optional; a user pushed without it is active.
    active: resource.active !== false,
    emails,
  };
}

/** The row a write leaves behind, built from its columns (so a response needs no re-read). */
export function userRow(keys: Pick<UserRow, "id" | "idp_id" | "version" | "created_at" | "updated_at">, cols: UserColumns, resource: string): UserRow {
  return {
    ...keys,
    external_id: cols.externalId,
    user_name: cols.userName,
    user_name_lower: cols.userName.toLowerCase(),
    display_name: cols.displayName,
    given_name: cols.givenName,
    family_name: cols.familyName,
    email: cols.email,
    active: cols.active ? 1 : 0,
    resource,
  };
}

/** The stored JSON: everything but server-owned attributes (id, meta, groups). */
export function storedResource(resource: ScimObject): string {
  const { id: _id, meta: _meta, groups: _groups, ...rest } = resource;
  return JSON.stringify(rest);
}

/** The SCIM representation of a stored user (RFC 7643 §4.1), `groups` included when loaded. */
export function renderUser(row: UserRow, scimBase: string, groups?: UserGroupRef[]): ScimObject {
  const stored = JSON.parse(row.resource) as ScimObject;
  const { schemas: _s, externalId: _e, ...attributes } = stored;
  const schemas = [USER_SCHEMA];
  if (stored[ENTERPRISE_USER_SCHEMA] !== undefined) schemas.push(ENTERPRISE_USER_SCHEMA);
  for (const key of Object.keys(stored)) if (key.startsWith("urn:") && !schemas.includes(key)) schemas.push(key);
  const location = `${scimBase}/Users/${row.id}`;
  return {
    schemas,
    id: row.id,
    ...(row.external_id !== null ? { externalId: row.external_id } : {}),
    ...attributes,
    active: row.active === 1,
    ...(groups
      ? { groups: groups.map((g) => ({ value: g.id, display: g.display_name, $ref: `${scimBase}/Groups/${g.id}`, type: "direct" })) }
      : {}),
    meta: { resourceType: "User", created: row.created_at, lastModified: row.updated_at, location, version: etagOf(row.version) },
  };
}
