#!/usr/bin/env node
// `npm run --silent idp -- <command>`: manage IdP connections on a running server through the
// admin API (POST/GET/DELETE /api/v1/access/identity_providers…). Non-interactive: with --json,
// stdout carries exactly one JSON value and nothing else; errors go to stderr with exit code 1
// (2 for usage errors).

import path from "node:path";
import { parseArgs } from "node:util";
import { projectRoot, readDotVars } from "./lib/wrangler-dev.mjs";

const DEFAULT_BASE_URL = "http://127.0.0.1:8787";
const TYPES = ["azureAD", "okta", "oidc"];
const BEHAVIORS = ["automatic", "reauth", "no_action"];

const USAGE = `Usage: npm run --silent idp -- <command> [options]

Commands:
  create --name <name> --type <azureAD|okta|oidc>   create a connection with SCIM enabled;
                                                    prints its id, SCIM base URL and secret (once)
      [--user-deprovision true|false]                 default true: deactivation revokes sessions
      [--seat-deprovision true|false]                 default false (requires user-deprovision)
      [--identity-update-behavior automatic|reauth|no_action]   default automatic
      [--config '<json>']                             IdP settings (e.g. OIDC client), default {}
  list                                              list connections (no secrets)
  get <id>                                          show one connection (no secret)
  rotate-secret <id>                                new SCIM secret (the old one stops working)
  delete <id>                                       delete a connection
  access-demo [--email <email>]                     against \`npm run dev\`: an oidc connection "Development IdP"
                                                    (the dev IdP at <base>/__dev/idp, SCIM on), one SCIM user
                                                    (default ada@example.com), an app on localhost:<port>
                                                    whose origin is <base>/__dev/echo, and an allow policy for
                                                    the user's email domain; prints how to log in. Re-runnable:
                                                    reuses what exists (and rotates that connection's SCIM secret)

Options:
  --json              machine-readable output: exactly one JSON value on stdout
                      (create: {"id","scim_base_url","secret"}; rotate-secret: {"id","secret"};
                      access-demo: ids, SCIM secret and URLs)
  --base-url <url>    server, default $ZT_BASE_URL or ${DEFAULT_BASE_URL}
  --token <token>     admin token, default $ZT_ADMIN_TOKEN or ADMIN_TOKEN from .dev.vars
  -h, --help          this help
`;

class UsageError extends Error {}
class ApiError extends Error {}

const OPTIONS = {
  name: { type: "string" },
  type: { type: "string" },
  json: { type: "boolean", default: false },
  "user-deprovision": { type: "string" },
  "seat-deprovision": { type: "string" },
  "identity-update-behavior": { type: "string" },
  config: { type: "string" },
  email: { type: "string" },
  "base-url": { type: "string" },
  token: { type: "string" },
  help: { type: "boolean", short: "h", default: false },
};

function parseBool(flag, value, fallback) {
  if (value === undefined) return fallback;
  if (value === "true") return true;
  if (value === "false") return false;
  throw new UsageError(`--${flag} must be true or false, got ${JSON.stringify(value)}`);
}

function resolveToken(flag) {
  if (flag) return flag;
  if (process.env.ZT_ADMIN_TOKEN) return process.env.ZT_ADMIN_TOKEN;
  const devVars = path.join(projectRoot, ".dev.vars");
  const token = readDotVars(devVars).ADMIN_TOKEN;
  if (token) return token;
  throw new UsageError(
    `no admin token: pass --token, set ZT_ADMIN_TOKEN, or run \`npm run dev\` once (it writes ADMIN_TOKEN to ${devVars})`,
  );
}

