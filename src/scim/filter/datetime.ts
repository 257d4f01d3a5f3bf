/**
 * dateTime literals in filters (RFC 7643 §2.3.5: xsd:dateTime, e.g. `2011-05-13T04:42:34Z`), normalised
 * to the format of our timestamp columns (`2026-11-23T18:20:50.123Z`) so that text comparison in SQL
 * orders instants correctly.
 */

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})?)?$/;

/**
 * Parses an xsd:dateTime (also a bare date, or a time without seconds) and returns it as UTC ISO 8601
 * with milliseconds; `undefined` if it is not a real date. A missing zone is read as UTC.
 */
export function normaliseDateTime(text: string): string | undefined {
  const m = DATE_TIME.exec(text.trim());
  if (!m) return undefined;
  const [, y, mo, d, h = "00", mi = "00", s = "00", frac = "", zone = "Z"] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  // Date.parse rolls 2026-02-30 over to March 2: check the calendar ourselves.
  const probe = new Date(Date.UTC(year, month - 1, day));
  if (probe.getUTCFullYear() !== year || probe.getUTCMonth() !== month - 1 || probe.getUTCDate() !== day) return undefined;
  if (Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) return undefined;
  const ms = (frac + "000").slice(1, 4).padEnd(3, "0");
  const iso = `${y}-${mo}-${d}T${h}:${mi}:${s}.${ms}${zone.toUpperCase()}`;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}
