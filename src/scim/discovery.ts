/**
 * SCIM discovery documents (RFC 7644 §4): `/ServiceProviderConfig` (RFC 7643 §5), `/ResourceTypes` (§6) and
 * `/Schemas` (§7), all generated from the attribute registry. Pure: the caller passes the SCIM base URL
 * (e.g. `https://edge.example/populations/<idpId>/scim/v2`) so every `meta.location` is absolute.
 */

import { CURSOR_TIMEOUT_SECONDS } from "./cursor";
import { listResponse, type ListResponse } from "./list-response";
import {
  type AttributeDef,
  type ResourceTypeDef,
  type SchemaDef,
  commonAttributeDefs,
  resourceTypes,
  schemas,
} from "./registry";

export const SERVICE_PROVIDER_CONFIG_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
export const RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
export const SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/** Limits advertised in ServiceProviderConfig; `maxResults` must be the one `parseListParams` enforces. */
export interface DiscoveryLimits {
  maxResults: number;
  /** Largest request body accepted, in bytes (advertised under `bulk`, RFC 7643 §5). */
  maxPayloadSize: number;
  /** Optional human documentation for the service and its authentication scheme. */
  documentationUri?: string;
}

interface Meta {
  resourceType: "ServiceProviderConfig" | "ResourceType" | "Schema";
  location: string;
}

/** RFC 7643 §5 ServiceProviderConfig resource. */
export interface ServiceProviderConfig {
  schemas: [typeof SERVICE_PROVIDER_CONFIG_SCHEMA];
  documentationUri?: string;
  patch: { supported: boolean };
  bulk: { supported: boolean; maxOperations: number; maxPayloadSize: number };
  filter: { supported: boolean; maxResults: number };
  changePassword: { supported: boolean };
  sort: { supported: boolean };
  etag: { supported: boolean };
  /** RFC 9865 §4. */
  pagination: {
    cursor: boolean;
    index: boolean;
    defaultPaginationMethod: "cursor" | "index";
    defaultPageSize: number;
    maxPageSize: number;
    cursorTimeout: number;
  };
  authenticationSchemes: {
    type: string;
    name: string;
    description: string;
    specUri: string;
    documentationUri?: string;
    primary: boolean;
  }[];
  meta: Meta;
}

/** RFC 7643 §6 ResourceType resource. */
export interface ResourceTypeResource {
  schemas: [typeof RESOURCE_TYPE_SCHEMA];
  id: string;
  name: string;
  endpoint: string;
  description: string;
  schema: string;
  schemaExtensions: { schema: string; required: boolean }[];
  meta: Meta;
}

/** RFC 7643 §7 attribute definition as served by `/Schemas`. */
export interface SchemaAttribute {
  name: string;
  type: AttributeDef["type"];
  multiValued: boolean;
  description: string;
  required: boolean;
  canonicalValues?: string[];
  caseExact: boolean;
  mutability: AttributeDef["mutability"];
  returned: AttributeDef["returned"];
  uniqueness: AttributeDef["uniqueness"];
  referenceTypes?: string[];
  subAttributes?: SchemaAttribute[];
}

/** RFC 7643 §7 Schema resource. */
export interface SchemaResource {
  schemas: [typeof SCHEMA_SCHEMA];
  id: string;
  name: string;
  description: string;
  attributes: SchemaAttribute[];
  meta: Meta;
}

const trimBase = (baseUrl: string) => baseUrl.replace(/\/+$/, "");

/** `GET /ServiceProviderConfig` (RFC 7643 §5): what this server supports. */
export function serviceProviderConfig(baseUrl: string, limits: DiscoveryLimits): ServiceProviderConfig {
  const doc = limits.documentationUri;
  return {
    schemas: [SERVICE_PROVIDER_CONFIG_SCHEMA],
    ...(doc ? { documentationUri: doc } : {}),
    patch: { supported: true },
    // Bulk (RFC 7644 §3.7) is not implemented; RFC 7643 §5 still requires maxOperations and maxPayloadSize.
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: limits.maxPayloadSize },
    filter: { supported: true, maxResults: limits.maxResults },
    // Passwords are never stored (the registry marks `password` returned: never); login goes through the IdP.
    changePassword: { supported: false },
    sort: { supported: true },
    etag: { supported: true },
    // RFC 9865 §4: both methods; index stays the default (§2.4: a provider that had index paging first keeps
    // it as the default, so clients that send neither parameter see no change). A missing count means
    // maxResults (RFC 7644 §3.4.2.4), which is therefore both the default and the maximum page size.
    pagination: {
      cursor: true,
      index: true,
      defaultPaginationMethod: "index",
      defaultPageSize: limits.maxResults,
      maxPageSize: limits.maxResults,
      cursorTimeout: CURSOR_TIMEOUT_SECONDS,
    },
    authenticationSchemes: [
      {
        // The IdP connection's SCIM secret, sent as an RFC 6750 bearer token: the scheme Entra and Okta expect.
        type: "oauthbearertoken",
        name: "OAuth Bearer Token",
        description: "Authentication scheme using the OAuth Bearer Token Standard: send the IdP connection's SCIM secret as 'Authorization: Bearer <secret>'.",
        specUri: "https://www.rfc-editor.org/info/rfc6750",
        ...(doc ? { documentationUri: doc } : {}),
        primary: true,
      },
    ],
    meta: { resourceType: "ServiceProviderConfig", location: `${trimBase(baseUrl)}/ServiceProviderConfig` },
  };
}

