/** RFC 7644 §3.12 error `scimType` values (plus none for 401/404/412/413/5xx). */
export type ScimType =
  | "invalidFilter"
  | "tooMany"
  | "uniqueness"
  | "mutability"
  | "invalidSyntax"
  | "invalidPath"
  | "noTarget"
  | "invalidValue"
  | "invalidVers"
  | "sensitive"
  // RFC 9865 §2.1 (cursor pagination) extends RFC 7644 §3.12 Table 9 with these three.
  | "invalidCursor"
  | "expiredCursor"
  | "invalidCount";

export const SCIM_ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error";

/** A SCIM protocol error carrying its wire fields; rendered in one place (`app.onError`). */
export class ScimError extends Error {
  readonly status: number;
  readonly scimType: ScimType | undefined;

  constructor(status: number, detail: string, scimType?: ScimType) {
    super(detail);
    this.name = "ScimError";
    this.status = status;
    this.scimType = scimType;
  }

  /** RFC 7644 §3.12 body: `status` is a string, `scimType` only when defined. */
  toJSON(): { schemas: string[]; status: string; scimType?: ScimType; detail: string } {
    return {
      schemas: [SCIM_ERROR_SCHEMA],
      status: String(this.status),
      ...(this.scimType ? { scimType: this.scimType } : {}),
      detail: this.message,
    };
  }
}

/** Shorthands for the errors the SCIM surface returns. */
export const scimErrors = {
  invalidFilter: (detail: string) => new ScimError(400, detail, "invalidFilter"),
  invalidSyntax: (detail: string) => new ScimError(400, detail, "invalidSyntax"),
  invalidValue: (detail: string) => new ScimError(400, detail, "invalidValue"),
  invalidPath: (detail: string) => new ScimError(400, detail, "invalidPath"),
  noTarget: (detail: string) => new ScimError(400, detail, "noTarget"),
  mutability: (detail: string) => new ScimError(400, detail, "mutability"),
  tooMany: (detail: string) => new ScimError(400, detail, "tooMany"),
  invalidCursor: (detail: string) => new ScimError(400, detail, "invalidCursor"),
  expiredCursor: (detail: string) => new ScimError(400, detail, "expiredCursor"),
  uniqueness: (detail: string) => new ScimError(409, detail, "uniqueness"),
  notFound: (detail: string) => new ScimError(404, detail),
  unauthorized: (detail: string) => new ScimError(401, detail),
  preconditionFailed: (detail: string) => new ScimError(412, detail),
  payloadTooLarge: (detail: string) => new ScimError(413, detail),
  unsupportedMediaType: (detail: string) => new ScimError(415, detail),
  methodNotAllowed: (detail: string) => new ScimError(405, detail),
  notImplemented: (detail: string) => new ScimError(501, detail),
  /** 503: the IdP should retry (RFC 7644 §3.12; Entra and Okta both retry 5xx). */
  unavailable: (detail: string) => new ScimError(503, detail),
} as const;

/** Result of a pure parser: no exceptions for bad input (STYLE.md principle 3). */
export type Result<T, E = ScimError> = { ok: true; value: T } | { ok: false; error: E };

export const ok = <T>(value: T): Result<T, never> => ({ ok: true, value });
export const err = <E>(error: E): Result<never, E> => ({ ok: false, error });

/** The value of a Result, or its error thrown (for use cases, whose errors `app.onError` renders). */
export function unwrap<T>(result: Result<T, Error>): T {
  if (!result.ok) throw result.error;
  return result.value;
}
