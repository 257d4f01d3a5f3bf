// IdP connections: list, create (the SCIM endpoint and secret shown once, with Entra ID and Okta
// set-up steps), settings, secret rotation, deletion, and the last sync from the provisioning log.
// Every action calls the service the /api/v1/access/identity_providers routes call.
import { Hono, type Context } from "hono";
import { baseUrlFor } from "../../config";
import { database, type IdentityProviderRow } from "../../db";
import { scimSyncStatus } from "../../admin/directory-search";
import { createIdentityProvider, deleteIdentityProvider, getIdentityProvider, listIdentityProviders, renderIdentityProvider, rotateScimSecret, updateIdentityProvider } from "../../admin/identity-providers";
import type { DashboardEnv } from "../context";
import { Csrf, Layout } from "../layout";
import { ApiError } from "../../http/api-error";
import { OidcFields, oidcConfigFromForm, oidcValues, submittedValues } from "./connection-oidc";
import { Copyable, errorPage, formFields } from "./directory-ui";

export const connectionsPage = new Hono<DashboardEnv>();

const TYPES: [string, string][] = [
  ["azureAD", "Microsoft Entra ID"],
  ["okta", "Okta"],
  ["oidc", "Generic OIDC"],
];
const BEHAVIORS: [string, string][] = [
  ["automatic", "Automatic: apply changes to live sessions"],
  ["reauth", "Re-authenticate: end sessions on change"],
  ["no_action", "No action: apply at next login"],
];
const typeLabel = (t: string) => TYPES.find(([v]) => v === t)?.[1] ?? t;
const here = "/connections";

/** The SCIM endpoint and its secret, shown once, with each IdP's set-up steps. */
function SecretPanel({ baseUrl, secret }: { baseUrl: string; secret: string }) {
  return (
    <section aria-labelledby="scim-secret" data-testid="scim-secret-panel">
      <h2 id="scim-secret">SCIM endpoint and secret</h2>
      <p class="notice" role="status">
        Copy the secret now: it is stored only as a hash and will not be shown again. Rotate it if it is lost.
      </p>
      <h3>SCIM base URL</h3>
      <Copyable id="scim-base-url" value={baseUrl} testid="scim-base-url" />
      <h3>Secret</h3>
      <Copyable id="scim-secret-value" value={secret} testid="scim-secret" />
      <h3>Microsoft Entra ID</h3>
      <ol>
        <li>Entra admin center → Enterprise applications → your application → Provisioning → set Provisioning Mode to Automatic.</li>
        <li>Under Admin Credentials, paste the SCIM base URL as <strong>Tenant URL</strong> and the secret as <strong>Secret Token</strong>; select Test Connection, then Save.</li>
        <li>Assign users and groups to the application (Users and groups), and set Provisioning Status to On.</li>
      </ol>
      <h3>Okta</h3>
      <ol>
        <li>Applications → your application → General → App Settings → Edit: choose SCIM provisioning, Save.</li>
        <li>Provisioning → Integration → Edit: paste the SCIM base URL as <strong>SCIM connector base URL</strong>, set Unique identifier field for users to <code>userName</code>, tick Push New Users, Push Profile Updates and Push Groups.</li>
        <li>Set Authentication Mode to <strong>HTTP Header</strong> and paste the secret as the Authorization Bearer token; Test Connector Configuration, then Save.</li>
        <li>Provisioning → To App → Edit: enable Create Users, Update User Attributes and Deactivate Users. Assign people, and push groups from Push Groups.</li>
      </ol>
    </section>
  );
}

function ScimSettings({ row, csrf }: { row?: IdentityProviderRow; csrf: string }) {
  return (
    <fieldset>
      <legend>SCIM provisioning</legend>
      <input type="hidden" name="csrf" value={csrf} />
      <label>
        <input type="checkbox" name="enabled" data-testid="scim-enabled" checked={row ? row.scimEnabled : true} /> Accept SCIM requests
      </label>
      <label>
        <input type="checkbox" name="user_deprovision" data-testid="user-deprovision" checked={row ? row.userDeprovision : true} /> Deprovision: a deactivated or deleted user loses every session (<code>user_deprovision</code>)
      </label>
      <label>
        <input type="checkbox" name="seat_deprovision" data-testid="seat-deprovision" checked={row ? row.seatDeprovision : false} /> A deactivated user gives back their seat (<code>seat_deprovision</code>; needs deprovisioning)
      </label>
      <label>
        Identity update behavior{" "}
        <select name="identity_update_behavior" data-testid="identity-update-behavior">
          {BEHAVIORS.map(([v, l]) => (
            <option value={v} selected={(row?.identityUpdateBehavior ?? "automatic") === v}>
              {l}
            </option>
          ))}
        </select>
      </label>
    </fieldset>
  );
}

