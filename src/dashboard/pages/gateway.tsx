// Dashboard: Gateway rules (the builder with domains, the SCIM-group dropdown and the resulting
// expression, ./gateway-rule-builder.tsx), devices (per user, with revoke) and the DNS activity log.
// Every write calls the service the /api/v1/gateway routes call; refusals are shown on the form.
import { Hono, type Context } from "hono";
import { ApiError } from "../../http/api-error";
import { createRule, deleteRule, getRule, listRules, updateRule } from "../../gateway/rules-store";
import { listDevices, revokeDevice } from "../../gateway/devices";
import { queryDnsLog } from "../../gateway/dns-log";
import { listPageOrDefault } from "../../http/pagination";
import type { DashboardEnv } from "../context";
import { Csrf, FormErrors, Layout } from "../layout";
import { Pager } from "./directory-ui";
import { groupById, pickerIdps, PickerScript, searchGroups, type PickerIdp } from "./group-picker";
import { draftFromRule, emptyRuleDraft, parseRuleDraft, expressions, RuleBuilder, ruleBody, type RuleDraft } from "./gateway-rule-builder";

type C = Context<DashboardEnv>;

export const gatewayPage = new Hono<DashboardEnv>();

async function attempt<T>(fn: () => Promise<T>): Promise<{ ok: T } | { error: string }> {
  try {
    return { ok: await fn() };
  } catch (e) {
    if (e instanceof ApiError) return { error: e.message };
    throw e;
  }
}

function Notice({ c }: { c: C }) {
  const done = c.req.query("done");
  return done ? (
    <p class="notice" role="status" data-testid="notice">
      {done}
    </p>
  ) : null;
}

// ---- Rules.

