import type { AppEnv } from "../http/app-env";
import type { DirectoryContext, ScimObject } from "./context";

/** Hono types of the SCIM sub-app. */
export type ScimEnv = {
  Bindings: AppEnv["Bindings"];
  Variables: AppEnv["Variables"] & {
    directory: DirectoryContext;
    /** The parsed request body, for the provisioning log. */
    scimRequestBody: unknown;
    /** The resource the request created, read or changed, for the provisioning log. */
    scimResource: ScimObject | undefined;
    /** Resource facts known before the handler fails (e.g. a DELETE's userName). */
    scimLogHint: { cfResourceId?: string; idpResourceId?: string | null; email?: string | null; groupName?: string };
    /** The connection named in the path, once it is known to exist (failed authentications are logged to it too). */
    scimIdpId: string | undefined;
    /** Set when authentication failed: the log row then carries no request data (it came from an unauthenticated client). */
    scimAuthFailed: boolean | undefined;
    /** Set when the request must not be logged (a failed authentication over the limit). */
    scimLogSkip: boolean | undefined;
  };
};