const scimConfig = (f: Record<string, string>) => ({
  enabled: f.enabled === "on",
  user_deprovision: f.user_deprovision === "on",
  seat_deprovision: f.seat_deprovision === "on",
  identity_update_behavior: f.identity_update_behavior,
});

/** A refused submission (an ApiError 400) shown on the form it came from, with the values typed (never the secret). */
interface Refusal {
  error: string;
  values: Record<string, string>;
}

/** The ApiError's message for a 400, to show on the form; rethrows anything else (404s get errorPage). */
function refusalOf(error: unknown, f: Record<string, string>): Refusal {
  if (error instanceof ApiError && error.status === 400) return { error: error.message, values: f };
  throw error;
}

async function listPage(c: Context<DashboardEnv>, refused?: Refusal) {
  const rows = await listIdentityProviders(database(c.env));
  const v = refused?.values;
  return c.html(
    <Layout title="IdP connections" current={here} who={c.var.adminEmail}>
      <table data-testid="connections-table">
        <caption class="muted">{rows.length} connection(s)</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Type</th>
            <th scope="col">SCIM</th>
            <th scope="col">Created</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr>
              <th scope="row">
                <a href={`/dashboard/connections/${r.id}`} data-testid="connection-link">{r.name}</a>
              </th>
              <td>{typeLabel(r.type)}</td>
              <td>{r.scimEnabled ? "enabled" : "disabled"}</td>
              <td>{r.createdAt}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2 id="add-connection">Add a connection</h2>
      {refused ? (
        <p class="error" role="alert" data-testid="error">
          {refused.error}
        </p>
      ) : null}
      <form method="post" action="/dashboard/connections" data-testid="connection-create-form" aria-labelledby="add-connection">
        <label>
          Name <input name="name" required maxlength={200} value={v?.name ?? ""} data-testid="connection-name" />
        </label>
        <label>
          Type{" "}
          <select name="type" data-testid="connection-type">
            {TYPES.map(([value, l]) => (
              <option value={value} selected={v?.type === value}>
                {l}
              </option>
            ))}
          </select>
        </label>
        <ScimSettings csrf={c.var.csrf} />
        <OidcFields values={v ? submittedValues(v) : undefined} />
        <button type="submit" data-testid="connection-create">Create connection</button>
      </form>
    </Layout>,
    refused ? 400 : 200,
  );
}

connectionsPage.get("/", (c) => listPage(c));

connectionsPage.post("/", async (c) => {
  const f = await formFields(c);
  try {
    const config = oidcConfigFromForm(f.type ?? "", f);
    const { row, secret } = await createIdentityProvider(c.env, c.var.actor, { name: f.name, type: f.type, config, scim_config: scimConfig(f) });
    const view = renderIdentityProvider(row, baseUrlFor(c.var.config, c.req.url), secret);
    c.header("cache-control", "no-store");
    return c.html(
      <Layout title={`Connection created: ${row.name}`} current={here} who={c.var.adminEmail}>
        <SecretPanel baseUrl={view.scim_config.scim_base_url} secret={secret} />
        <p>
          <a href={`/dashboard/connections/${row.id}`} data-testid="connection-detail-link">Continue to the connection</a>
        </p>
      </Layout>,
      201,
    );
  } catch (error) {
    return listPage(c, refusalOf(error, f));
  }
});