gatewayPage.get("/rules", async (c) => {
  const { result: rules, result_info } = await listRules(c.env.DB, listPageOrDefault(new URL(c.req.url)));
  return c.html(
    <Layout title="Gateway rules" current="/gateway/rules" who={c.var.adminEmail}>
      <Notice c={c} />
      <p>
        <a href="/dashboard/gateway/rules/new" data-testid="add-rule">
          Add a rule
        </a>
      </p>
      <table data-testid="rules-table">
        <thead>
          <tr>
            <th scope="col">Precedence</th>
            <th scope="col">Name</th>
            <th scope="col">Action</th>
            <th scope="col">Traffic</th>
            <th scope="col">Identity</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {rules.map((r) => (
            <tr>
              <td>{r.precedence}</td>
              <td>
                <a href={`/dashboard/gateway/rules/${r.id}`}>{r.name}</a>
                {r.enabled ? null : <span class="muted"> (disabled)</span>}
              </td>
              <td>{`${r.action} (${r.filters[0]})`}</td>
              <td>
                <code>{r.traffic}</code>
              </td>
              <td>
                <code>{r.identity}</code>
              </td>
              <td>
                <form method="post" action={`/dashboard/gateway/rules/${r.id}/delete`} class="inline">
                  <Csrf token={c.var.csrf} />
                  <button type="submit" aria-label={`Delete rule ${r.name}`}>
                    Delete
                  </button>
                </form>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {result_info.total_count === 0 ? <p class="muted">No rules yet: every query is resolved.</p> : <Pager url={c.req.url} info={result_info} />}
    </Layout>,
  );
});

async function builderPage(c: C, idps: PickerIdp[], draft: RuleDraft, ruleId: string | null, errors: string[]) {
  const idp = idps.find((i) => i.id === draft.pick.idp) ?? idps[0];
  const [options, selected] = idp ? await Promise.all([searchGroups(c.env.DB, idp.id, draft.pick.q), draft.pick.group ? groupById(c.env.DB, idp.id, draft.pick.group) : null]) : [[], null];
  return c.html(
    <Layout title={ruleId ? `Edit rule: ${draft.name}` : "New Gateway rule"} current="/gateway/rules" who={c.var.adminEmail}>
      <p>
        <a href="/dashboard/gateway/rules">All rules</a>
      </p>
      <RuleBuilder action={`/dashboard/gateway/rules/${ruleId ?? "new"}`} csrf={c.var.csrf} draft={draft} idps={idps} options={options} selected={selected} errors={errors} />
      <PickerScript />
    </Layout>,
    errors.length > 0 ? 400 : 200,
  );
}

gatewayPage.get("/rules/new", async (c) => {
  const idps = await pickerIdps(c.env.DB);
  return builderPage(c, idps, emptyRuleDraft(idps[0]?.id ?? ""), null, []);
});
gatewayPage.get("/rules/:id", async (c) => {
  const [idps, rule] = await Promise.all([pickerIdps(c.env.DB), getRule(c.env.DB, c.req.param("id"))]);
  return builderPage(c, idps, draftFromRule(rule, idps[0]?.id ?? ""), rule.id, []);
});

/** One builder post: group add/remove, mode switches and "find" re-render; "save" writes through the service. */
async function builderPost(c: C, ruleId: string | null) {
  if (ruleId) await getRule(c.env.DB, ruleId);
  const idps = await pickerIdps(c.env.DB);
  const form = await c.req.formData();
  const action = typeof form.get("action") === "string" ? (form.get("action") as string) : "save";
  const draft = parseRuleDraft(form);
  const errors: string[] = [];
  if (action === "addgroup") {
    const idp = idps.find((i) => i.id === draft.pick.idp);
    const group = idp && draft.pick.group ? await groupById(c.env.DB, idp.id, draft.pick.group) : null;
    if (!group) errors.push("Pick a SCIM group first (search, then choose one)");
    else if (!draft.groups.includes(group.display_name)) draft.groups.push(group.display_name);
    draft.pick.group = "";
  } else if (action.startsWith("removegroup:")) {
    draft.groups.splice(Number(action.slice("removegroup:".length)), 1);
  } else if (action === "advanced") {
    Object.assign(draft, expressions(draft), { advanced: true });
  } else if (action === "builder") {
    draft.advanced = false;
  }
  if (action !== "save") return builderPage(c, idps, draft, ruleId, errors);
  const ctx = { db: c.env.DB, actor: c.var.actor };
  const body = ruleBody(draft);
  const r = await attempt(() => (ruleId ? updateRule(ctx, ruleId, body) : createRule(ctx, body)));
  if ("error" in r) return builderPage(c, idps, draft, ruleId, [r.error]);
  return c.redirect(`/dashboard/gateway/rules?done=${encodeURIComponent(`Rule "${r.ok.name}" saved`)}`, 303);
}

gatewayPage.post("/rules/new", (c) => builderPost(c, null));
gatewayPage.post("/rules/:id", (c) => builderPost(c, c.req.param("id")));
gatewayPage.post("/rules/:id/delete", async (c) => {
  const rule = await getRule(c.env.DB, c.req.param("id"));
  await deleteRule({ db: c.env.DB, actor: c.var.actor }, rule.id);
  return c.redirect(`/dashboard/gateway/rules?done=${encodeURIComponent(`Rule "${rule.name}" deleted`)}`, 303);
});

// ---- Devices.

/** A user filter typed as an email: the one user with that primary email, or a message. */
async function userIdFor(db: D1Database, who: string): Promise<{ id: string } | { error: string }> {
  if (!who.includes("@")) return { id: who };
  const rows = await db.prepare("SELECT id FROM users WHERE email = ? LIMIT 2").bind(who.toLowerCase()).all<{ id: string }>();
  if (rows.results.length === 1) return { id: rows.results[0]!.id };
  return { error: rows.results.length === 0 ? `No user has the email ${who}` : `Several users (one per connection) have the email ${who}; filter by user id` };
}

gatewayPage.get("/devices", async (c) => {
  const who = (c.req.query("user") ?? "").trim();
  const page = c.req.query("page") ?? "1";
  const user = who ? await userIdFor(c.env.DB, who) : null;
  const params = new URLSearchParams({ page });
  if (user && "id" in user) params.set("user_id", user.id);
  const listed = user && "error" in user ? null : await attempt(() => listDevices(c.env.DB, params));
  const error = user && "error" in user ? user.error : listed && "error" in listed ? listed.error : null;
  const devices = listed && "ok" in listed ? listed.ok : null;
  const emails = devices?.result.length
    ? new Map(
        (await c.env.DB.prepare(`SELECT id, email FROM users WHERE id IN (${devices.result.map(() => "?").join(",")})`).bind(...devices.result.map((d) => d.user_id)).all<{ id: string; email: string | null }>()).results.map((r) => [r.id, r.email]),
      )
    : new Map<string, string | null>();
  const info = devices?.result_info;
  return c.html(
    <Layout title="Gateway devices" current="/gateway/devices" who={c.var.adminEmail}>
      <Notice c={c} />
      <form method="get" data-testid="devices-filter">
        <label>
          User (email or SCIM user id) <input name="user" value={who} data-testid="devices-user" />
        </label>
        <button type="submit">Filter</button>
      </form>
      <FormErrors messages={error ? [error] : []} />
      <table data-testid="devices-table">
        <thead>
          <tr>
            <th scope="col">Device</th>
            <th scope="col">User</th>
            <th scope="col">Enrolled</th>
            <th scope="col">Expires</th>
            <th scope="col">Status</th>
          </tr>
        </thead>
        <tbody>
          {(devices?.result ?? []).map((d) => (
            <tr data-testid={`device-${d.id}`}>
              <td>{d.name}</td>
              <td>
                <a href={`/dashboard/gateway/devices?user=${encodeURIComponent(d.user_id)}`}>{emails.get(d.user_id) ?? d.user_id}</a>
              </td>
              <td>{`${d.created_at} by ${d.enrolled_by}`}</td>
              <td>{d.expires_at}</td>
              <td>
                {d.revoked_at ? (
                  `revoked ${d.revoked_at}`
                ) : (
                  <form method="post" action={`/dashboard/gateway/devices/${d.id}/revoke`} class="inline">
                    <Csrf token={c.var.csrf} />
                    <button type="submit" data-testid="device-revoke" aria-label={`Revoke device ${d.name}`}>
                      Revoke
                    </button>
                  </form>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {info ? <p class="muted">{`Page ${info.page} of ${Math.max(1, info.total_pages)} (${info.total_count} devices)`}</p> : null}
      {info && info.page < info.total_pages ? <a href={`?${new URLSearchParams({ user: who, page: String(info.page + 1) })}`}>Next page</a> : null}
    </Layout>,
    error ? 400 : 200,
  );
});
gatewayPage.post("/devices/:id/revoke", async (c) => {
  const device = await revokeDevice(c.env, c.req.param("id"), c.var.actor);
  return c.redirect(`/dashboard/gateway/devices?done=${encodeURIComponent(`Device "${device.name}" revoked`)}`, 303);
});

// ---- The DNS activity log.

/** A `datetime-local` value (no zone) read as UTC, in the ISO form the log query takes. */
const utc = (v: string) => (/^\d{4}-\d\d-\d\dT\d\d:\d\d$/.test(v) ? `${v}:00Z` : v);

/** A log entry's user or device by name, its id in a small muted line (and a title); a deleted one by id only. */
function Named({ name, id, testid }: { name: string | null; id: string | null; testid: string }) {
  if (id === null) return null;
  if (name === null) return <small class="muted" title={id}>{id} (deleted)</small>;
  return (
    <span title={id} data-testid={testid}>
      {name}
      <br />
      <small class="muted">{id}</small>
    </span>
  );
}

gatewayPage.get("/logs", async (c) => {
  const f = { user_id: "", device_id: "", decision: "", since: "", until: "", page: "1" };
  for (const k of Object.keys(f) as (keyof typeof f)[]) f[k] = (c.req.query(k) ?? f[k]).trim();
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(f)) if (v !== "") params.set(k, k === "since" || k === "until" ? utc(v) : v);
  const r = await attempt(() => queryDnsLog(c.env.DB, params));
  const log = "ok" in r ? r.ok : null;
  return c.html(
    <Layout title="DNS activity log" current="/gateway/logs" who={c.var.adminEmail}>
      <form method="get" data-testid="dns-log-filter">
        <label>
          User id <input name="user_id" value={f.user_id} />
        </label>
        <label>
          Device id <input name="device_id" value={f.device_id} />
        </label>
        <label>
          Decision{" "}
          <select name="decision" data-testid="dns-log-decision">
            <option value="">any</option>
            {["allowed", "blocked", "overridden", "servfail"].map((d) => (
              <option value={d} selected={d === f.decision}>
                {d}
              </option>
            ))}
          </select>
        </label>
        <label>
          From (UTC) <input type="datetime-local" name="since" value={f.since} />
        </label>
        <label>
          Until (UTC) <input type="datetime-local" name="until" value={f.until} />
        </label>
        <button type="submit">Filter</button>
      </form>
      <FormErrors messages={"error" in r ? [r.error] : []} />
      <table data-testid="dns-log-table">
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Query</th>
            <th scope="col">Type</th>
            <th scope="col">Decision</th>
            <th scope="col">User</th>
            <th scope="col">Device</th>
            <th scope="col">Rule</th>
          </tr>
        </thead>
        <tbody>
          {(log?.result ?? []).map((e) => (
            <tr>
              <td>{e.datetime}</td>
              <td>
                <code>{e.query_name}</code>
              </td>
              <td>{e.query_type}</td>
              <td>{e.decision}</td>
              <td>
                <Named name={e.user_email ?? e.user_name} id={e.user_id} testid="dns-log-user" />
              </td>
              <td>
                <Named name={e.device_name} id={e.device_id} testid="dns-log-device" />
              </td>
              <td>{e.rule_id ? <a href={`/dashboard/gateway/rules/${e.rule_id}`}>{e.rule_id}</a> : ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {log?.result_info.has_more ? <a href={`?${new URLSearchParams({ ...f, page: String(log.result_info.page + 1) })}`}>Older entries</a> : null}
    </Layout>,
    "error" in r ? 400 : 200,
  );
});
