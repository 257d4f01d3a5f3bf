import type { Config } from "../config";

/** Hono context types shared by every route module. */
export type AppEnv = {
  Bindings: Env;
  Variables: {
    config: Config;
    /** Who is acting, for the audit log: `admin:token`, `scim:<idp id>`. */
    actor: string;
    /** What the authenticated admin may do (src/auth/admin-token.ts): `read` tokens only GET/HEAD. */
    scope: "read" | "write";
  };
};
