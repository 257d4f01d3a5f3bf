import { ScimError, scimErrors } from "../scim/errors";

/**
 * Turns a D1 constraint failure into the SCIM error the IdP should see. D1 reports SQLite's
 * messages verbatim, e.g. `UNIQUE constraint failed: users.idp_id, users.user_name_lower`.
 * Anything else is rethrown (a real fault: 5xx, the IdP retries).
 */
export function mapConstraintError(error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  if (message.includes("UNIQUE constraint failed")) {
    if (message.includes("user_name_lower")) throw scimErrors.uniqueness("A user with this userName already exists");
    if (message.includes("display_name_lower")) throw scimErrors.uniqueness("A group with this displayName already exists");
    throw scimErrors.uniqueness("The resource conflicts with an existing one");
  }
  if (message.includes("FOREIGN KEY constraint failed")) {
    throw scimErrors.invalidValue("A referenced member no longer exists in this directory");
  }
  if (error instanceof ScimError) throw error;
  throw error;
}

/** Runs a D1 batch, mapping constraint failures to SCIM errors. The batch is one transaction. */
export async function runBatch(db: D1Database, statements: D1PreparedStatement[]): Promise<D1Result[]> {
  try {
    return await db.batch(statements);
  } catch (error) {
    mapConstraintError(error);
  }
}
