// Dashboard: the directory drift report (/dashboard/drift), the same report as GET /api/v1/drift
// (src/admin/drift.ts): read-only, one GET form for its knobs.
import { Hono } from "hono";
import { ApiError } from "../../http/api-error";
import { driftReport, parseDriftQuery, type DriftReport } from "../../admin/drift";
import type { DashboardEnv } from "../context";
import { Layout } from "../layout";

export const driftPage = new Hono<DashboardEnv>();

const PROBLEMS = { missing: "no longer exists", no_members: "has no members", connection_missing: "its connection was deleted" } as const;

function More({ section, shown }: { section: { total: number; truncated: boolean }; shown: number }) {
  return section.truncated ? <p class="muted">{`Showing ${shown} of ${section.total}; raise "limit" to see more.`}</p> : null;
}

function Groups({ report }: { report: DriftReport }) {
  const g = report.groups;
  return (
    <section aria-labelledby="drift-groups-h" data-testid="drift-groups">
      <h2 id="drift-groups-h">{`Groups named by policies and rules (${g.total})`}</h2>
      {g.items.length === 0 ? (
        <p>Every SCIM group named by an Access policy, reusable group or Gateway rule exists and has members.</p>
      ) : (
        <table>
          <thead>
            <tr><th scope="col">Group</th><th scope="col">How it is named</th><th scope="col">Problem</th><th scope="col">Named by</th></tr>
          </thead>
          <tbody>
            {g.items.map((item) => (
              <tr>
                <td><code>{item.value}</code></td>
                <td>{item.selector}{item.identity_provider_id ? <span class="muted"> in <code>{item.identity_provider_id}</code></span> : " (any connection)"}</td>
                <td>{PROBLEMS[item.problem]}</td>
                <td>
                  <ul>
                    {item.referenced_by.map((r) => (
                      <li>
                        {r.type === "gateway_rule" ? <a href="/dashboard/gateway/rules">{`rule "${r.name}"`}</a> : r.app_id ? <a href={`/dashboard/access/apps/${r.app_id}`}>{`policy "${r.name}"`}</a> : `reusable group "${r.name}"`}{" "}
                        <span class="muted">{r.at}</span>
                      </li>
                    ))}
                  </ul>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <More section={g} shown={g.items.length} />
    </section>
  );
}

function Sessions({ report }: { report: DriftReport }) {
  const s = report.sessions;
  return (
    <section aria-labelledby="drift-sessions-h" data-testid="drift-sessions">
      <h2 id="drift-sessions-h">{`Deactivated users with sessions (${s.items.length})`}</h2>
      <p class="muted">The identity provider deactivated these users, but sessions opened before remain (user_deprovision off, or a revocation still pending). Live sessions are counted by each user's session authority; "not checked" rows are beyond confirm_sessions.</p>
      {s.items.length === 0 ? (
        <p>No deactivated user holds a session.</p>
      ) : (
        <table>
          <thead>
            <tr><th scope="col">User</th><th scope="col">Connection</th><th scope="col">Deactivated</th><th scope="col">Last session opened</th><th scope="col">Live sessions</th></tr>
          </thead>
          <tbody>
            {s.items.map((u) => (
              <tr>
                <td><a href={`/dashboard/users/${u.user_id}`}>{u.email ?? u.user_name}</a></td>
                <td><code>{u.identity_provider_id}</code></td>
                <td>{u.deactivated_at}</td>
                <td>{u.last_session_opened_at}</td>
                <td>{u.live_sessions === null ? "not checked" : String(u.live_sessions)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <More section={s} shown={s.items.length + s.cleared} />
    </section>
  );
}

function Connections({ report }: { report: DriftReport }) {
  const c = report.connections;
  return (
    <section aria-labelledby="drift-connections-h" data-testid="drift-connections">
      <h2 id="drift-connections-h">{`Connections not synced in ${report.stale_after_hours} h (${c.total})`}</h2>
      {c.items.length === 0 ? (
        <p>Every SCIM connection has synced recently.</p>
      ) : (
        <table>
          <thead>
            <tr><th scope="col">Connection</th><th scope="col">Type</th><th scope="col">Last sync</th><th scope="col">Last outcome</th></tr>
          </thead>
          <tbody>
            {c.items.map((x) => (
              <tr>
                <td><a href={`/dashboard/connections/${x.id}`}>{x.name}</a> <code class="muted">{x.id}</code></td>
                <td>{x.type}</td>
                <td>{x.last_sync_at === null ? "never" : `${x.last_sync_at} (${x.hours_since_sync} h ago)`}</td>
                <td>{x.last_status ?? "-"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <More section={c} shown={c.items.length} />
    </section>
  );
}

driftPage.get("/", async (c) => {
  const params = new URL(c.req.url).searchParams;
  let report: DriftReport | null = null;
  let error: string | null = null;
  try {
    report = await driftReport(c.env, parseDriftQuery(params));
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    error = e.message;
  }
  const page = (
    <Layout title="Directory drift" current="/drift" who={c.var.adminEmail}>
      <p>Where policies, sessions and connections no longer agree with the SCIM directory. Also at <code>GET /api/v1/drift</code>.</p>
      <form method="get" action="/dashboard/drift">
        <label>
          Connections are stale after (hours){" "}
          <input type="number" name="stale_after_hours" min="0.1" step="any" value={params.get("stale_after_hours") ?? "24"} data-testid="drift-stale-after" />
        </label>
        <button type="submit">Refresh</button>
      </form>
      {error ? <p class="error" role="alert">{error}</p> : null}
      {report ? (
        <>
          <p class="muted">{`Generated ${report.generated_at}.`}</p>
          <Groups report={report} />
          <Sessions report={report} />
          <Connections report={report} />
        </>
      ) : null}
    </Layout>
  );
  return c.html(page, error ? 400 : 200);
});
