// Classification and verdict of the revocation probe (scripts/probe-revocation.mjs), kept pure
// (no Node or Worker imports) so the same code runs in the probe and in the workerd test suite
// (test/integration/probe-verdict.test.ts).
//
// What a check is: one proxied request to the protected app with a session's token, as a browser
// or an API client sends it after logging in. Why the classification is strict: a probe that
// counts every non-200 as a refusal passes when nothing works (a 500, a 404 from a wrong host, a
// dropped connection all "refuse"). Here only the proxy's own "sign in again" answers count as a
// refusal — a 302 to the team host's `/cdn-cgi/access/login/<host>` (browsers) or a 401
// `{"error":"authentication_required"}` (XHR and `cf-access-token` clients); everything else is
// reported by kind and fails the probe.

/** The proxy's redirect to login: `<team>/cdn-cgi/access/login/<app host>?redirect_url=…`. */
const LOGIN_PATH = /^\/cdn-cgi\/access\/login\/[^/?#]+$/;

function isLoginRedirect(location) {
  if (typeof location !== "string" || location === "") return false;
  try {
    return LOGIN_PATH.test(new URL(location).pathname);
  } catch {
    return false;
  }
}

/**
 * Classifies one proxied request's answer: `success` (HTTP 200: the request went through to the
 * origin), `refusal` (302 to the login page, or 401 `authentication_required`), `server_error`
 * (5xx, including the proxy's fail-closed 503 when the Durable Object cannot answer), or
 * `unexplained` (anything else: a 403, other 4xx, a redirect elsewhere, a network error as status 0).
 */
export function classifyCheck(status, body, location) {
  if (status === 200) return "success";
  if (status >= 500) return "server_error";
  if (status === 302 && isLoginRedirect(location)) return "refusal";
  if (status === 401 && body && typeof body === "object" && body.error === "authentication_required") return "refusal";
  return "unexplained";
}

/**
 * True when a pre-deactivation request proves the session valid: HTTP 200 from the origin, which
 * answers with the email of the `Cf-Access-Jwt-Assertion` it verified (and 403 when it cannot).
 */
export function isValidCheck(status, body) {
  return status === 200 && !!body && typeof body === "object" && typeof body.email === "string" && body.email !== "";
}

/**
 * The probe's verdict over every check it timed. `checks` are `{ sid, started, ended, status, kind }`
 * (`kind` from classifyCheck); `sent`/`answered` bracket the SCIM deactivation request (same
 * clock). Returns the counts and `failures` (empty means PASS):
 * - any success that STARTED after the SCIM answer arrived (a late success);
 * - any 5xx or unexplained answer, before or after the deactivation;
 * - a session never checked after the answer;
 * - no check in flight while the SCIM request was (concurrency not exercised).
 */
export function probeVerdict({ checks, sent, answered, sessions, minInFlight = 1 }) {
  const after = checks.filter((c) => c.started > answered);
  const count = (list, kind) => list.filter((c) => c.kind === kind).length;
  const inFlight = checks.filter((c) => c.started < answered && c.ended > sent);
  const checkedAfter = new Set(after.map((c) => c.sid));
  const refusalsFromSend = checks.filter((c) => c.kind === "refusal" && c.started >= sent).map((c) => c.ended - sent);
  const firstRefusal = refusalsFromSend.length ? Math.min(...refusalsFromSend) : null;
  const result = {
    checks_total: checks.length,
    checks_during_deactivation: inFlight.length,
    sessions_checked_during_deactivation: new Set(inFlight.map((c) => c.sid)).size,
    checks_after_response: after.length,
    sessions_checked_after_response: checkedAfter.size,
    late_successes: count(after, "success"),
    refusals_after_response: count(after, "refusal"),
    server_errors: count(checks, "server_error"),
    unexplained: count(checks, "unexplained"),
    first_refusal_ms: firstRefusal === null ? null : Math.round(firstRefusal * 10) / 10,
  };
  const failures = [];
  if (result.late_successes) failures.push(`${result.late_successes} check(s) started after the SCIM answer and still succeeded`);
  if (result.server_errors) failures.push(`${result.server_errors} check(s) answered 5xx (not a proof of revocation)`);
  if (result.unexplained) failures.push(`${result.unexplained} check(s) answered neither 200 nor a revoked/deprovisioned refusal`);
  if (checkedAfter.size < sessions) failures.push(`only ${checkedAfter.size}/${sessions} session(s) were checked after the SCIM answer`);
  if (inFlight.length < minInFlight) failures.push(`only ${inFlight.length} check(s) overlapped the SCIM request (need ≥ ${minInFlight}): concurrency not exercised`);
  return { ...result, failures };
}
