// Small pieces shared by the directory pages (connections, users, groups, provisioning log).
import type { Context } from "hono";
import type { Child } from "hono/jsx";
import { ApiError } from "../../http/api-error";
import type { DashboardEnv } from "../context";
import { Layout } from "../layout";

/** A value in a monospace box with a copy button (3 lines of inline JS; the value stays selectable without JS). */
export function Copyable({ id, value, testid }: { id: string; value: string; testid: string }) {
  return (
    <p>
      <code class="secret" id={id} data-testid={testid}>
        {value}
      </code>{" "}
      <button type="button" data-testid={`${testid}-copy`} aria-label="Copy to clipboard" onclick={`navigator.clipboard.writeText(document.getElementById('${id}').textContent)`}>
        Copy
      </button>
    </p>
  );
}

/** Previous / next links for a paged list (`result_info` of the API), keeping the other query parameters. */
export function Pager({ url, info }: { url: string; info: { page: number; total_pages: number; total_count: number } }) {
  const at = (page: number) => {
    const u = new URL(url);
    u.searchParams.set("page", String(page));
    return `${u.pathname}${u.search}`;
  };
  return (
    <nav aria-label="Pages" data-testid="pager">
      <p>
        {info.page > 1 ? <a href={at(info.page - 1)} rel="prev" data-testid="page-prev">Previous</a> : null}{" "}
        <span>
          Page {info.page} of {Math.max(info.total_pages, 1)} ({info.total_count} in all)
        </span>{" "}
        {info.page < info.total_pages ? <a href={at(info.page + 1)} rel="next" data-testid="page-next">Next</a> : null}
      </p>
    </nav>
  );
}

/** Renders an ApiError (400/404/409) as a page with its status; rethrows anything else. */
export function errorPage(c: Context<DashboardEnv>, error: unknown, title: string, current: string, back?: Child) {
  if (!(error instanceof ApiError)) throw error;
  return c.html(
    <Layout title={title} current={current} who={c.var.adminEmail}>
      <p class="error" role="alert" data-testid="error">
        {error.message}
      </p>
      {back}
    </Layout>,
    error.status as 400,
  );
}

/** A form's text fields (checkboxes are "on" or absent). */
export async function formFields(c: Context<DashboardEnv>): Promise<Record<string, string>> {
  const body = await c.req.parseBody();
  return Object.fromEntries(Object.entries(body).filter(([, v]) => typeof v === "string")) as Record<string, string>;
}
