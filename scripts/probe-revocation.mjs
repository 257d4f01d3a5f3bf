#!/usr/bin/env node
// `npm run --silent probe:revocation -- --base-url <url> [--sessions N] [--clients C] [--via patch|put|delete]
//                                       [--transport cookie|header] --json`
//
// Measures what deprovisioning means for users, through the real Access path, against `npm run dev`
// (or any `wrangler dev` with DEV_ROUTES=true and PUBLIC_BASE_URL = its own URL, which
// scripts/lib/wrangler-dev.mjs sets by default):
// 1. starts a tiny origin on 127.0.0.1 (a free port) that verifies `Cf-Access-Jwt-Assertion` with
//    the team's /cdn-cgi/access/certs and answers `{path, email}`;
// 2. through the admin API, creates an `oidc` connection whose issuer is the development IdP
//    (`<base>/__dev/idp`, src/dev/idp.ts) with SCIM on and `user_deprovision: true`, provisions a
//    user over SCIM, and creates an app on a made-up host (`probe-<rand>.example.test`) whose origin
//    is that local server, with an allow policy for the user's email;
// 3. logs the user in N times, each a fresh client (cookie jar), by driving the redirects itself
//    (scripts/lib/access-client.mjs): app → team login → dev IdP → callback → app authorized. Each
//    login is an org session plus an app session in the user's Durable Object;
// 4. proves every session valid FIRST: a proxied request answers 200 from the origin, which names
//    the user from the assertion it verified;
// 5. deactivates the user over SCIM (Okta's PATCH by default) while C clients keep sending proxied
//    requests AND a burst sends one for each of the N sessions at the moment the SCIM request is
//    sent (up to 256 at once, `--burst-concurrency`), so requests are in flight alongside it; then
//    keeps going until every session has been tried after the SCIM answer, and cleans up.
//
// A check is `GET http://<app host>/probe` sent to the dev server with the Host header. The app
// token goes in the `CF_Authorization` cookie (`--transport cookie`, default: what a browser sends;
// a refusal is a 302 to the team login page) or in the `cf-access-token` header (`--transport
// header`: what Cloudflare accepts from non-browser clients; a refusal is a 401
// `authentication_required`). Redirects are never followed.
//
// It fails (exit 1) when:
// - a session is not valid BEFORE the deactivation (nothing to revoke: the probe would prove nothing);
// - any proxied request that started after the SCIM 2xx got a 200 (`late_successes` > 0);
// - any request answered 5xx (e.g. the proxy's fail-closed 503), or anything but 200 or the proxy's
//   sign-in refusal (scripts/lib/probe-verdict.mjs) — a 403, a 404 or a network error is not a refusal;
// - a session was never tried after the answer, or no request overlapped the SCIM request.
// `--skip-deactivation` sends no SCIM request at all, so the probe must fail: a self-test.

import path from "node:path";
import { performance } from "node:perf_hooks";
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { keepAliveAgent, loginThroughDevIdp, send, startVerifyingOrigin } from "./lib/access-client.mjs";
import { classifyCheck, isValidCheck, probeVerdict } from "./lib/probe-verdict.mjs";
import { projectRoot, readDotVars } from "./lib/wrangler-dev.mjs";

