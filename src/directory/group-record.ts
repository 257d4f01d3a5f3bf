import { GROUP_SCHEMA } from "../scim/registry";
import type { ScimObject } from "./context";
import { etagOf } from "./etag";

/** A `groups` row as D1 returns it. */
export interface GroupRow {
  id: string;
  idp_id: string;
  external_id: string | null;
  display_name: string;
  display_name_lower: string;
  resource: string;
  version: number;
  created_at: string;
  updated_at: string;
}

/** A member as listed in `members` (joined with its user for `display`). */
export interface MemberRef {
  user_id: string;
  display: string | null;
}

/** The stored JSON of a group: everything but id, meta and members (members live in `group_members`). */
export function storedGroupResource(resource: ScimObject): string {
  const { id: _id, meta: _meta, members: _members, ...rest } = resource;
  return JSON.stringify(rest);
}

/** The SCIM representation of a stored group (RFC 7643 §4.2), `members` included when loaded. */
export function renderGroup(row: GroupRow, scimBase: string, members?: MemberRef[]): ScimObject {
  const stored = JSON.parse(row.resource) as ScimObject;
  const { schemas: _s, externalId: _e, displayName: _d, ...attributes } = stored;
  const schemas = [GROUP_SCHEMA];
  for (const key of Object.keys(stored)) if (key.startsWith("urn:") && !schemas.includes(key)) schemas.push(key);
  return {
    schemas,
    id: row.id,
    ...(row.external_id !== null ? { externalId: row.external_id } : {}),
    displayName: row.display_name,
    ...attributes,
    ...(members
      ? {
          members: members.map((m) => ({
            value: m.user_id,
            ...(m.display ? { display: m.display } : {}),
            $ref: `${scimBase}/Users/${m.user_id}`,
            type: "User",
          })),
        }
      : {}),
    meta: {
      resourceType: "Group",
      created: row.created_at,
      lastModified: row.updated_at,
      location: `${scimBase}/Groups/${row.id}`,
      version: etagOf(row.version),
    },
  };
}