/** Calls the admin API; returns `result` of a Cloudflare-style envelope or throws ApiError. */
async function api(ctx, method, pathname, body) {
  const url = `${ctx.baseUrl}/api/v1${pathname}`;
  let res;
  try {
    res = await fetch(url, {
      method,
      headers: {
        authorization: `Bearer ${ctx.token}`,
        accept: "application/json",
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    const reason = err.cause?.code ?? err.cause?.message ?? err.message;
    throw new ApiError(`cannot reach ${ctx.baseUrl} (${reason}). Is the server running (\`npm run dev\`)? Use --base-url to point elsewhere.`);
  }
  const text = await res.text();
  let payload;
  try {
    payload = text ? JSON.parse(text) : undefined;
  } catch {
    payload = undefined;
  }
  const envelope = payload && typeof payload === "object" && "success" in payload;
  if (!res.ok || (envelope && payload.success === false)) {
    const errors = envelope && Array.isArray(payload.errors) ? payload.errors : [];
    const detail = errors.length
      ? errors.map((e) => `${e.message ?? "error"}${e.code !== undefined ? ` (code ${e.code})` : ""}`).join("; ")
      : text.trim().slice(0, 300) || res.statusText;
    let hint = "";
    if (res.status === 401 || res.status === 403) {
      hint = "\nhint: the admin token was refused; check --token / ZT_ADMIN_TOKEN / ADMIN_TOKEN in .dev.vars (the one the server started with).";
    } else if (res.status === 404 && !envelope) {
      hint = `\nhint: ${ctx.baseUrl} has no admin API at ${url}; is --base-url right?`;
    }
    throw new ApiError(`${method} ${url} → HTTP ${res.status}: ${detail}${hint}`);
  }
  if (!envelope) throw new ApiError(`${method} ${url} → HTTP ${res.status}: not an admin API response: ${text.slice(0, 300)}`);
  return payload.result;
}

function out(value) {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function requireId(positionals, command) {
  const id = positionals[1];
  if (!id) throw new UsageError(`${command} needs an <id> (see \`npm run idp -- list\`)`);
  if (positionals.length > 2) throw new UsageError(`unexpected arguments: ${positionals.slice(2).join(" ")}`);
  return encodeURIComponent(id);
}

async function create(ctx, values) {
  if (!values.name) throw new UsageError("create needs --name <name>");
  if (!values.type) throw new UsageError(`create needs --type <${TYPES.join("|")}>`);
  if (!TYPES.includes(values.type)) throw new UsageError(`--type must be one of ${TYPES.join(", ")}`);
  const userDeprovision = parseBool("user-deprovision", values["user-deprovision"], true);
  const seatDeprovision = parseBool("seat-deprovision", values["seat-deprovision"], false);
  if (seatDeprovision && !userDeprovision) throw new UsageError("--seat-deprovision true requires --user-deprovision true");
  const behavior = values["identity-update-behavior"] ?? "automatic";
  if (!BEHAVIORS.includes(behavior)) throw new UsageError(`--identity-update-behavior must be one of ${BEHAVIORS.join(", ")}`);
  let config = {};
  if (values.config !== undefined) {
    try {
      config = JSON.parse(values.config);
    } catch {
      throw new UsageError("--config must be a JSON object");
    }
    if (!config || typeof config !== "object" || Array.isArray(config)) throw new UsageError("--config must be a JSON object");
  }

  const idp = await api(ctx, "POST", "/access/identity_providers", {
    name: values.name,
    type: values.type,
    config,
    scim_config: {
      enabled: true,
      user_deprovision: userDeprovision,
      seat_deprovision: seatDeprovision,
      identity_update_behavior: behavior,
    },
  });
  const scim = idp?.scim_config ?? {};
  if (!idp?.id || !scim.scim_base_url || !scim.secret) {
    throw new ApiError(`unexpected create response (missing id, scim_config.scim_base_url or scim_config.secret): ${JSON.stringify(idp)}`);
  }
  if (values.json) return out({ id: idp.id, scim_base_url: scim.scim_base_url, secret: scim.secret });
  console.log(
    [
      `Created IdP connection "${idp.name}" (${idp.type})`,
      `  id                 ${idp.id}`,
      `  SCIM base URL      ${scim.scim_base_url}`,
      `  SCIM secret        ${scim.secret}`,
      `  deprovisioning     user: ${scim.user_deprovision}, seat: ${scim.seat_deprovision}, identity updates: ${scim.identity_update_behavior}`,
      "",
      "The secret is shown only this once. Paste both into the IdP:",
      "  Entra ID: Provisioning → Tenant URL = SCIM base URL, Secret Token = SCIM secret",
      "  Okta:     Provisioning → SCIM connector base URL = SCIM base URL, HTTP Header (Bearer) = SCIM secret",
      `Lost it? npm run idp -- rotate-secret ${idp.id}`,
    ].join("\n"),
  );
}

async function list(ctx, values) {
  const idps = await api(ctx, "GET", "/access/identity_providers?per_page=1000");
  if (values.json) return out(idps);
  if (!Array.isArray(idps) || idps.length === 0) {
    console.log("No IdP connections yet. Create one: npm run --silent idp -- create --name <name> --type azureAD --json");
    return;
  }
  const rows = idps.map((i) => [i.id, i.name, i.type, i.scim_config?.enabled ? "on" : "off", i.scim_config?.scim_base_url ?? ""]);
  const head = ["ID", "NAME", "TYPE", "SCIM", "SCIM BASE URL"];
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => String(r[c]).length)));
  for (const r of [head, ...rows]) console.log(r.map((v, c) => String(v).padEnd(widths[c])).join("  ").trimEnd());
}

async function get(ctx, values, positionals) {
  const idp = await api(ctx, "GET", `/access/identity_providers/${requireId(positionals, "get")}`);
  if (values.json) return out(idp);
  console.log(JSON.stringify(idp, null, 2));
}

async function rotateSecret(ctx, values, positionals) {
  const id = requireId(positionals, "rotate-secret");
  const idp = await api(ctx, "POST", `/access/identity_providers/${id}/refresh_scim_secret`);
  const secret = idp?.scim_config?.secret;
  if (!secret) throw new ApiError(`unexpected refresh_scim_secret response (no scim_config.secret): ${JSON.stringify(idp)}`);
  if (values.json) return out({ id: idp.id ?? decodeURIComponent(id), secret });
  console.error(`New SCIM secret for ${idp.id ?? decodeURIComponent(id)} (the previous one no longer works; update the IdP):`);
  console.log(secret);
}

async function remove(ctx, values, positionals) {
  const id = requireId(positionals, "delete");
  const result = await api(ctx, "DELETE", `/access/identity_providers/${id}`);
  const deleted = result?.id ?? decodeURIComponent(id);
  if (values.json) return out({ id: deleted, deleted: true });
  console.log(`Deleted IdP connection ${deleted}`);
}

// ---- access-demo: everything a person needs to watch an Access login under `npm run dev`.

const DEMO_IDP_NAME = "Development IdP";
const SCIM_CORE = "urn:ietf:params:scim:schemas:core:2.0";

/** One SCIM call with the connection's secret; returns { status, body }. */
async function scimCall(base, secret, method, pathname, body) {
  let res;
  try {
    res = await fetch(`${base}${pathname}`, {
      method,
      headers: { authorization: `Bearer ${secret}`, accept: "application/scim+json", ...(body ? { "content-type": "application/scim+json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    throw new ApiError(`cannot reach ${base} (${err.cause?.code ?? err.message})`);
  }
  const text = await res.text();
  let parsed;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed, text };
}

/** The demo user in the connection's directory, created (or reactivated) through SCIM. */
async function ensureScimUser(scimBase, secret, email) {
  const [local] = email.split("@");
  const user = {
    schemas: [`${SCIM_CORE}:User`],
    userName: email,
    displayName: local,
    name: { givenName: local },
    emails: [{ value: email, type: "work", primary: true }],
    active: true,
  };
  const created = await scimCall(scimBase, secret, "POST", "/Users", user);
  if (created.status === 201) return { id: created.body.id, created: true };
  if (created.status !== 409) throw new ApiError(`SCIM POST /Users → HTTP ${created.status}: ${created.text.slice(0, 300)}`);
  const found = await scimCall(scimBase, secret, "GET", `/Users?filter=${encodeURIComponent(`userName eq "${email}"`)}`);
  const existing = found.body?.Resources?.[0];
  if (found.status !== 200 || !existing?.id) throw new ApiError(`SCIM GET /Users?filter=userName eq "${email}" → HTTP ${found.status}: ${found.text.slice(0, 300)}`);
  if (existing.active !== true) {
    // A previous run's deprovisioning step deactivated it: reactivate, so the demo works again.
    const patched = await scimCall(scimBase, secret, "PATCH", `/Users/${encodeURIComponent(existing.id)}`, {
      schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
      Operations: [{ op: "replace", path: "active", value: true }],
    });
    if (patched.status !== 200 && patched.status !== 204) throw new ApiError(`SCIM PATCH active=true → HTTP ${patched.status}: ${patched.text.slice(0, 300)}`);
  }
  return { id: existing.id, created: false };
}

async function accessDemo(ctx, values, positionals) {
  if (positionals.length > 1) throw new UsageError(`unexpected arguments: ${positionals.slice(1).join(" ")}`);
  const email = (values.email ?? "ada@example.com").trim().toLowerCase();
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) throw new UsageError(`--email must be an email address, got ${JSON.stringify(values.email)}`);
  const domain = email.split("@")[1];
  const base = new URL(ctx.baseUrl);
  const issuer = `${ctx.baseUrl}/__dev/idp`;
  if (base.hostname !== "127.0.0.1") {
    throw new UsageError(`access-demo puts the demo app on localhost:<port>, so the team host must be 127.0.0.1 (npm run dev's default), got --base-url ${ctx.baseUrl}`);
  }

  // The dev IdP answers only under DEV_ROUTES=true (npm run dev): say so plainly rather than fail at discovery.
  let discovery;
  try {
    discovery = await fetch(`${issuer}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(30_000) });
  } catch (err) {
    throw new ApiError(`cannot reach ${ctx.baseUrl} (${err.cause?.code ?? err.message}). Is the server running (\`npm run dev\`)? Use --base-url to point elsewhere.`);
  }
  await discovery.arrayBuffer();
  if (discovery.status !== 200) throw new ApiError(`the development IdP is not served at ${issuer} (HTTP ${discovery.status}): access-demo needs \`npm run dev\` (DEV_ROUTES=true)`);

  // 1. The connection (reused by name; its SCIM secret is shown only at creation, so a reused one gets a new secret).
  const config = { client_id: "dev", client_secret: "dev", issuer_url: issuer };
  const scimConfig = { enabled: true, user_deprovision: true, seat_deprovision: false, identity_update_behavior: "automatic" };
  const idps = await api(ctx, "GET", "/access/identity_providers?per_page=1000");
  let idp = (Array.isArray(idps) ? idps : []).find((i) => i.name === DEMO_IDP_NAME && i.type === "oidc");
  let secret;
  if (idp) {
    await api(ctx, "PATCH", `/access/identity_providers/${encodeURIComponent(idp.id)}`, { config, scim_config: { enabled: true } });
    secret = (await api(ctx, "POST", `/access/identity_providers/${encodeURIComponent(idp.id)}/refresh_scim_secret`))?.scim_config?.secret;
  } else {
    idp = await api(ctx, "POST", "/access/identity_providers", { name: DEMO_IDP_NAME, type: "oidc", config, scim_config: scimConfig });
    secret = idp?.scim_config?.secret;
  }
  const scimBase = (idp?.scim_config?.scim_base_url ?? `${ctx.baseUrl}/populations/${idp.id}/scim/v2`).replace(/\/+$/, "");
  if (!idp?.id || !secret) throw new ApiError(`unexpected identity provider response: ${JSON.stringify(idp)}`);

  // 2. The user, through that connection's SCIM endpoint, as an IdP would push it.
  const user = await ensureScimUser(scimBase, secret, email);

  // 3. The app on localhost:<port>, origin = the echo. Not `app.localhost`: under `wrangler dev`,
  // miniflare answers every `/cdn-cgi/*` request whose Host is not localhost, 127.0.0.1 or [::1]
  // with 403 "Invalid Host header" (its DNS-rebinding guard), so an app host's
  // `/cdn-cgi/access/authorized` would never be reached. `localhost` is another host name than the
  // team host 127.0.0.1 (cookies are per host name), and browsers and curl resolve it to loopback.
  const appHost = `localhost${base.port ? `:${base.port}` : ""}`;
  const origin = `${ctx.baseUrl}/__dev/echo`;
  const apps = await api(ctx, "GET", "/access/apps?per_page=1000");
  let app = (Array.isArray(apps) ? apps : []).find((a) => a.domain === appHost);
  const appBody = { name: "Access demo", domain: appHost, type: "self_hosted", allowed_idps: [idp.id], session_duration: "24h", origin };
  app = app ? await api(ctx, "PUT", `/access/apps/${encodeURIComponent(app.id)}`, appBody) : await api(ctx, "POST", "/access/apps", appBody);
  if (!app?.id || !app?.aud) throw new ApiError(`unexpected app response: ${JSON.stringify(app)}`);

  // 4. The policy: allow the user's email domain.
  const policyName = `Allow ${domain}`;
  const policies = await api(ctx, "GET", `/access/apps/${encodeURIComponent(app.id)}/policies`);
  let policy = (Array.isArray(policies) ? policies : []).find((p) => p.name === policyName);
  policy ??= await api(ctx, "POST", `/access/apps/${encodeURIComponent(app.id)}/policies`, {
    name: policyName,
    decision: "allow",
    include: [{ email_domain: { domain } }],
  });

  const appUrl = `${base.protocol}//${appHost}/`;
  const result = {
    idp_id: idp.id,
    scim_base_url: scimBase,
    secret,
    user_id: user.id,
    email,
    app_id: app.id,
    aud: app.aud,
    policy_id: policy.id,
    app_host: appHost,
    app_url: appUrl,
    origin,
    team_url: ctx.baseUrl,
    idp_issuer: issuer,
    certs_url: `${ctx.baseUrl}/cdn-cgi/access/certs`,
    get_identity_url: `${appUrl}cdn-cgi/access/get-identity`,
    logout_url: `${appUrl}cdn-cgi/access/logout`,
  };
  if (values.json) return out(result);
  const q = (s) => `'${s.replaceAll("'", "'\\''")}'`;
  console.log(
    [
      `Access demo ready on ${ctx.baseUrl}`,
      `  connection   "${DEMO_IDP_NAME}" ${idp.id} (oidc → ${issuer}, SCIM on)`,
      `  SCIM         ${scimBase}`,
      `  SCIM secret  ${secret}   (shown once; rotated on every run of access-demo)`,
      `  user         ${email} ${user.id} (${user.created ? "created" : "already there, active"})`,
      `  app          "${app.name}" ${app.id} on ${appHost}, aud ${app.aud}`,
      `  origin       ${origin} (shows the headers the origin receives)`,
      `  policy       ${policyName} (allow, email_domain ${domain})`,
      "",
      "1. Open in a browser (Chrome or Firefox: they keep Secure cookies on http://localhost and http://127.0.0.1):",
      `     ${appUrl}`,
      `   You are sent to the team host (${ctx.baseUrl}/cdn-cgi/access/login/…), then to the development`,
      `   IdP's page: sign in as ${email}. You land on the echo origin, which shows the`,
      "   cf-access-jwt-assertion and cf-access-authenticated-user-email headers it received.",
      "   Origins verify that JWT with the keys at",
      `     ${ctx.baseUrl}/cdn-cgi/access/certs   (audience ${app.aud}, issuer ${ctx.baseUrl})`,
      "",
      "2. Without a browser, send the app's Host header to the dev server:",
      `     curl -si -H ${q(`Host: ${appHost}`)} ${ctx.baseUrl}/`,
      "   → 302 to the team host's login page. With a session, clients that are not browsers",
      "   send the app token as a `cf-access-token: <JWT>` header instead of the cookie.",
      "",
      `3. Who am I: ${appUrl}cdn-cgi/access/get-identity   (email, name, idp, SCIM groups)`,
      `   Log out:   ${appUrl}cdn-cgi/access/logout   (ends this login everywhere)`,
      "",
      "4. Deprovision the user the way Entra ID does; the very next request to the app is sent to login,",
      "   and signing in again is refused:",
      `     curl -s -X PATCH ${q(`${scimBase}/Users/${user.id}`)} \\`,
      `       -H ${q(`Authorization: Bearer ${secret}`)} -H 'Content-Type: application/scim+json' \\`,
      `       -d '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}'`,
      "   Running access-demo again reactivates the user.",
      "",
      "Docs: docs/access.md",
    ].join("\n"),
  );
}

const COMMANDS = { create, list, get, "rotate-secret": rotateSecret, delete: remove, "access-demo": accessDemo };

async function main() {
  let parsed;
  try {
    parsed = parseArgs({ args: process.argv.slice(2), options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(err.message);
  }
  const { values, positionals } = parsed;
  if (values.help || positionals.length === 0) {
    (values.help ? process.stdout : process.stderr).write(USAGE);
    process.exit(values.help ? 0 : 2);
  }
  const command = COMMANDS[positionals[0]];
  if (!command) throw new UsageError(`unknown command ${JSON.stringify(positionals[0])}`);
  if (["create", "list"].includes(positionals[0]) && positionals.length > 1) {
    throw new UsageError(`unexpected arguments: ${positionals.slice(1).join(" ")}`);
  }
  const baseUrl = (values["base-url"] ?? process.env.ZT_BASE_URL ?? DEFAULT_BASE_URL).replace(/\/+$/, "");
  if (!/^https?:\/\/[^/]+/.test(baseUrl)) throw new UsageError(`--base-url must be an http(s) URL, got ${baseUrl}`);
  const ctx = { baseUrl, token: resolveToken(values.token) };
  await command(ctx, values, positionals);
}

main().catch((err) => {
  if (err instanceof UsageError) {
    console.error(`idp: ${err.message}\n(run \`npm run idp -- --help\` for usage)`);
    process.exit(2);
  }
  console.error(`idp: ${err instanceof ApiError ? err.message : err.stack ?? err}`);
  process.exit(1);
});
