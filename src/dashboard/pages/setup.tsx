// First-run set-up (/dashboard/setup): the dashboard is an Access application of its own, and this
// page creates its policy. Before any policy exists the gate lets anyone reach this page, so it
// first asks for the break-glass token (ADMIN_TOKEN, compared hashed in constant time) and shows
// nothing of the directory until that is given; a correct token earns a short-lived, HttpOnly,
// SameSite=Strict set-up cookie (an HMAC over its expiry and the token's hash, so rotating
// ADMIN_TOKEN voids it). Once a policy exists the page is only reached through the gate (an admin
// the policy allows, or an admin bearer token) and edits the policy. It saves through the same
// service as `PUT /api/v1/dashboard/policy` (src/access/dashboard-policy.ts).
import { Hono, type Context } from "hono";
import { ApiError } from "../../http/api-error";
import { database } from "../../db";
import { listIdentityProviders } from "../../admin/identity-providers";
import { listScimGroups } from "../../admin/directory-views";
import { auditStatement } from "../../logs/audit";
import { sha256Hex, timingSafeEqualHex } from "../../lib/crypto";
import { clearCookie, cookieValues, setCookie } from "../../access/cookies";
import { teamOrigin } from "../../access/login/team";
import { csrfToken, csrfValid } from "../../portal/csrf";
import { dashboardPolicy, saveDashboardPolicy } from "../../access/dashboard-policy";
import { describeRule } from "../../access/policy/evaluate";
import type { Policy } from "../../access/policy/rules";
import type { DashboardEnv } from "../context";
import { checkCsrf, SETUP_PATH } from "../gate";
import { Csrf, Layout } from "../layout";

type C = Context<DashboardEnv>;

export const setupPage = new Hono<DashboardEnv>();

/** The set-up cookie (only sent to the set-up page). */
export const SETUP_COOKIE = "zt_dashboard_setup";
const SETUP_TTL_SECONDS = 15 * 60;
/** How many groups the picker shows at once (10k groups must never render at once: search narrows it). */
export const GROUP_PICKER_LIMIT = 50;

async function grantMac(env: Env, expires: number): Promise<string> {
  return csrfToken(env, `dashboard-setup:${expires}:${await sha256Hex(env.ADMIN_TOKEN ?? "")}`);
}

/** A new set-up grant: `<expiry epoch seconds>.<mac>`. */
async function newGrant(env: Env): Promise<string> {
  const expires = Math.floor(Date.now() / 1000) + SETUP_TTL_SECONDS;
  return `${expires}.${await grantMac(env, expires)}`;
}

/** Whether the request carries a valid, unexpired set-up grant; returns it. */
async function validGrant(c: C): Promise<string | null> {
  if (!c.env.ADMIN_TOKEN) return null;
  for (const value of cookieValues(c.req.header("cookie"), SETUP_COOKIE)) {
    const [exp, mac] = value.split(".");
    const expires = Number(exp);
    if (!Number.isInteger(expires) || expires * 1000 <= Date.now() || !mac) continue;
    if (await csrfValid(c.env, `dashboard-setup:${expires}:${await sha256Hex(c.env.ADMIN_TOKEN)}`, mac)) return value;
  }
  return null;
}

/** Who may change the policy here: a write admin let in by the gate, or a set-up grant holder (before any policy). */
async function setupActor(c: C, policy: Policy | null): Promise<{ actor: string; csrf: string } | null> {
  if (c.get("actor")) return c.var.scope === "write" ? { actor: c.var.actor, csrf: c.var.csrf } : null;
  if (policy) return null; // the gate only lets an anonymous request here before a policy exists
  const grant = await validGrant(c);
  return grant ? { actor: "admin:token", csrf: await csrfToken(c.env, `dashboard-setup-form:${grant}`) } : null;
}

const notFound = (c: C) => c.html("<!doctype html><title>Not found</title><h1>Not found</h1>", 404);