function renderResourceType(baseUrl: string, rt: ResourceTypeDef): ResourceTypeResource {
  return {
    schemas: [RESOURCE_TYPE_SCHEMA],
    id: rt.id,
    name: rt.name,
    endpoint: rt.endpoint,
    description: rt.description,
    schema: rt.schema,
    schemaExtensions: rt.schemaExtensions.map((e) => ({ schema: e.schema, required: e.required })),
    meta: { resourceType: "ResourceType", location: `${trimBase(baseUrl)}/ResourceTypes/${rt.id}` },
  };
}

/** `GET /ResourceTypes` (RFC 7644 §4, RFC 7643 §6) as a ListResponse. */
export function resourceTypesList(baseUrl: string): ListResponse<ResourceTypeResource> {
  const all = Object.values(resourceTypes).map((rt) => renderResourceType(baseUrl, rt));
  return listResponse(all, all.length);
}

/** `GET /ResourceTypes/{id}`; `id` matched case-insensitively, undefined when unknown (→ 404). */
export function resourceType(baseUrl: string, id: string): ResourceTypeResource | undefined {
  const rt = Object.values(resourceTypes).find((r) => r.id.toLowerCase() === id.toLowerCase());
  return rt && renderResourceType(baseUrl, rt);
}

/** RFC 7643 §7: one attribute definition with its characteristics, recursively for sub-attributes. */
export function renderAttribute(def: AttributeDef): SchemaAttribute {
  return {
    name: def.name,
    type: def.type,
    multiValued: def.multiValued,
    description: def.description,
    required: def.required,
    ...(def.canonicalValues ? { canonicalValues: [...def.canonicalValues] } : {}),
    caseExact: def.caseExact,
    mutability: def.mutability,
    returned: def.returned,
    uniqueness: def.uniqueness,
    ...(def.referenceTypes ? { referenceTypes: [...def.referenceTypes] } : {}),
    ...(def.subAttributes ? { subAttributes: def.subAttributes.map(renderAttribute) } : {}),
  };
}

/** Base schemas of a resource type (not extensions) also list the common attributes id, externalId, meta. */
const baseSchemaUrns = new Set(Object.values(resourceTypes).map((rt) => rt.schema));

function renderSchema(baseUrl: string, def: SchemaDef): SchemaResource {
  // RFC 7643 §3.1: common attributes "are considered to be part of every base resource schema" and schema
  // definitions "MAY list" them; listing them tells clients that `id` is returned: always and readOnly.
  const attributes = baseSchemaUrns.has(def.id) ? [...commonAttributeDefs, ...def.attributes] : def.attributes;
  return {
    schemas: [SCHEMA_SCHEMA],
    id: def.id,
    name: def.name,
    description: def.description,
    attributes: attributes.map(renderAttribute),
    meta: { resourceType: "Schema", location: `${trimBase(baseUrl)}/Schemas/${def.id}` },
  };
}

/** `GET /Schemas` (RFC 7644 §4, RFC 7643 §7) as a ListResponse: User, EnterpriseUser, Group. */
export function schemasList(baseUrl: string): ListResponse<SchemaResource> {
  const all = Object.values(schemas).map((s) => renderSchema(baseUrl, s));
  return listResponse(all, all.length);
}

/** `GET /Schemas/{urn}`; the URN matched case-insensitively, undefined when unknown (→ 404). */
export function schema(baseUrl: string, urn: string): SchemaResource | undefined {
  const def = Object.values(schemas).find((s) => s.id.toLowerCase() === urn.toLowerCase());
  return def && renderSchema(baseUrl, def);
}