async function detailPage(c: Context<DashboardEnv>, refused?: Refusal) {
  try {
    const row = await getIdentityProvider(database(c.env), c.req.param("id")!);
    const view = renderIdentityProvider(row, baseUrlFor(c.var.config, c.req.url));
    const status = await scimSyncStatus(c.env.DB, row.id);
    const action = `/dashboard/connections/${row.id}`;
    return c.html(
      <Layout title={row.name} current={here} who={c.var.adminEmail}>
        {c.req.query("saved") ? <p class="notice" role="status">Saved.</p> : null}
        <dl>
          <dt>Type</dt>
          <dd>{typeLabel(row.type)}</dd>
          <dt>SCIM base URL</dt>
          <dd>
            <Copyable id="scim-base-url" value={view.scim_config.scim_base_url} testid="scim-base-url" />
          </dd>
          <dt>Last sync</dt>
          <dd data-testid="last-sync">{status.last_sync_at ?? "never"}</dd>
          <dt>Failed requests (last 24 hours)</dt>
          <dd data-testid="error-count">
            <a href={`/dashboard/logs/scim?idp_id=${row.id}&status=FAILURE`}>{status.errors_24h}</a>
          </dd>
        </dl>
        <p>
          <a href={`/dashboard/users?idp_id=${row.id}`}>Users</a> · <a href={`/dashboard/groups?idp_id=${row.id}`}>Groups</a>
        </p>
        <h2 id="oidc-sign-in">OIDC sign-in</h2>
        {refused ? (
          <p class="error" role="alert" data-testid="error">
            {refused.error}
          </p>
        ) : null}
        <form method="post" action={`${action}/oidc`} data-testid="connection-oidc-form" aria-labelledby="oidc-sign-in">
          <Csrf token={c.var.csrf} />
          <OidcFields type={row.type} values={refused ? submittedValues(refused.values) : oidcValues(row)} secretSet={row.clientSecretCiphertext !== null} />
          <button type="submit" data-testid="connection-oidc-save">Save sign-in settings</button>
        </form>
        <h2>Settings</h2>
        <form method="post" action={`${action}/settings`} data-testid="connection-settings-form">
          <ScimSettings row={row} csrf={c.var.csrf} />
          <button type="submit" data-testid="connection-save">Save</button>
        </form>
        <h2>SCIM secret</h2>
        <form method="post" action={`${action}/rotate`}>
          <Csrf token={c.var.csrf} />
          <p>A new secret replaces the current one at once: update the IdP with it.</p>
          <button type="submit" data-testid="rotate-secret">Rotate secret</button>
        </form>
        <h2>Delete</h2>
        <form method="post" action={`${action}/delete`}>
          <Csrf token={c.var.csrf} />
          <label>
            <input type="checkbox" name="confirm" required data-testid="delete-confirm" /> Delete this connection, its users and groups, and end their sessions
          </label>
          <button type="submit" data-testid="delete-connection">Delete connection</button>
        </form>
      </Layout>,
      refused ? 400 : 200,
    );
  } catch (error) {
    return errorPage(c, error, "Connection", here);
  }
}

connectionsPage.get("/:id", (c) => detailPage(c));

connectionsPage.post("/:id/oidc", async (c) => {
  const f = await formFields(c);
  try {
    const current = await getIdentityProvider(database(c.env), c.req.param("id"));
    const config = oidcConfigFromForm(current.type, f, JSON.parse(current.config) as Record<string, unknown>);
    await updateIdentityProvider(c.env, c.var.actor, current.id, { config });
    return c.redirect(`/dashboard/connections/${current.id}?saved=1`, 303);
  } catch (error) {
    if (error instanceof ApiError && error.status === 400) return detailPage(c, refusalOf(error, f));
    return errorPage(c, error, "Could not save", here, <a href={`/dashboard/connections/${c.req.param("id")}`}>Back</a>);
  }
});

connectionsPage.post("/:id/settings", async (c) => {
  const f = await formFields(c);
  try {
    await updateIdentityProvider(c.env, c.var.actor, c.req.param("id"), { scim_config: scimConfig(f) });
    return c.redirect(`/dashboard/connections/${c.req.param("id")}?saved=1`, 303);
  } catch (error) {
    return errorPage(c, error, "Could not save", here, <a href={`/dashboard/connections/${c.req.param("id")}`}>Back</a>);
  }
});

connectionsPage.post("/:id/rotate", async (c) => {
  try {
    const { row, secret } = await rotateScimSecret(database(c.env), c.var.actor, c.req.param("id"));
    const view = renderIdentityProvider(row, baseUrlFor(c.var.config, c.req.url), secret);
    c.header("cache-control", "no-store");
    return c.html(
      <Layout title={`New secret: ${row.name}`} current={here} who={c.var.adminEmail}>
        <SecretPanel baseUrl={view.scim_config.scim_base_url} secret={secret} />
        <p>
          <a href={`/dashboard/connections/${row.id}`}>Back to the connection</a>
        </p>
      </Layout>,
    );
  } catch (error) {
    return errorPage(c, error, "Could not rotate the secret", here);
  }
});

connectionsPage.post("/:id/delete", async (c) => {
  const f = await formFields(c);
  const back = <a href={`/dashboard/connections/${c.req.param("id")}`}>Back</a>;
  if (f.confirm !== "on") return c.html(<Layout title="Not deleted" current={here} who={c.var.adminEmail}><p class="error" role="alert">Tick the confirmation to delete.</p>{back}</Layout>, 400);
  try {
    const { usersWithSessions, sessions } = await deleteIdentityProvider(c.env, c.var.actor, c.req.param("id"));
    return c.html(
      <Layout title="Connection deleted" current={here} who={c.var.adminEmail}>
        <p class="notice" role="status" data-testid="deleted">
          Deleted. Sessions of {usersWithSessions} user(s) {sessions === "done" ? "are revoked" : "are being revoked by the queue"}.
        </p>
        <a href="/dashboard/connections">All connections</a>
      </Layout>,
    );
  } catch (error) {
    return errorPage(c, error, "Could not delete", here, back);
  }
});
