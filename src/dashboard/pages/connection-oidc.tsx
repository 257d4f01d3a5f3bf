// The "OIDC sign-in" part of the connection pages: the fields that make a connection usable for
// Access login (src/access/oidc/config.ts documents them), and their translation into the `config`
// body that createIdentityProvider / updateIdentityProvider validate per type (with discovery for
// an `issuer_url`). `client_secret` is write-only: no page ever renders it back.
import type { IdentityProviderRow } from "../../db";

type Type = "azureAD" | "okta" | "oidc";

/** The fields only one type uses (the common ones are client_id, client_secret, scopes, pkce_enabled). */
const TYPE_FIELDS: Record<Type, { name: string; label: string; hint: string; optional?: boolean }[]> = {
  oidc: [{ name: "issuer_url", label: "Issuer URL", hint: "e.g. https://idp.example.com; the endpoints are discovered from its /.well-known/openid-configuration when you save" }],
  azureAD: [{ name: "directory_id", label: "Directory (tenant) ID", hint: "the tenant GUID, or one of its verified domains" }],
  okta: [
    { name: "okta_account", label: "Okta account URL", hint: "e.g. https://dev-123456.okta.com" },
    { name: "authorization_server_id", label: "Authorization server ID", hint: "a custom authorization server (e.g. default); empty: the org authorization server", optional: true },
  ],
};
const TYPE_NAMES: Record<Type, string> = { azureAD: "Microsoft Entra ID", okta: "Okta", oidc: "Generic OIDC" };
const isType = (t: string): t is Type => t in TYPE_FIELDS;

/** Values to put back in the form: from the stored config, or from a refused submission (never the secret). */
export type OidcValues = Record<string, string | boolean | undefined>;

/** The form values of a stored config (scopes space-separated). */
export function oidcValues(row: IdentityProviderRow): OidcValues {
  const config = JSON.parse(row.config) as Record<string, unknown>;
  const values: OidcValues = { pkce_enabled: config.pkce_enabled !== false };
  for (const name of ["client_id", "issuer_url", "directory_id", "okta_account", "authorization_server_id"]) {
    if (typeof config[name] === "string") values[name] = config[name] as string;
  }
  // For azureAD, issuer_url is derived from directory_id at save time: not a field of the form.
  if (row.type === "azureAD") delete values.issuer_url;
  if (Array.isArray(config.scopes)) values.scopes = config.scopes.join(" ");
  return values;
}

/** A submitted form's values, minus the secret (to re-render the form after a 400). */
export function submittedValues(f: Record<string, string>): OidcValues {
  const { client_secret: _secret, csrf: _csrf, ...rest } = f;
  return { ...rest, pkce_enabled: f.pkce_enabled === "on" };
}

/** Stored fields the form does not edit but a save must not drop (set through the API). */
const KEPT = ["claims", "email_claim_name"] as const;

/**
 * The `config` body for a connection of `type` from the form `f`: the common fields and `type`'s
 * own (other types' fields are ignored). Empty fields are left out, so an empty client_secret keeps
 * the stored one (updateIdentityProvider keeps it when none is given) and an empty client_id makes
 * the connection SCIM-only. `stored` (on the detail page) carries over `claims` and
 * `email_claim_name`, and, while `issuer_url` is unchanged, the endpoints found by discovery (a new
 * issuer is discovered again rather than keeping the old issuer's endpoints, which would win).
 */
