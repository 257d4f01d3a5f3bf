/** An API error of every non-SCIM surface (admin API, dev routes, later Access), rendered in Cloudflare's v4 envelope (`success: false`, `errors: [{code, message}]`). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: number;

  constructor(status: number, code: number, message: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }

  toJSON() {
    return { success: false, errors: [{ code: this.code, message: this.message }], messages: [], result: null };
  }
}

/** The admin API's error vocabulary (codes in Cloudflare's style: 1xxxx client, 5xxx server). */
export const apiErrors = {
  unauthorized: () => new ApiError(401, 10000, "Authentication error: a valid admin API token is required"),
  notFound: (what: string) => new ApiError(404, 10007, `${what} not found`),
  invalid: (message: string) => new ApiError(400, 10001, message),
  conflict: (message: string) => new ApiError(409, 10009, message),
} as const;

/** Cloudflare v4 success envelope. */
export function envelope<T>(result: T, extra: Record<string, unknown> = {}) {
  return { success: true, errors: [], messages: [], result, ...extra };
}
