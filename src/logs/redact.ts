/** Keys whose values never reach the provisioning log (Okta sends `password` on create and PUT). */
const SECRET_KEY = /pass(word)?|secret|token|credential|private/i;

/** Max characters of a logged request body. */
export const MAX_LOGGED_BODY = 16 * 1024;

/** A deep copy of a request body with secret-looking values replaced by `[REDACTED]`. */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 16) return "[TRUNCATED]";
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? "[REDACTED]" : redact(v, depth + 1);
    // PATCH ops name the attribute in `path`, the secret is in `value`: {"op":"replace","path":"password","value":"…"}.
    if (typeof out.path === "string" && SECRET_KEY.test(out.path) && "value" in out) out.value = "[REDACTED]";
    return out;
  }
  return value;
}

/** The redacted body as stored: JSON, cut to MAX_LOGGED_BODY characters. */
export function redactedBodyText(body: unknown): string | null {
  if (body === undefined) return null;
  const text = JSON.stringify(redact(body));
  return text.length > MAX_LOGGED_BODY ? `${text.slice(0, MAX_LOGGED_BODY)}…[TRUNCATED]` : text;
}