export function oidcConfigFromForm(type: string, f: Record<string, string>, stored?: Record<string, unknown>): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  for (const name of KEPT) if (stored?.[name] !== undefined) config[name] = stored[name];
  const text = (name: string) => (f[name] ?? "").trim();
  if (text("client_id")) config.client_id = text("client_id");
  // The secret is taken as typed (not trimmed): silently altering a credential would only show up
  // later as a failed login at the IdP's token endpoint.
  if (f.client_secret) config.client_secret = f.client_secret;
  const scopes = text("scopes").split(/\s+/).filter(Boolean);
  if (scopes.length > 0) config.scopes = scopes;
  if (config.client_id !== undefined) config.pkce_enabled = f.pkce_enabled === "on";
  if (isType(type)) for (const { name } of TYPE_FIELDS[type]) if (text(name)) config[name] = text(name);
  if (type === "oidc" && stored && config.issuer_url !== undefined && config.issuer_url === stored.issuer_url) {
    for (const name of ["auth_url", "token_url", "certs_url"]) if (stored[name] !== undefined) config[name] = stored[name];
  }
  return config;
}

function Field({ name, label, hint, value, optional }: { name: string; label: string; hint: string; value?: string | boolean; optional?: boolean }) {
  return (
    <p>
      <label>
        {label}
        {optional ? " (optional)" : ""} <input name={name} value={typeof value === "string" ? value : ""} size={48} maxlength={2048} data-testid={`oidc-${name}`} />
      </label>{" "}
      <small class="muted">{hint}</small>
    </p>
  );
}

/**
 * The OIDC sign-in fields. On the create form (`type` undefined) every type's own fields are shown,
 * grouped per type, and a few lines of script hide (and disable) the groups of the types not chosen;
 * without script the groups stay visible and the server ignores those of other types. On the detail
 * page (`type` given) only that type's fields are shown, and `secretSet` says whether a secret is stored.
 */
export function OidcFields({ type, values = { pkce_enabled: true }, secretSet }: { type?: string; values?: OidcValues; secretSet?: boolean }) {
  const types = type === undefined ? (Object.keys(TYPE_FIELDS) as Type[]) : isType(type) ? [type] : [];
  return (
    <fieldset data-testid="oidc-fields">
      <legend>OIDC sign-in for Access login (leave Client ID empty for a SCIM-only connection)</legend>
      <Field name="client_id" label="Client ID" hint="the application (client) ID registered at the IdP" value={values.client_id} />
      <p>
        <label>
          Client secret <input type="password" name="client_secret" autocomplete="new-password" maxlength={2048} data-testid="oidc-client_secret" aria-describedby="client-secret-note" />
        </label>{" "}
        <small class="muted" id="client-secret-note" data-testid="oidc-secret-state">
          {secretSet === undefined
            ? "write-only: stored encrypted, never shown again"
            : secretSet
              ? "A secret is stored (never shown). Leave empty to keep it; type a new one to replace it."
              : "No secret is stored. Leave empty for none."}
        </small>
      </p>
      <Field name="scopes" label="Scopes" hint="space-separated; empty: openid email profile" value={values.scopes} optional />
      <p>
        <label>
          <input type="checkbox" name="pkce_enabled" checked={values.pkce_enabled !== false} data-testid="oidc-pkce_enabled" /> Use PKCE (S256)
        </label>
      </p>
      {type === undefined ? <p class="muted">Each type below has its own fields; the fields of other types than the one chosen above are ignored.</p> : null}
      {types.map((t) => (
        <fieldset data-idp-type={t} data-testid={`oidc-fields-${t}`}>
          <legend>{TYPE_NAMES[t]} only</legend>
          {TYPE_FIELDS[t].map((field) => (
            <Field {...field} value={values[field.name]} />
          ))}
        </fieldset>
      ))}
      {type === undefined ? <script dangerouslySetInnerHTML={{ __html: SHOW_CHOSEN_TYPE_JS }} /> : null}
    </fieldset>
  );
}

// Shows only the chosen type's group (hidden groups are also disabled, so they are not submitted).
const SHOW_CHOSEN_TYPE_JS = `(() => {
  const s = document.querySelector('select[name="type"]');
  if (!s) return;
  const sync = () => document.querySelectorAll('fieldset[data-idp-type]').forEach((f) => { const on = f.dataset.idpType === s.value; f.hidden = !on; f.disabled = !on; });
  s.addEventListener('change', sync);
  sync();
})();`;
