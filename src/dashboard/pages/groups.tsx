// SCIM groups per connection: prefix search and member counts, paged; a group's members, paged.
import { Hono } from "hono";
import { database } from "../../db";
import { getIdentityProvider, listIdentityProviders } from "../../admin/identity-providers";
import { listScimGroups } from "../../admin/directory-views";
import { getGroup, listGroupMembers, memberCounts, parsePageQuery } from "../../admin/directory-search";
import type { DashboardEnv } from "../context";
import { Layout } from "../layout";
import { errorPage, Pager } from "./directory-ui";

export const groupsPage = new Hono<DashboardEnv>();
const here = "/groups";

groupsPage.get("/", async (c) => {
  try {
    const url = new URL(c.req.url);
    const idps = await listIdentityProviders(database(c.env));
    const idpId = c.req.query("idp_id") || idps[0]?.id;
    const idp = idpId ? await getIdentityProvider(database(c.env), idpId) : null;
    const listed = idp ? await listScimGroups(c.env.DB, idp.id, url) : null;
    const counts = await memberCounts(c.env.DB, (listed?.result ?? []).map((g) => g.cf_resource_id as string));
    return c.html(
      <Layout title="Groups" current={here} who={c.var.adminEmail}>
        <form method="get" action="/dashboard/groups" role="search" data-testid="group-search-form">
          <label>
            Connection{" "}
            <select name="idp_id" data-testid="group-idp">
              {idps.map((i) => (
                <option value={i.id} selected={idp?.id === i.id}>
                  {i.name}
                </option>
              ))}
            </select>
          </label>
          <label>
            Name starts with <input type="search" name="search" value={c.req.query("search") ?? ""} maxlength={256} data-testid="group-search" />
          </label>
          <button type="submit" data-testid="group-search-submit">Search</button>
        </form>
        {listed ? (
          <>
            <table data-testid="groups-table">
              <thead>
                <tr>
                  <th scope="col">Group</th>
                  <th scope="col">Members</th>
                  <th scope="col">IdP id</th>
                  <th scope="col">Updated</th>
                </tr>
              </thead>
              <tbody>
                {listed.result.map((g) => (
                  <tr data-testid="group-row">
                    <th scope="row">
                      <a href={`/dashboard/groups/${idp!.id}/${g.cf_resource_id as string}`} data-testid="group-link">{g.display_name as string}</a>
                    </th>
                    <td data-testid="member-count">{counts.get(g.cf_resource_id as string) ?? 0}</td>
                    <td>{(g.idp_resource_id as string | null) ?? ""}</td>
                    <td>{g.updated_at as string}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            <Pager url={c.req.url} info={listed.result_info} />
          </>
        ) : (
          <p class="muted">No connection yet.</p>
        )}
      </Layout>,
    );
  } catch (error) {
    return errorPage(c, error, "Groups", here, <a href="/dashboard/groups">Back</a>);
  }
});

groupsPage.get("/:idpId/:groupId", async (c) => {
  try {
    const idp = await getIdentityProvider(database(c.env), c.req.param("idpId"));
    const group = await getGroup(c.env.DB, idp.id, c.req.param("groupId"));
    const { result, result_info } = await listGroupMembers(c.env.DB, idp.id, group.id, parsePageQuery(new URL(c.req.url)));
    return c.html(
      <Layout title={`Group: ${group.display_name}`} current={here} who={c.var.adminEmail}>
        <p>
          Connection: <a href={`/dashboard/groups?idp_id=${idp.id}`}>{idp.name}</a> · {result_info.total_count} member(s)
        </p>
        <table data-testid="members-table">
          <thead>
            <tr>
              <th scope="col">User name</th>
              <th scope="col">Display name</th>
              <th scope="col">Email</th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            {result.map((u) => (
              <tr data-testid="member-row">
                <th scope="row">
                  <a href={`/dashboard/users/${u.id}`}>{u.user_name}</a>
                </th>
                <td>{u.display_name ?? ""}</td>
                <td>{u.email ?? ""}</td>
                <td>{u.is_active ? "active" : "inactive"}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <Pager url={c.req.url} info={result_info} />
      </Layout>,
    );
  } catch (error) {
    return errorPage(c, error, "Group", here, <a href="/dashboard/groups">Back</a>);
  }
});
