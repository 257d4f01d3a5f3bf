// Types of probe-verdict.mjs, for the TypeScript test that imports it.

export type CheckKind = "success" | "refusal" | "server_error" | "unexplained";

export interface TimedCheck {
  sid: string;
  started: number;
  ended: number;
  status: number;
  kind: CheckKind;
}

export interface ProbeVerdict {
  checks_total: number;
  checks_during_deactivation: number;
  sessions_checked_during_deactivation: number;
  checks_after_response: number;
  sessions_checked_after_response: number;
  late_successes: number;
  refusals_after_response: number;
  server_errors: number;
  unexplained: number;
  first_refusal_ms: number | null;
  failures: string[];
}

/** Classifies one proxied request's answer (`location`: its Location header, for a 302). */
export function classifyCheck(status: number, body: unknown, location?: string | null): CheckKind;
/** True for HTTP 200 from the origin naming the email of the assertion it verified. */
export function isValidCheck(status: number, body: unknown): boolean;
/** Counts and failures over every timed check. */
export function probeVerdict(input: { checks: TimedCheck[]; sent: number; answered: number; sessions: number; minInFlight?: number }): ProbeVerdict;