const { values: args } = parseArgs({
  options: {
    "base-url": { type: "string" },
    sessions: { type: "string", default: "200" },
    clients: { type: "string", default: "16" },
    "login-concurrency": { type: "string", default: "16" },
    token: { type: "string" },
    via: { type: "string", default: "patch" },
    transport: { type: "string", default: "cookie" },
    "burst-concurrency": { type: "string" },
    "skip-deactivation": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (args.help) {
  console.log(
    "Usage: npm run --silent probe:revocation -- --base-url <url> [--sessions 200] [--clients 16] [--via patch|put|delete]\n" +
      "         [--transport cookie|header] [--burst-concurrency min(N,256)] [--login-concurrency 16] [--skip-deactivation]\n" +
      "         [--token <admin token>] [--json]",
  );
  process.exit(0);
}

const baseUrl = (args["base-url"] ?? process.env.ZT_BASE_URL ?? "http://127.0.0.1:8787").replace(/\/+$/, "");
const sessionCount = Number.parseInt(args.sessions, 10);
const clients = Number.parseInt(args.clients, 10);
const loginConcurrency = Number.parseInt(args["login-concurrency"], 10);
// Default: every session at once (up to 256 connections), so all N are tried while the request is in flight.
const burst = args["burst-concurrency"] === undefined ? Math.min(sessionCount, 256) : Number.parseInt(args["burst-concurrency"], 10);
if (!(sessionCount > 0 && sessionCount <= 100_000) || !(clients > 0 && clients <= 256) || !(burst > 0 && burst <= 1024) || !(loginConcurrency > 0 && loginConcurrency <= 256)) {
  console.error("--sessions must be 1..100000, --clients and --login-concurrency 1..256, --burst-concurrency 1..1024");
  process.exit(2);
}
if (!["patch", "put", "delete"].includes(args.via)) {
  console.error("--via must be patch, put or delete");
  process.exit(2);
}
if (!["cookie", "header"].includes(args.transport)) {
  console.error("--transport must be cookie or header");
  process.exit(2);
}
const token = args.token ?? process.env.ZT_ADMIN_TOKEN ?? readDotVars(path.join(projectRoot, ".dev.vars")).ADMIN_TOKEN;
if (!token) {
  console.error("no admin token: pass --token, set ZT_ADMIN_TOKEN, or run `npm run dev` once");
  process.exit(2);
}

const log = (...m) => {
  if (!args.json) console.error(...m);
};

// One connection pool for everything: setup, logins, and the checks (clients + burst at once).
const agent = keepAliveAgent(clients + burst + loginConcurrency);

/** An admin or SCIM call on the team host. */
async function call(method, url, { bearer = token, body, type = "application/json" } = {}) {
  const res = await send(baseUrl, url, {
    method,
    agent,
    headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { "content-type": type }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let json;
  try {
    json = res.text ? JSON.parse(res.text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text: res.text };
}

function must(res, what, ok = [200, 201, 204]) {
  if (!ok.includes(res.status)) throw new Error(`${what}: HTTP ${res.status} ${res.text.slice(0, 300)}`);
  return res.json;
}

/** Runs `work` over `items` with `limit` in flight. */
async function pool(items, limit, work) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await work(items[next++]);
    }),
  );
}

let connectionId;
let appId;
let origin;
/** Set to stop the checking clients: at the end, or when anything failed (so the process can exit). */
let stop = false;
try {
  const rand = randomBytes(4).toString("hex");
  origin = await startVerifyingOrigin({ baseUrl });
  const created = must(
    await call("POST", `${baseUrl}/api/v1/access/identity_providers`, {
      body: {
        name: `revocation-probe-${rand}`,
        type: "oidc",
        config: { client_id: `probe-${rand}`, client_secret: randomBytes(16).toString("hex"), issuer_url: `${baseUrl}/__dev/idp` },
        scim_config: { enabled: true, user_deprovision: true },
      },
    }),
    "create connection (is DEV_ROUTES on, so that the development IdP answers?)",
  );
  connectionId = created.result.id;
  const scimBase = created.result.scim_config.scim_base_url;
  const secret = created.result.scim_config.secret;
  const scimType = "application/scim+json";

  const userName = `probe-${rand}@probe.example`;
  const user = must(
    await call("POST", `${scimBase}/Users`, {
      bearer: secret,
      type: scimType,
      body: { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName, active: true, emails: [{ value: userName, primary: true }] },
    }),
    "create user",
  );
  const userId = user.id;

  const appHost = `probe-${rand}.example.test`;
  const app = must(
    await call("POST", `${baseUrl}/api/v1/access/apps`, {
      body: { name: `Revocation probe ${rand}`, domain: appHost, type: "self_hosted", allowed_idps: [connectionId], session_duration: "1h", origin: origin.url },
    }),
    "create app",
  );
  appId = app.result.id;
  origin.audiences.add(app.result.aud);
  must(await call("POST", `${baseUrl}/api/v1/access/apps/${appId}/policies`, { body: { name: "probe user", decision: "allow", include: [{ email: { email: userName } }] } }), "create policy");
  log(`connection ${connectionId}, user ${userId}, app ${appHost} → ${origin.url}; logging in ${sessionCount} times…`);

  // ---- 0. N logins through the development IdP: each an org session and an app session.
  const loginStarted = performance.now();
  const tokens = new Map(); // sid → app token
  const handOffs = new Set();
  await pool(Array.from({ length: sessionCount }, (_, i) => i), loginConcurrency, async () => {
    const { token: appToken, claims, via } = await loginThroughDevIdp({ baseUrl, appHost, path: "/", email: userName, agent });
    handOffs.add(via);
    if (claims.sub !== userId) throw new Error(`login: token for ${claims.sub}, expected ${userId}`);
    tokens.set(claims.sid, appToken);
  });
  const loginMs = performance.now() - loginStarted;
  if (tokens.size !== sessionCount) throw new Error(`${sessionCount} logins gave ${tokens.size} distinct sessions`);
  const sessions = [...tokens.keys()];

  /** One proxied request with session `sid`'s token; never throws (a network error is status 0, an unexplained answer). */
  const checkUrl = `http://${appHost}/probe`;
  const headersFor = (sid) => (args.transport === "header" ? { "cf-access-token": tokens.get(sid) } : { cookie: `CF_Authorization=${tokens.get(sid)}` });
  const checkOnce = async (sid) => {
    const started = performance.now();
    let status = 0;
    let body;
    let location = null;
    try {
      const res = await send(baseUrl, checkUrl, { agent, headers: headersFor(sid) });
      status = res.status;
      location = res.location;
      try {
        body = JSON.parse(res.text);
      } catch {
        body = undefined;
      }
    } catch {
      status = 0;
    }
    return { sid, started, ended: performance.now(), status, body, location };
  };

  // ---- 1. Every session must be valid first: revoking sessions that never worked proves nothing.
  const before = [];
  await pool(sessions, clients, async (sid) => before.push(await checkOnce(sid)));
  const notValid = before.filter((c) => !isValidCheck(c.status, c.body) || c.body.email !== userName);
  if (notValid.length) {
    const sample = notValid.slice(0, 3).map((c) => `HTTP ${c.status} ${JSON.stringify(c.body ?? null).slice(0, 120)}${c.location ? ` → ${c.location}` : ""}`);
    throw new Error(`${notValid.length}/${sessions.length} session(s) did not get a proxied 200 from the origin as ${userName} BEFORE the deactivation, e.g. ${sample.join("; ")}. Nothing was deactivated; the probe cannot prove revocation.`);
  }
  log(`${sessions.length} logins in ${Math.round(loginMs)} ms; all proxy 200 as ${userName}; deactivating via ${args["skip-deactivation"] ? "(skipped!)" : args.via.toUpperCase()} with ${clients} clients sending proxied requests (${args.transport})…`);

  // ---- 2. C clients send round-robin until stopped; at the moment the SCIM request is sent, a
  // burst sends one request per session (at most `burst` at a time) so requests overlap it.
  const checks = [];
  const record = async (sid) => {
    const c = await checkOnce(sid);
    c.kind = classifyCheck(c.status, c.body, c.location);
    checks.push(c);
  };
  let cursor = 0;
  const workers = Array.from({ length: clients }, async () => {
    while (!stop) await record(sessions[cursor++ % sessions.length]);
  });

  await new Promise((r) => setTimeout(r, 300)); // steady state before the deactivation
  const sent = performance.now();
  const burstDone = pool(sessions, burst, record);
  let deactivated;
  if (args["skip-deactivation"]) deactivated = { status: 204, json: undefined, text: "" };
  else if (args.via === "patch") {
    deactivated = await call("PATCH", `${scimBase}/Users/${userId}`, {
      bearer: secret,
      type: scimType,
      body: { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "replace", value: { active: false } }] },
    });
  } else if (args.via === "put") {
    deactivated = await call("PUT", `${scimBase}/Users/${userId}`, {
      bearer: secret,
      type: scimType,
      body: { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName, active: false, emails: [{ value: userName, primary: true }] },
    });
  } else deactivated = await call("DELETE", `${scimBase}/Users/${userId}`, { bearer: secret });
  const answered = performance.now();
  must(deactivated, `deactivate user (${args.via})`);
  await burstDone;

  // ---- 3. Keep going until every session has been tried at least once after the answer.
  const checkedAfter = () => new Set(checks.filter((c) => c.started > answered).map((c) => c.sid)).size;
  const deadline = answered + 30_000;
  while (checkedAfter() < sessions.length && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  stop = true;
  await Promise.all(workers);

  const verdict = probeVerdict({ checks, sent, answered, sessions: sessions.length, minInFlight: Math.min(clients, sessions.length) });
  const result = {
    sessions: sessionCount,
    via: args["skip-deactivation"] ? "none (--skip-deactivation)" : args.via,
    transport: args.transport,
    logins_ms: Math.round(loginMs),
    app_token_from: [...handOffs].join(","),
    deactivation_ms: Math.round((answered - sent) * 10) / 10,
    sessions_valid_before: before.length,
    ...verdict,
    verdict: verdict.failures.length ? "FAIL" : "PASS",
  };
  if (args.json) console.log(JSON.stringify(result));
  else {
    console.log(`sessions:                 ${result.sessions} real logins (all proxied 200 before the deactivation), ${result.logins_ms} ms to log in`);
    console.log(`SCIM deactivation (${result.via}): ${result.deactivation_ms} ms`);
    console.log(`requests during the SCIM request: ${result.checks_during_deactivation} (${result.sessions_checked_during_deactivation} sessions)`);
    console.log(`first refusal after:      ${result.first_refusal_ms} ms (from sending the SCIM request)`);
    console.log(`requests after the answer: ${result.checks_after_response} (${result.sessions_checked_after_response}/${sessionCount} sessions), ${result.refusals_after_response} sign-in refusals (${args.transport === "header" ? "401" : "302 to login"})`);
    console.log(`late successes:           ${result.late_successes}`);
    console.log(`5xx answers:              ${result.server_errors}`);
    console.log(`unexplained answers:      ${result.unexplained}`);
    for (const f of verdict.failures) console.log(`FAIL: ${f}`);
    console.log(result.verdict);
  }
  process.exitCode = verdict.failures.length ? 1 : 0;
} catch (e) {
  console.error(`probe failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
} finally {
  stop = true;
  if (appId) {
    const res = await call("DELETE", `${baseUrl}/api/v1/access/apps/${appId}`).catch(() => undefined);
    if (!res || res.status !== 200) console.error(`cleanup: could not delete app ${appId}${res ? ` (HTTP ${res.status})` : ""}`);
  }
  if (connectionId) {
    const res = await call("DELETE", `${baseUrl}/api/v1/access/identity_providers/${connectionId}`).catch(() => undefined);
    if (!res || res.status !== 200) console.error(`cleanup: could not delete connection ${connectionId}${res ? ` (HTTP ${res.status})` : ""}`);
  }
  await origin?.close();
  agent.destroy();
}
