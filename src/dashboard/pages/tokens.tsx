// Dashboard: API tokens for scripts (list, create: the secret is shown once, revoke). Calls the same
// service as `/api/v1/tokens` (src/auth/api-tokens.ts).
import { Hono } from "hono";
import { ApiError } from "../../http/api-error";
import { createApiToken, listApiTokens, revokeApiToken, type ApiTokenView } from "../../auth/api-tokens";
import { listPageOrDefault, type Paged } from "../../http/pagination";
import type { DashboardEnv } from "../context";
import { Csrf, Layout } from "../layout";
import { Pager } from "./directory-ui";

export const tokensPage = new Hono<DashboardEnv>();

function TokensPage(props: { csrf: string; who: string; url: string; tokens: Paged<ApiTokenView>; created?: ApiTokenView & { token: string }; error?: string; notice?: string }) {
  return (
    <Layout title="API tokens" current="/tokens" who={props.who}>
      <p>Tokens let scripts call <code>/api/v1</code> with <code>Authorization: Bearer …</code>. A read token may only read.</p>
      {props.error ? <p class="error" role="alert" data-testid="token-error">{props.error}</p> : null}
      {props.notice ? <p class="notice" role="status">{props.notice}</p> : null}
      {props.created ? (
        <div class="notice" role="status" data-testid="token-created">
          <p>
            Token <strong>{props.created.name}</strong> ({props.created.scope}) created. Copy it now: it is not shown again.
          </p>
          <p>
            <span class="secret" data-testid="token-secret">{props.created.token}</span>
          </p>
        </div>
      ) : null}
      <h2>Create a token</h2>
      <form method="post" action="/dashboard/tokens">
        <Csrf token={props.csrf} />
        <label>
          Name <input name="name" required maxlength={100} data-testid="token-name" />
        </label>
        <label>
          Scope{" "}
          <select name="scope" data-testid="token-scope">
            <option value="read">read</option>
            <option value="write">write</option>
          </select>
        </label>
        <label>
          Expires (optional, UTC) <input type="datetime-local" name="expires_at" data-testid="token-expires" />
        </label>
        <button type="submit" data-testid="token-create">Create token</button>
      </form>
      <h2>Tokens</h2>
      <table data-testid="token-list">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Scope</th>
            <th scope="col">Status</th>
            <th scope="col">Created</th>
            <th scope="col">Last used</th>
            <th scope="col">Expires</th>
            <th scope="col"><span class="muted">Action</span></th>
          </tr>
        </thead>
        <tbody>
          {props.tokens.result.map((t) => (
            <tr data-testid={`token-row-${t.id}`}>
              <td>{t.name}</td>
              <td>{t.scope}</td>
              <td>{t.status}</td>
              <td>
                {t.created_at} <span class="muted">by {t.created_by}</span>
              </td>
              <td>{t.last_used_at ?? "never"}</td>
              <td>{t.expires_at ?? "never"}</td>
              <td>
                {t.status === "revoked" ? null : (
                  <form method="post" action={`/dashboard/tokens/${t.id}/revoke`} class="inline">
                    <Csrf token={props.csrf} />
                    <button type="submit" data-testid={`token-revoke-${t.id}`} aria-label={`Revoke ${t.name}`}>
                      Revoke
                    </button>
                  </form>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <Pager url={props.url} info={props.tokens.result_info} />
    </Layout>
  );
}

tokensPage.get("/", async (c) => c.html(<TokensPage csrf={c.var.csrf} who={c.var.adminEmail} url={c.req.url} tokens={await listApiTokens(c.env.DB, listPageOrDefault(new URL(c.req.url)))} />));

tokensPage.post("/", async (c) => {
  const form = await c.req.formData();
  const field = (k: string) => {
    const v = form.get(k);
    return typeof v === "string" ? v.trim() : "";
  };
  // `datetime-local` has no zone: the browser's local time is unknown here, so it is read as UTC (said on the page).
  const expires = field("expires_at");
  const body = { name: field("name"), scope: field("scope"), ...(expires ? { expires_at: /[zZ]|[+-]\d\d:\d\d$/.test(expires) ? expires : `${expires.length === 16 ? `${expires}:00` : expires}Z` } : {}) };
  try {
    const created = await createApiToken(c.env.DB, c.var.actor, body);
    return c.html(<TokensPage csrf={c.var.csrf} who={c.var.adminEmail} url={c.req.url} tokens={await listApiTokens(c.env.DB)} created={created} />);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    return c.html(<TokensPage csrf={c.var.csrf} who={c.var.adminEmail} url={c.req.url} tokens={await listApiTokens(c.env.DB)} error={e.message} />, e.status as 400);
  }
});

tokensPage.post("/:id/revoke", async (c) => {
  try {
    const revoked = await revokeApiToken(c.env.DB, c.var.actor, c.req.param("id"));
    return c.html(<TokensPage csrf={c.var.csrf} who={c.var.adminEmail} url={c.req.url} tokens={await listApiTokens(c.env.DB)} notice={`Token ${revoked.name} revoked.`} />);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    return c.html(<TokensPage csrf={c.var.csrf} who={c.var.adminEmail} url={c.req.url} tokens={await listApiTokens(c.env.DB)} error={e.message} />, e.status as 404);
  }
});
