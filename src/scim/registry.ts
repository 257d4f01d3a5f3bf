/**
 * The one attribute registry (RFC 7643 §2, §4, §8.7.1). It drives validation, projection
 * (`attributes`/`excludedAttributes`), filtering (case sensitivity, types) and `/Schemas`.
 */

export type AttributeType = "string" | "boolean" | "decimal" | "integer" | "dateTime" | "reference" | "complex" | "binary";
export type Mutability = "readOnly" | "readWrite" | "immutable" | "writeOnly";
export type Returned = "always" | "never" | "default" | "request";
export type Uniqueness = "none" | "server" | "global";

export interface AttributeDef {
  name: string;
  type: AttributeType;
  multiValued: boolean;
  description: string;
  required: boolean;
  caseExact: boolean;
  mutability: Mutability;
  returned: Returned;
  uniqueness: Uniqueness;
  canonicalValues?: string[];
  referenceTypes?: string[];
  subAttributes?: AttributeDef[];
}

export interface SchemaDef {
  id: string;
  name: string;
  description: string;
  attributes: AttributeDef[];
}

export interface ResourceTypeDef {
  id: "User" | "Group";
  name: string;
  endpoint: string;
  description: string;
  schema: string;
  schemaExtensions: { schema: string; required: boolean }[];
}

export const USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User";
export const GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group";
export const ENTERPRISE_USER_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
export const LIST_RESPONSE_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
export const PATCH_OP_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
export const SEARCH_REQUEST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

type Opts = Partial<Omit<AttributeDef, "name" | "type" | "description">>;

function attr(name: string, type: AttributeType, description: string, opts: Opts = {}): AttributeDef {
  return {
    name,
    type,
    description,
    multiValued: false,
    required: false,
    caseExact: false,
    mutability: "readWrite",
    returned: "default",
    uniqueness: "none",
    ...(type === "reference" && !opts.referenceTypes ? { referenceTypes: ["external"] } : {}),
    ...opts,
  };
}

const str = (name: string, description: string, opts: Opts = {}) => attr(name, "string", description, opts);

/** The usual sub-attributes of a multi-valued attribute (RFC 7643 §2.4). */
function multi(name: string, description: string, types: string[], valueOpts: Opts = {}, extra: AttributeDef[] = []): AttributeDef {
  return attr(name, "complex", description, {
    multiValued: true,
    subAttributes: [
      str("value", `The ${name} value.`, valueOpts),
      str("display", "A human-readable name, primarily used for display purposes.", { mutability: "readWrite" }),
      str("type", `A label indicating the ${name}'s function.`, types.length ? { canonicalValues: types } : {}),
      attr("primary", "boolean", "Indicates the 'primary' or preferred value."),
      ...extra,
    ],
  });
}

const commonAttributes: AttributeDef[] = [
  str("id", "Unique identifier for the SCIM resource, assigned by the service provider.", {
    caseExact: true,
    mutability: "readOnly",
    returned: "always",
    uniqueness: "server",
  }),
  str("externalId", "Identifier of the resource as defined by the provisioning client.", { caseExact: true }),
  attr("meta", "complex", "Resource metadata.", {
    mutability: "readOnly",
    subAttributes: [
      str("resourceType", "The name of the resource type.", { caseExact: true, mutability: "readOnly" }),
      attr("created", "dateTime", "When the resource was added.", { mutability: "readOnly" }),
      attr("lastModified", "dateTime", "When the resource was last updated.", { mutability: "readOnly" }),
      attr("location", "reference", "The URI of the resource.", { caseExact: true, mutability: "readOnly", referenceTypes: ["uri"] }),
      str("version", "The version (entity tag) of the resource.", { caseExact: true, mutability: "readOnly" }),
    ],
  }),
];

