// Dashboard: Access applications, their policies (the builder with the per-connection SCIM-group
// dropdown, ./policy-builder.tsx) and the policy simulator. Every write calls the service the
// /api/v1/access routes call; a refusal (ApiError) is shown on the form it came from.
import { Hono, type Context } from "hono";
import { ApiError } from "../../http/api-error";
import { baseUrlFor } from "../../config";
import { createApp, deleteApp, getApp, listApps, updateApp, type AppContext } from "../../access/apps/apps";
import { hostName } from "../../access/apps/domain";
import { createPolicy, deletePolicy, getPolicies, getPolicy, updatePolicy } from "../../access/apps/policies";
import { simulate } from "../../access/apps/simulate";
import type { AccessApp } from "../../access/apps/types";
import { invalidateAppHosts } from "../../access/routing";
import { revokeAppTokens } from "../../sessions/service";
import { listPageOrDefault } from "../../http/pagination";
import type { DashboardEnv } from "../context";
import { Csrf, FormErrors, Layout } from "../layout";
import { Pager } from "./directory-ui";
import { PickerScript, pickerIdps, pickerRoutes, type PickerIdp } from "./group-picker";
import { applyRowAction, draftFromPolicy, draftToBody, emptyDraft, parseDraft, pickerData, PolicyBuilder, type Draft } from "./policy-builder";

type C = Context<DashboardEnv>;

export const accessPage = new Hono<DashboardEnv>();
accessPage.route("/", pickerRoutes); // GET /dashboard/access/scim-groups (the dropdown's JSON)

/** The app write context, as the API builds it: the Worker's own host names are reserved. */
function appContext(c: C): AppContext {
  const hosts = new Set([hostName(new URL(baseUrlFor(c.var.config, c.req.url)).host), hostName(new URL(c.req.url).host)]);
  return { db: c.env.DB, actor: c.var.actor, reservedHosts: [...hosts] };
}

/** Runs a service call; an ApiError becomes `{ error }` for the form, anything else propagates. */
async function attempt<T>(fn: () => Promise<T>): Promise<{ ok: T } | { error: string }> {
  try {
    return { ok: await fn() };
  } catch (e) {
    if (e instanceof ApiError) return { error: e.message };
    throw e;
  }
}

const text = (form: FormData, key: string) => {
  const v = form.get(key);
  return typeof v === "string" ? v : "";
};

function Notice({ c }: { c: C }) {
  const done = c.req.query("done");
  return done ? (
    <p class="notice" role="status" data-testid="notice">
      {done}
    </p>
  ) : null;
}

interface AppFormValues {
  name: string;
  domain: string;
  origin: string;
  session_duration: string;
  allowed_idps: string[];
}

function AppForm({ action, csrf, v, idps, submit }: { action: string; csrf: string; v: AppFormValues; idps: PickerIdp[]; submit: string }) {
  return (
    <form method="post" action={action} data-testid="app-form">
      <Csrf token={csrf} />
      <label>
        Name <input name="name" value={v.name} required data-testid="app-name" />
      </label>
      <label>
        Domain (host and optional path) <input name="domain" value={v.domain} required placeholder="wiki.example.com" data-testid="app-domain" />
      </label>
      <label>
        Origin (where requests go) <input name="origin" value={v.origin} required placeholder="https://internal.example.com" data-testid="app-origin" />
      </label>
      <label>
        Session duration <input name="session_duration" value={v.session_duration} placeholder="24h" data-testid="app-session-duration" />
      </label>
      <fieldset>
        <legend>Allowed identity providers (none checked: every connection)</legend>
        {idps.map((i) => (
          <label>
            <input type="checkbox" name="allowed_idps" value={i.id} checked={v.allowed_idps.includes(i.id)} /> {`${i.name} (${i.type})`}
          </label>
        ))}
      </fieldset>
      <button type="submit" data-testid="app-save">
        {submit}
      </button>
    </form>
  );
}

function appValues(form: FormData): AppFormValues {
  return {
    name: text(form, "name"),
    domain: text(form, "domain"),
    origin: text(form, "origin"),
    session_duration: text(form, "session_duration"),
    allowed_idps: form.getAll("allowed_idps").filter((x): x is string => typeof x === "string"),
  };
}