function UnlockForm({ error }: { error?: string }) {
  return (
    <Layout title="Set up the dashboard">
      <p>No one can use the dashboard yet. Enter the break-glass token (the Worker's <code>ADMIN_TOKEN</code> secret) to choose who may.</p>
      {error ? <p class="error" role="alert" data-testid="setup-error">{error}</p> : null}
      <form method="post" action={`${SETUP_PATH}/unlock`}>
        <label>
          Break-glass token <input type="password" name="admin_token" autocomplete="off" required data-testid="setup-admin-token" />
        </label>
        <button type="submit" data-testid="setup-unlock">Continue</button>
      </form>
    </Layout>
  );
}

setupPage.post("/unlock", async (c) => {
  if (c.get("actor") || (await dashboardPolicy(c.env.DB))) return c.redirect(SETUP_PATH, 303);
  const form = await c.req.formData().catch(() => null);
  const presented = form?.get("admin_token");
  const [a, b] = await Promise.all([sha256Hex(typeof presented === "string" ? presented : ""), sha256Hex(c.env.ADMIN_TOKEN ?? "")]);
  if (!c.env.ADMIN_TOKEN || !timingSafeEqualHex(a, b)) {
    await auditStatement(c.env.DB, { actor: "anonymous", action: "dashboard_setup.unlock_failed", targetType: "access_settings", targetId: "dashboard_policy" }).run();
    return c.html(<UnlockForm error="That is not the break-glass token." />, 401);
  }
  c.header("set-cookie", setCookie(SETUP_COOKIE, await newGrant(c.env), { path: SETUP_PATH, maxAge: SETUP_TTL_SECONDS, sameSite: "Strict" }));
  return c.redirect(SETUP_PATH, 303);
});

setupPage.get("/", async (c) => {
  const policy = await dashboardPolicy(c.env.DB);
  const who = await setupActor(c, policy);
  if (!who) {
    if (policy && c.get("actor")) return c.html(<PolicyView c={c} policy={policy} />); // a read token may look
    return policy ? notFound(c) : c.html(<UnlockForm />);
  }
  return c.html(await policyForm(c, who.csrf, policy));
});

setupPage.post("/", async (c) => {
  const policy = await dashboardPolicy(c.env.DB);
  const who = await setupActor(c, policy);
  if (!who) return policy ? notFound(c) : c.html(<UnlockForm error="Your set-up session has expired; enter the token again." />, 401);
  // The gate checked CSRF for admins it let in; a grant holder's form token is checked here.
  if (!c.get("actor")) {
    const refused = await checkCsrf(c, teamOrigin(c.var.config, c.req.url), who.csrf);
    if (refused) return refused;
  }
  const form = await c.req.formData();
  const field = (k: string) => {
    const v = form.get(k);
    return typeof v === "string" ? v.trim() : "";
  };
  const body =
    field("mode") === "emails"
      ? { emails: field("emails").split(/[\s,;]+/).filter(Boolean) }
      : { scim_group: { identity_provider_id: field("identity_provider_id"), id: field("group_id") } };
  let saved: Policy;
  try {
    saved = await saveDashboardPolicy(c.env.DB, who.actor, body);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    return c.html(await policyForm(c, who.csrf, policy, e.message), e.status as 400);
  }
  if (!c.get("actor")) c.header("set-cookie", clearCookie(SETUP_COOKIE, SETUP_PATH));
  return c.html(
    <Layout title="Dashboard policy saved" current="/setup" who={c.get("adminEmail")}>
      <p class="notice" role="status" data-testid="setup-saved">
        Saved. From now on the dashboard is for: {saved.include.map(describeRule).join(", ")}.
      </p>
      <p>
        <a href="/dashboard/">Sign in to the dashboard</a> with an account this policy allows.
      </p>
    </Layout>,
  );
});

function PolicyView({ c, policy }: { c: C; policy: Policy }) {
  return (
    <Layout title="Dashboard access" current="/setup" who={c.get("adminEmail")}>
      <p>The dashboard is for: <span data-testid="setup-current">{policy.include.map(describeRule).join(", ")}</span></p>
    </Layout>
  );
}

/** The policy form: a SCIM group of one connection (searched on the server, at most 50 shown), or emails. */
async function policyForm(c: C, csrf: string, policy: Policy | null, error?: string) {
  const idps = await listIdentityProviders(database(c.env));
  const chosen = idps.find((i) => i.id === c.req.query("idp")) ?? idps[0];
  const search = (c.req.query("q") ?? "").slice(0, 200);
  let groups: { cf_resource_id: unknown; display_name: unknown }[] = [];
  let total = 0;
  if (chosen) {
    const url = new URL("https://setup.invalid/");
    url.searchParams.set("per_page", String(GROUP_PICKER_LIMIT));
    if (search) url.searchParams.set("search", search);
    const page = await listScimGroups(c.env.DB, chosen.id, url);
    groups = page.result;
    total = page.result_info.total_count;
  }
  return (
    <Layout title="Who may use the dashboard" current="/setup" who={c.get("adminEmail")}>
      {policy ? (
        <p>
          Currently: <span data-testid="setup-current">{policy.include.map(describeRule).join(", ")}</span>
        </p>
      ) : (
        <p>Choose the administrators: the members of one SCIM group, or a list of email addresses. They sign in through their IdP.</p>
      )}
      {error ? <p class="error" role="alert" data-testid="setup-error">{error}</p> : null}
      <h2>Members of a SCIM group</h2>
      {chosen ? (
        <>
          <form method="get" action={SETUP_PATH} role="search">
            <label>
              Connection{" "}
              <select name="idp" data-testid="setup-idp">
                {idps.map((i) => (
                  <option value={i.id} selected={i.id === chosen.id}>{`${i.name} (${i.type})`}</option>
                ))}
              </select>
            </label>
            <label>
              Group name starts with <input type="search" name="q" value={search} data-testid="setup-group-search" />
            </label>
            <button type="submit" data-testid="setup-group-find">Find groups</button>
          </form>
          <form method="post" action={SETUP_PATH}>
            <Csrf token={csrf} />
            <input type="hidden" name="mode" value="group" />
            <input type="hidden" name="identity_provider_id" value={chosen.id} />
            <label>
              Group{" "}
              <select name="group_id" required data-testid="setup-group">
                {groups.map((g) => (
                  <option value={String(g.cf_resource_id)}>{String(g.display_name)}</option>
                ))}
              </select>
            </label>
            <p class="muted" data-testid="setup-group-count">
              {total > groups.length ? `Showing ${groups.length} of ${total} groups; narrow the search to find others.` : `${total} group(s).`}
            </p>
            <button type="submit" data-testid="setup-save-group">Allow this group</button>
          </form>
        </>
      ) : (
        <p class="muted">No IdP connection yet: use email addresses, or create a connection with the API first.</p>
      )}
      <h2>Email addresses</h2>
      <form method="post" action={SETUP_PATH}>
        <Csrf token={csrf} />
        <input type="hidden" name="mode" value="emails" />
        <label>
          One address per line <textarea name="emails" rows={4} cols={40} required data-testid="setup-emails"></textarea>
        </label>
        <button type="submit" data-testid="setup-save-emails">Allow these addresses</button>
      </form>
    </Layout>
  );
}
