// What every dashboard handler knows once the gate let it through (set by ./gate.ts).
import type { AppEnv } from "../http/app-env";

/** Hono env of the dashboard: the app's, plus the signed-in admin and their CSRF token. */
export type DashboardEnv = {
  Bindings: AppEnv["Bindings"];
  Variables: AppEnv["Variables"] & {
    /** The signed-in admin's email (shown in the header; `actor` carries `dashboard:<user id>`). */
    adminEmail: string;
    /** The CSRF token of this dashboard session: every state-changing form must carry it. */
    csrf: string;
  };
};
