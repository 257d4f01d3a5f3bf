// Shared helpers of the admin write paths: body parsing with path-bearing messages, D1 constraint errors.
import { z } from "zod";
import { apiErrors } from "./api-error";

/** `a.b[2]` from a zod issue path. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : out === "" ? String(p) : `.${String(p)}`;
  return out;
}

/** Parses `body` with `schema` or throws a 400 naming every offending member. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const message = parsed.error.issues
    .map((i) => {
      const where = formatPath(i.path);
      if (i.code === "unrecognized_keys") return i.keys.map((k) => `${where === "" ? k : `${where}.${k}`}: unknown member`).join("; ");
      return `${where === "" ? "(body)" : where}: ${i.message}`;
    })
    .join("; ");
  throw apiErrors.invalid(message);
}

/** Whether a D1 error is a UNIQUE violation of the index over `columns` (`access_apps.host, access_apps.path_prefix`). */
export function isUniqueViolation(error: unknown, columns: string): boolean {
  const message = error instanceof Error ? `${error.message} ${String((error as { cause?: unknown }).cause ?? "")}` : String(error);
  return message.includes("UNIQUE constraint failed") && message.includes(columns);
}

/** The request body as JSON, or a 400. */
export async function jsonBody(req: Request): Promise<unknown> {
  try {
    return await req.json();
  } catch {
    throw apiErrors.invalid("The request body must be JSON");
  }
}
