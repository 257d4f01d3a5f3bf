// Go duration strings, as Cloudflare's `session_duration` uses them ("24h", "30m", "1h30m").
// Grammar of Go's time.ParseDuration: a sequence of decimal numbers, each with an optional fraction
// and a unit suffix (ns, us, µs, ms, s, m, h). A sign and the bare "0" are Go syntax too, but a
// session length is never negative or zero, so both are refused here.

const UNIT_SECONDS: Record<string, number> = { ns: 1e-9, us: 1e-6, "µs": 1e-6, "μs": 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
const TERM = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/** Shortest and longest session an app or policy may set: one minute and Cloudflare's longest choice, one month (730h). */
export const MIN_SESSION_SECONDS = 60;
export const MAX_SESSION_SECONDS = 730 * 3600;

/** Parses a Go-style duration ("24h", "30m", "1h30m", "1.5h") into whole seconds (rounded down); null when malformed. */
export function parseDuration(s: string): number | null {
  if (typeof s !== "string" || s.length === 0 || s.length > 64) return null;
  let total = 0;
  TERM.lastIndex = 0;
  while (TERM.lastIndex < s.length) {
    const m = TERM.exec(s);
    if (!m) return null;
    total += Number(m[1]) * (UNIT_SECONDS[m[2] as string] as number);
  }
  return Number.isFinite(total) ? Math.floor(total + 1e-9) : null;
}

/** A session duration's length in seconds, or a clear message when it is malformed or out of bounds. */
export function checkSessionDuration(s: unknown): { ok: true; seconds: number } | { ok: false; error: string } {
  if (typeof s !== "string") return { ok: false, error: 'must be a duration string such as "24h" or "30m"' };
  const seconds = parseDuration(s);
  if (seconds === null) return { ok: false, error: `"${s.slice(0, 64)}" is not a duration; use Go syntax such as "24h", "30m" or "1h30m"` };
  if (seconds < MIN_SESSION_SECONDS || seconds > MAX_SESSION_SECONDS) {
    return { ok: false, error: `must be between 1m and 730h (one month), got "${s}"` };
  }
  return { ok: true, seconds };
}
