import type { Config } from "../config";
import type { IdentityProviderRow } from "../db";

/** Everything a directory use case needs: storage, the authenticated connection and where it is served. */
export interface DirectoryContext {
  env: Env;
  db: D1Database;
  /**
   * The connection this request authenticated for, read from D1 by THIS request (never cached), so
   * admin changes apply to the next request. `id` is always readable; the other fields throw until
   * the SCIM secret was verified (see directory/scim-gate.ts).
   */
  idp: IdentityProviderRow;
  /** This connection's SCIM base URL (`…/populations/<idp>/scim/v2`), for `meta.location` and `$ref`. */
  scimBase: string;
  config: Config;
  /** Who acts, for audit and session revocation records (`scim:<idp id>`). */
  actor: string;
}

/** A SCIM resource as JSON. */
export type ScimObject = Record<string, unknown>;