const userAttributes: AttributeDef[] = [
  str("userName", "Unique identifier for the User, used to log in.", { required: true, uniqueness: "server" }),
  attr("name", "complex", "The components of the user's real name.", {
    subAttributes: [
      str("formatted", "The full name."),
      str("familyName", "The family name."),
      str("givenName", "The given name."),
      str("middleName", "The middle name(s)."),
      str("honorificPrefix", "The honorific prefix(es)."),
      str("honorificSuffix", "The honorific suffix(es)."),
    ],
  }),
  str("displayName", "The name of the User, suitable for display."),
  str("nickName", "The casual way to address the user."),
  attr("profileUrl", "reference", "A fully qualified URL to the User's online profile."),
  str("title", "The user's title, such as 'Vice President'."),
  str("userType", "The relationship between the organization and the user."),
  str("preferredLanguage", "The User's preferred written or spoken language."),
  str("locale", "The User's default location."),
  str("timezone", "The User's time zone in IANA format."),
  attr("active", "boolean", "The User's administrative status."),
  str("password", "The User's cleartext password. Never stored and never returned.", {
    mutability: "writeOnly",
    returned: "never",
  }),
  multi("emails", "Email addresses for the user.", ["work", "home", "other"]),
  multi("phoneNumbers", "Phone numbers for the User.", ["work", "home", "mobile", "fax", "pager", "other"]),
  multi("ims", "Instant messaging addresses for the User.", ["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]),
  multi("photos", "URLs of photos of the User.", ["photo", "thumbnail"]),
  attr("addresses", "complex", "A physical mailing address for this User.", {
    multiValued: true,
    subAttributes: [
      str("formatted", "The full mailing address."),
      str("streetAddress", "The full street address component."),
      str("locality", "The city or locality component."),
      str("region", "The state or region component."),
      str("postalCode", "The zip code or postal code component."),
      str("country", "The country name component."),
      str("type", "A label indicating the attribute's function.", { canonicalValues: ["work", "home", "other"] }),
      attr("primary", "boolean", "Indicates the 'primary' or preferred address."),
    ],
  }),
  attr("groups", "complex", "Groups to which the user belongs (read-only: managed through /Groups).", {
    multiValued: true,
    mutability: "readOnly",
    subAttributes: [
      str("value", "The identifier of the User's group.", { mutability: "readOnly" }),
      attr("$ref", "reference", "The URI of the Group.", { mutability: "readOnly", referenceTypes: ["Group"] }),
      str("display", "A human-readable name of the group.", { mutability: "readOnly" }),
      str("type", "'direct' or 'indirect' membership.", { mutability: "readOnly", canonicalValues: ["direct", "indirect"] }),
    ],
  }),
  multi("entitlements", "A list of entitlements for the User.", []),
  multi("roles", "A list of roles for the User.", []),
  multi("x509Certificates", "A list of certificates issued to the User.", []),
];

const enterpriseAttributes: AttributeDef[] = [
  str("employeeNumber", "Numeric or alphanumeric identifier assigned to a person."),
  str("costCenter", "Identifies the name of a cost center."),
  str("organization", "Identifies the name of an organization."),
  str("division", "Identifies the name of a division."),
  str("department", "Identifies the name of a department."),
  attr("manager", "complex", "The User's manager.", {
    subAttributes: [
      str("value", "The id of the SCIM resource representing the User's manager.", { caseExact: true }),
      attr("$ref", "reference", "The URI of the manager's SCIM resource.", { referenceTypes: ["User"] }),
      str("displayName", "The displayName of the User's manager.", { mutability: "readOnly" }),
    ],
  }),
];

const groupAttributes: AttributeDef[] = [
  str("displayName", "A human-readable name for the Group.", { required: true, uniqueness: "server" }),
  attr("members", "complex", "A list of members of the Group.", {
    multiValued: true,
    subAttributes: [
      str("value", "Identifier of the member of this Group.", { caseExact: true, mutability: "immutable" }),
      attr("$ref", "reference", "The URI of the member.", { mutability: "immutable", referenceTypes: ["User", "Group"] }),
      // RFC 7643 §2.4: set by the client and kept as sent (the user's name is shown only when none was sent).
      str("display", "A human-readable name of the member.", { mutability: "immutable" }),
      str("type", "The type of member.", { mutability: "immutable", canonicalValues: ["User", "Group"] }),
    ],
  }),
];

export const schemas: Record<string, SchemaDef> = {
  [USER_SCHEMA]: { id: USER_SCHEMA, name: "User", description: "User Account", attributes: userAttributes },
  [ENTERPRISE_USER_SCHEMA]: {
    id: ENTERPRISE_USER_SCHEMA,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: enterpriseAttributes,
  },
  [GROUP_SCHEMA]: { id: GROUP_SCHEMA, name: "Group", description: "Group", attributes: groupAttributes },
};

export const resourceTypes: Record<"User" | "Group", ResourceTypeDef> = {
  User: {
    id: "User",
    name: "User",
    endpoint: "/Users",
    description: "User Account",
    schema: USER_SCHEMA,
    schemaExtensions: [{ schema: ENTERPRISE_USER_SCHEMA, required: false }],
  },
  Group: { id: "Group", name: "Group", endpoint: "/Groups", description: "Group", schema: GROUP_SCHEMA, schemaExtensions: [] },
};

/** Attributes every resource has (id, externalId, meta), listed once per resource type in discovery. */
export const commonAttributeDefs = commonAttributes;

/**
 * Resolve an attribute path (`userName`, `name.givenName`, `emails.value`,
 * `urn:…:enterprise:2.0:User:manager.value`) for a resource type, case-insensitively (RFC 7643 §2.1).
 * Returns the top-level definition, the sub-attribute definition (if any), and the schema URN.
 */
export function resolveAttribute(
  resourceType: "User" | "Group",
  path: string,
): { schema: string; attribute: AttributeDef; subAttribute?: AttributeDef } | undefined {
  const rt = resourceTypes[resourceType];
  let schemaUrn = rt.schema;
  let rest = path;
  for (const urn of [rt.schema, ...rt.schemaExtensions.map((e) => e.schema)]) {
    if (path.toLowerCase().startsWith(urn.toLowerCase() + ":")) {
      schemaUrn = urn;
      rest = path.slice(urn.length + 1);
      break;
    }
  }
  const [head, sub, ...more] = rest.split(".");
  if (!head || more.length > 0) return undefined;
  const pool = schemaUrn === rt.schema ? [...commonAttributes, ...schemas[schemaUrn]!.attributes] : schemas[schemaUrn]!.attributes;
  const attribute = pool.find((a) => a.name.toLowerCase() === head.toLowerCase());
  if (!attribute) return undefined;
  if (sub === undefined) return { schema: schemaUrn, attribute };
  const subAttribute = attribute.subAttributes?.find((a) => a.name.toLowerCase() === sub.toLowerCase());
  if (!subAttribute) return undefined;
  return { schema: schemaUrn, attribute, subAttribute };
}