function appBody(v: AppFormValues) {
  return { name: v.name, domain: v.domain, origin: v.origin, allowed_idps: v.allowed_idps, ...(v.session_duration.trim() ? { session_duration: v.session_duration.trim() } : {}) };
}

// ---- Applications.

async function appsPage(c: C, v: AppFormValues, errors: string[]) {
  const [{ result: apps, result_info }, idps] = await Promise.all([listApps(c.env.DB, listPageOrDefault(new URL(c.req.url))), pickerIdps(c.env.DB)]);
  return c.html(
    <Layout title="Access applications" current="/access/apps" who={c.var.adminEmail}>
      <Notice c={c} />
      <table data-testid="apps-table">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Domain</th>
            <th scope="col">Origin</th>
            <th scope="col">Session</th>
          </tr>
        </thead>
        <tbody>
          {apps.map((a) => (
            <tr>
              <td>
                <a href={`/dashboard/access/apps/${a.id}`}>{a.name}</a>
              </td>
              <td>
                <code>{a.domain}</code>
              </td>
              <td>
                <code>{a.origin}</code>
              </td>
              <td>{a.sessionDuration}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {result_info.total_count === 0 ? <p class="muted">No applications yet.</p> : <Pager url={c.req.url} info={result_info} />}
      <h2>Add an application</h2>
      <FormErrors messages={errors} />
      <AppForm action="/dashboard/access/apps" csrf={c.var.csrf} v={v} idps={idps} submit="Create application" />
    </Layout>,
    errors.length > 0 ? 400 : 200,
  );
}

accessPage.get("/apps", (c) => appsPage(c, { name: "", domain: "", origin: "", session_duration: "24h", allowed_idps: [] }, []));
accessPage.post("/apps", async (c) => {
  const v = appValues(await c.req.formData());
  const r = await attempt(() => createApp(appContext(c), appBody(v)));
  if ("error" in r) return appsPage(c, v, [r.error]);
  invalidateAppHosts();
  return c.redirect(`/dashboard/access/apps/${r.ok.id}?done=${encodeURIComponent(`Application "${r.ok.name}" created`)}`, 303);
});

async function appPage(c: C, app: AccessApp, v: AppFormValues, errors: string[]) {
  const [policies, idps] = await Promise.all([getPolicies(c.env.DB, app.id), pickerIdps(c.env.DB)]);
  const base = `/dashboard/access/apps/${app.id}`;
  return c.html(
    <Layout title={`Application: ${app.name}`} current="/access/apps" who={c.var.adminEmail}>
      <Notice c={c} />
      <p>
        <a href="/dashboard/access/apps">All applications</a> · <a href={`${base}/simulate`}>Policy simulator</a> · AUD tag <code>{app.aud}</code>
      </p>
      <h2>Policies</h2>
      <table data-testid="policies-table">
        <thead>
          <tr>
            <th scope="col">Precedence</th>
            <th scope="col">Name</th>
            <th scope="col">Decision</th>
            <th scope="col">Rules</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {policies.map((p) => (
            <tr>
              <td>{p.precedence}</td>
              <td>
                <a href={`${base}/policies/${p.id}`}>{p.name}</a>
              </td>
              <td>{p.decision}</td>
              <td class="muted">{`${p.include.length} include, ${p.exclude.length} exclude, ${p.require.length} require`}</td>
              <td>
                <form method="post" action={`${base}/policies/${p.id}/delete`} class="inline">
                  <Csrf token={c.var.csrf} />
                  <button type="submit" aria-label={`Delete policy ${p.name}`}>
                    Delete
                  </button>
                </form>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <p>
        <a href={`${base}/policies/new`} data-testid="add-policy">
          Add a policy
        </a>
      </p>
      <h2>Settings</h2>
      <FormErrors messages={errors} />
      <AppForm action={base} csrf={c.var.csrf} v={v} idps={idps} submit="Save application" />
      <h2>Delete</h2>
      <form method="post" action={`${base}/delete`}>
        <Csrf token={c.var.csrf} />
        <p>Deleting the application removes its policies and ends every session opened for it.</p>
        <button type="submit" data-testid="app-delete">
          Delete application
        </button>
      </form>
    </Layout>,
    errors.length > 0 ? 400 : 200,
  );
}

const valuesOf = (a: AccessApp): AppFormValues => ({ name: a.name, domain: a.domain, origin: a.origin, session_duration: a.sessionDuration, allowed_idps: a.allowedIdps });

accessPage.get("/apps/:id", async (c) => {
  const app = await getApp(c.env.DB, c.req.param("id"));
  return appPage(c, app, valuesOf(app), []);
});
accessPage.post("/apps/:id", async (c) => {
  const app = await getApp(c.env.DB, c.req.param("id"));
  const v = appValues(await c.req.formData());
  const r = await attempt(() => updateApp(appContext(c), app.id, appBody(v)));
  if ("error" in r) return appPage(c, app, v, [r.error]);
  invalidateAppHosts();
  return c.redirect(`/dashboard/access/apps/${app.id}?done=Saved`, 303);
});
accessPage.post("/apps/:id/delete", async (c) => {
  const id = c.req.param("id");
  const app = await deleteApp(appContext(c), id);
  invalidateAppHosts();
  // As DELETE /api/v1/access/apps/:id: the app is gone first, then the sessions opened for it end.
  await revokeAppTokens(c.env, id, c.var.actor);
  return c.redirect(`/dashboard/access/apps?done=${encodeURIComponent(`Application "${app.name}" deleted`)}`, 303);
});

// ---- Policies (the builder).

async function builderPage(c: C, app: AccessApp, idps: PickerIdp[], draft: Draft, policyId: string | null, errors: string[]) {
  const picks = await pickerData(c.env.DB, draft);
  const action = `/dashboard/access/apps/${app.id}/policies/${policyId ?? "new"}`;
  return c.html(
    <Layout title={policyId ? `Edit policy: ${draft.name}` : `New policy for ${app.name}`} current="/access/apps" who={c.var.adminEmail}>
      <p>
        <a href={`/dashboard/access/apps/${app.id}`}>{`Back to ${app.name}`}</a>
      </p>
      {idps.length === 0 ? <p class="notice">No IdP connection yet: SCIM-group rules need one.</p> : null}
      <PolicyBuilder action={action} csrf={c.var.csrf} draft={draft} idps={idps} picks={picks} errors={errors} />
      <PickerScript />
    </Layout>,
    errors.length > 0 ? 400 : 200,
  );
}

accessPage.get("/apps/:id/policies/new", async (c) => {
  const [app, idps] = await Promise.all([getApp(c.env.DB, c.req.param("id")), pickerIdps(c.env.DB)]);
  const draft = emptyDraft();
  draft.include.push({ kind: "email_domain", value: "", idp: idps[0]?.id ?? "", q: "", group: "" });
  return builderPage(c, app, idps, draft, null, []);
});
accessPage.get("/apps/:id/policies/:policyId", async (c) => {
  const [app, idps, policy] = await Promise.all([getApp(c.env.DB, c.req.param("id")), pickerIdps(c.env.DB), getPolicy(c.env.DB, c.req.param("id"), c.req.param("policyId"))]);
  return builderPage(c, app, idps, await draftFromPolicy(c.env.DB, policy), policy.id, []);
});

/** One builder post: a row action or "find" re-renders; "save" creates or updates through the service. */
async function builderPost(c: C, policyId: string | null) {
  const [app, idps] = await Promise.all([getApp(c.env.DB, c.req.param("id")!), pickerIdps(c.env.DB)]);
  if (policyId) await getPolicy(c.env.DB, app.id, policyId); // 404 for another app's policy
  const form = await c.req.formData();
  const action = text(form, "action") || "save";
  const draft = applyRowAction(parseDraft(form), action, idps[0]?.id ?? "");
  if (action !== "save") return builderPage(c, app, idps, draft, policyId, []);
  const built = await draftToBody(c.env.DB, idps, draft, policyId !== null);
  if ("errors" in built) return builderPage(c, app, idps, draft, policyId, built.errors);
  const writer = { db: c.env.DB, actor: c.var.actor };
  const r = await attempt(() => (policyId ? updatePolicy(writer, app.id, policyId, built.body) : createPolicy(writer, app.id, built.body)));
  if ("error" in r) return builderPage(c, app, idps, draft, policyId, [r.error]);
  return c.redirect(`/dashboard/access/apps/${app.id}?done=${encodeURIComponent(`Policy "${r.ok.name}" saved`)}`, 303);
}

accessPage.post("/apps/:id/policies/new", (c) => builderPost(c, null));
accessPage.post("/apps/:id/policies/:policyId", (c) => builderPost(c, c.req.param("policyId")));
accessPage.post("/apps/:id/policies/:policyId/delete", async (c) => {
  await deletePolicy({ db: c.env.DB, actor: c.var.actor }, c.req.param("id"), c.req.param("policyId"));
  return c.redirect(`/dashboard/access/apps/${c.req.param("id")}?done=Policy%20deleted`, 303);
});

// ---- The simulator.

type SimulationView = { decision: string | null; policy: { name: string; precedence: number } | null; rule: unknown; reason: string; user: { email: string | null; idp_id: string; groups: string[] } | null };

function SimulationResult({ s }: { s: SimulationView }) {
  return (
    <dl data-testid="simulation">
      <dt>Decision</dt>
      <dd data-testid="sim-decision">
        <strong>{s.decision ?? "depends on the connection used (see below)"}</strong>
      </dd>
      <dt>Policy</dt>
      <dd data-testid="sim-policy">{s.policy ? `${s.policy.name} (precedence ${s.policy.precedence})` : "none"}</dd>
      <dt>Rule</dt>
      <dd data-testid="sim-rule">{s.rule ? <code>{JSON.stringify(s.rule)}</code> : "none"}</dd>
      <dt>Reason</dt>
      <dd data-testid="sim-reason">{s.reason}</dd>
      {s.user ? (
        <>
          <dt>User</dt>
          <dd>{`${s.user.email ?? "?"} (connection ${s.user.idp_id}; groups: ${s.user.groups.join(", ") || "none"})`}</dd>
        </>
      ) : null}
    </dl>
  );
}

async function simulatorPage(c: C, who: string, result: (SimulationView & { matches: SimulationView[] }) | null, errors: string[]) {
  const app = await getApp(c.env.DB, c.req.param("id")!);
  return c.html(
    <Layout title={`Policy simulator: ${app.name}`} current="/access/apps" who={c.var.adminEmail}>
      <p>
        <a href={`/dashboard/access/apps/${app.id}`}>{`Back to ${app.name}`}</a>
      </p>
      <p>Would this directory user get in now, and why? (Live directory, the login's matching, the same evaluator.)</p>
      <form method="post" data-testid="simulate-form">
        <Csrf token={c.var.csrf} />
        <label>
          Email, userName or SCIM user id <input name="who" value={who} required data-testid="simulate-who" />
        </label>
        <button type="submit" data-testid="simulate-run">
          Simulate
        </button>
      </form>
      <FormErrors messages={errors} />
      {result ? <SimulationResult s={result} /> : null}
      {result && result.matches.length > 1
        ? result.matches.map((m) => (
            <section>
              <h2>{`Through connection ${m.user?.idp_id ?? "?"}`}</h2>
              <SimulationResult s={m} />
            </section>
          ))
        : null}
    </Layout>,
    errors.length > 0 ? 400 : 200,
  );
}

accessPage.get("/apps/:id/simulate", (c) => simulatorPage(c, "", null, []));
accessPage.post("/apps/:id/simulate", async (c) => {
  const who = text(await c.req.formData(), "who").trim();
  const body = who.includes("@") || who === "" ? { email: who } : { user_id: who };
  let r = await attempt(() => simulate(c.env.DB, c.req.param("id"), body));
  // A userName without "@" is tried as an email-style login when no user has that id.
  if ("error" in r && "user_id" in body) r = await attempt(() => simulate(c.env.DB, c.req.param("id"), { email: who }));
  if ("error" in r) return simulatorPage(c, who, null, [r.error]);
  return simulatorPage(c, who, r.ok as unknown as SimulationView & { matches: SimulationView[] }, []);
});
