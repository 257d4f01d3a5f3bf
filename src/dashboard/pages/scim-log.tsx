// The provisioning log with Cloudflare's filters (time range, outcome, method, resource type, user
// email, group name), through the same parseLogQuery/queryProvisioningLog as
// GET /api/v1/access/logs/scim/updates. Request bodies were redacted before storage (src/logs/redact.ts).
import { Hono } from "hono";
import { database } from "../../db";
import { listIdentityProviders } from "../../admin/identity-providers";
import { parseLogQuery, queryProvisioningLog } from "../../logs/provisioning-log";
import type { DashboardEnv } from "../context";
import { Layout } from "../layout";
import { errorPage } from "./directory-ui";

export const scimLogPage = new Hono<DashboardEnv>();
const here = "/logs/scim";
const PER_PAGE = 50;

/** `<input type="datetime-local">` has no offset: the form says UTC, so a bare value gets `Z`. */
const asUtc = (v: string | undefined) => (v && /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(v) ? `${v.length === 16 ? `${v}:00` : v}Z` : v);

const pretty = (body: string | null) => {
  if (!body) return "";
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body; // cut at MAX_LOGGED_BODY: not JSON any more
  }
};

scimLogPage.get("/", async (c) => {
  try {
    const url = new URL(c.req.url);
    const q = url.searchParams;
    const apiUrl = new URL(url);
    for (const k of ["since", "until"]) {
      const v = asUtc(q.get(k) ?? undefined);
      if (v) apiUrl.searchParams.set(k, v);
      else apiUrl.searchParams.delete(k);
    }
    for (const k of [...apiUrl.searchParams.keys()]) if (apiUrl.searchParams.get(k) === "") apiUrl.searchParams.delete(k);
    apiUrl.searchParams.set("limit", String(PER_PAGE));
    const query = parseLogQuery(apiUrl);
    const [rows, idps] = await Promise.all([queryProvisioningLog(database(c.env), query), listIdentityProviders(database(c.env))]);
    const idpName = new Map(idps.map((i) => [i.id, i.name]));
    const sel = (name: string, options: string[], label: string) => (
      <label>
        {label}{" "}
        <select name={name} data-testid={`log-${name}`}>
          <option value="">Any</option>
          {options.map((o) => (
            <option value={o} selected={q.get(name)?.toUpperCase() === o}>
              {o}
            </option>
          ))}
        </select>
      </label>
    );
    const pageHref = (page: number) => {
      const u = new URL(url);
      u.searchParams.set("page", String(page));
      return `${u.pathname}${u.search}`;
    };
    return c.html(
      <Layout title="Provisioning log" current={here} who={c.var.adminEmail}>
        <form method="get" action="/dashboard/logs/scim" data-testid="log-filter-form">
          <label>
            From (UTC) <input type="datetime-local" name="since" value={q.get("since") ?? ""} data-testid="log-since" />
          </label>
          <label>
            To (UTC) <input type="datetime-local" name="until" value={q.get("until") ?? ""} data-testid="log-until" />
          </label>
          <label>
            Connection{" "}
            <select name="idp_id" data-testid="log-idp">
              <option value="">Any</option>
              {idps.map((i) => (
                <option value={i.id} selected={q.get("idp_id") === i.id}>
                  {i.name}
                </option>
              ))}
            </select>
          </label>
          {sel("status", ["SUCCESS", "FAILURE"], "Outcome")}
          {sel("request_method", ["GET", "POST", "PUT", "PATCH", "DELETE"], "Method")}
          {sel("resource_type", ["USER", "GROUP", "OTHER"], "Resource type")}
          <label>
            User email <input type="search" name="resource_user_email" value={q.get("resource_user_email") ?? ""} data-testid="log-user-email" />
          </label>
          <label>
            Group name <input type="search" name="resource_group_name" value={q.get("resource_group_name") ?? ""} data-testid="log-group-name" />
          </label>
          <button type="submit" data-testid="log-filter-submit">Filter</button>
        </form>
        <table data-testid="log-table">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Connection</th>
              <th scope="col">Request</th>
              <th scope="col">Resource</th>
              <th scope="col">Outcome</th>
              <th scope="col">Request body (redacted)</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr data-testid="log-row">
                <th scope="row">{r.logged_at}</th>
                <td>{idpName.get(r.idp_id) ?? r.idp_id}</td>
                <td>
                  {r.request_method} {r.resource_type}
                </td>
                <td>{r.resource_user_email ?? r.resource_group_name ?? r.idp_resource_id ?? ""}</td>
                <td>
                  {r.status} ({r.http_status}){r.error_description ? <div class="muted">{r.error_description}</div> : null}
                </td>
                <td>
                  {r.request_body ? (
                    <details>
                      <summary>Body</summary>
                      <pre data-testid="log-body">{pretty(r.request_body)}</pre>
                    </details>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {rows.length ? null : <p class="muted">No matching requests.</p>}
        <nav aria-label="Pages" data-testid="pager">
          <p>
            {query.page > 1 ? <a href={pageHref(query.page - 1)} rel="prev" data-testid="page-prev">Newer</a> : null} <span>Page {query.page}</span>{" "}
            {rows.length === PER_PAGE ? <a href={pageHref(query.page + 1)} rel="next" data-testid="page-next">Older</a> : null}
          </p>
        </nav>
      </Layout>,
    );
  } catch (error) {
    return errorPage(c, error, "Provisioning log", here, <a href="/dashboard/logs/scim">Clear the filters</a>);
  }
});
