// The admin dashboard at /dashboard on the team host: server-rendered pages (hono/jsx) over the same
// services as the /api/v1 admin API. Each section is its own module under ./pages, mounted here.
import { Hono } from "hono";
import type { DashboardEnv } from "./context";
import { dashboardGate } from "./gate";
import { Layout } from "./layout";

export const dashboardRoutes = new Hono<DashboardEnv>();

dashboardRoutes.use("*", dashboardGate);

dashboardRoutes.get("/", (c) =>
  c.html(
    <Layout title="Overview" current="/" who={c.var.adminEmail}>
      <p>Manage IdP connections, the SCIM directory, Access applications and Gateway rules.</p>
    </Layout>,
  ),
);

// ---- Sections (one line each; keep this list in the order of NAV in ./layout.tsx).
import { accessPage } from "./pages/access";
dashboardRoutes.route("/access", accessPage);
import { gatewayPage } from "./pages/gateway";
dashboardRoutes.route("/gateway", gatewayPage);
import { driftPage } from "./pages/drift";
dashboardRoutes.route("/drift", driftPage);
import { tokensPage } from "./pages/tokens";
dashboardRoutes.route("/tokens", tokensPage);
import { setupPage } from "./pages/setup";
dashboardRoutes.route("/setup", setupPage);
import { connectionsPage } from "./pages/connections";
dashboardRoutes.route("/connections", connectionsPage);
import { usersPage } from "./pages/users";
dashboardRoutes.route("/users", usersPage);
import { groupsPage } from "./pages/groups";
dashboardRoutes.route("/groups", groupsPage);
import { scimLogPage } from "./pages/scim-log";
dashboardRoutes.route("/logs/scim", scimLogPage);
