// Users across every connection: server-side prefix search on email, userName and display name
// (paged, indexed), and one user's status, groups, live sessions, seat, and "Revoke all sessions".
import { Hono } from "hono";
import { database } from "../../db";
import { listIdentityProviders } from "../../admin/identity-providers";
import { parseQuery, revokeUserSessions, searchUsers, userDetail, userSearchSchema } from "../../admin/directory-search";
import type { DashboardEnv } from "../context";
import { Csrf, Layout } from "../layout";
import { errorPage, Pager } from "./directory-ui";

export const usersPage = new Hono<DashboardEnv>();
const here = "/users";

usersPage.get("/", async (c) => {
  try {
    const url = new URL(c.req.url);
    const q = parseQuery(userSearchSchema, url);
    const [{ result, result_info }, idps] = await Promise.all([searchUsers(c.env.DB, q), listIdentityProviders(database(c.env))]);
    return c.html(
      <Layout title="Users" current={here} who={c.var.adminEmail}>
        <form method="get" action="/dashboard/users" role="search" data-testid="user-search-form">
          <label>
            Name or email starts with <input type="search" name="search" value={q.search ?? ""} maxlength={256} data-testid="user-search" />
          </label>
          <label>
            Connection{" "}
            <select name="idp_id" data-testid="user-idp">
              <option value="">All connections</option>
              {idps.map((i) => (
                <option value={i.id} selected={q.idp_id === i.id}>
                  {i.name}
                </option>
              ))}
            </select>
          </label>
          <label>
            Status{" "}
            <select name="status" data-testid="user-status">
              {(["all", "active", "inactive"] as const).map((s) => (
                <option value={s} selected={q.status === s}>
                  {s}
                </option>
              ))}
            </select>
          </label>
          <button type="submit" data-testid="user-search-submit">Search</button>
        </form>
        <table data-testid="users-table">
          <thead>
            <tr>
              <th scope="col">User name</th>
              <th scope="col">Display name</th>
              <th scope="col">Email</th>
              <th scope="col">Connection</th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            {result.map((u) => (
              <tr data-testid="user-row">
                <th scope="row">
                  <a href={`/dashboard/users/${u.id}`} data-testid="user-link">{u.user_name}</a>
                </th>
                <td>{u.display_name ?? ""}</td>
                <td>{u.email ?? ""}</td>
                <td>{u.idp_name}</td>
                <td>{u.is_active ? "active" : "inactive"}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <Pager url={c.req.url} info={result_info} />
      </Layout>,
    );
  } catch (error) {
    return errorPage(c, error, "Users", here, <a href="/dashboard/users">Back</a>);
  }
});

usersPage.get("/:id", async (c) => {
  try {
    const u = await userDetail(c.env, c.req.param("id"));
    const revoked = c.req.query("revoked");
    return c.html(
      <Layout title={u.display_name ?? u.user_name} current={here} who={c.var.adminEmail}>
        {revoked !== undefined ? (
          <p class="notice" role="status" data-testid="revoked">
            Revoked {revoked} session(s).
          </p>
        ) : null}
        <dl>
          <dt>User name</dt>
          <dd>{u.user_name}</dd>
          <dt>Email</dt>
          <dd>{u.email ?? "—"}</dd>
          <dt>Status</dt>
          <dd data-testid="user-status">{u.is_active ? "active" : "inactive"}</dd>
          <dt>Connection</dt>
          <dd>
            <a href={`/dashboard/connections/${u.idp_id}`}>{u.idp_name}</a>
          </dd>
          <dt>Seat</dt>
          <dd data-testid="user-seat">
            {u.seat.in_use ? "uses a seat" : "no seat (deactivated; the connection gives seats back)"}
          </dd>
        </dl>
        <h2>Groups</h2>
        {u.groups.length ? (
          <ul data-testid="user-groups">
            {u.groups.map((g) => (
              <li>
                <a href={`/dashboard/groups/${u.idp_id}/${g.id}`}>{g.display_name}</a>
              </li>
            ))}
          </ul>
        ) : (
          <p class="muted">No groups.</p>
        )}
        {u.groups_truncated ? <p class="muted">Showing the first 500 groups.</p> : null}
        <h2>Active sessions</h2>
        <table data-testid="user-sessions">
          <thead>
            <tr>
              <th scope="col">Kind</th>
              <th scope="col">Application or device</th>
              <th scope="col">Started</th>
              <th scope="col">Last seen</th>
              <th scope="col">Expires</th>
            </tr>
          </thead>
          <tbody>
            {u.active_sessions.map((s) => (
              <tr data-testid="session-row">
                <th scope="row">{s.kind}</th>
                <td>{s.kind === "gateway" ? `Device: ${s.device_name ?? s.device_id ?? "?"}` : s.app_id ? `App: ${s.app_name ?? s.app_id}` : "Access (all applications)"}</td>
                <td>{s.created_at}</td>
                <td>{s.last_seen_at}</td>
                <td>{s.expires_at}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {u.active_sessions.length ? null : <p class="muted">No active sessions.</p>}
        <form method="post" action={`/dashboard/users/${u.id}/revoke_sessions`}>
          <Csrf token={c.var.csrf} />
          <button type="submit" data-testid="revoke-all-sessions">Revoke all sessions</button>
        </form>
      </Layout>,
    );
  } catch (error) {
    return errorPage(c, error, "User", here, <a href="/dashboard/users">Back</a>);
  }
});

usersPage.post("/:id/revoke_sessions", async (c) => {
  try {
    const { revokedSessions } = await revokeUserSessions(c.env, c.req.param("id"), c.var.actor);
    return c.redirect(`/dashboard/users/${c.req.param("id")}?revoked=${revokedSessions}`, 303);
  } catch (error) {
    return errorPage(c, error, "Could not revoke", here);
  }
});
