#!/usr/bin/env node
// `npm run --silent probe:revocation -- --base-url <url> [--sessions N] [--clients C] [--via patch|put|delete] --json`
//
// Measures what deprovisioning means for users: creates a throw-away IdP connection and user over
// SCIM, opens N sessions, proves every one of them checks valid (HTTP 200, `status: "valid"`), then
// deactivates the user over SCIM (Okta's PATCH by default) while C clients keep checking the
// sessions AND a burst checks all N sessions at the moment the SCIM request is sent (up to 256 at
// once, `--burst-concurrency`), so checks are in flight alongside it. Afterwards it keeps checking
// until every session has been checked after the SCIM answer, then cleans up.
//
// It fails (exit 1) when:
// - a session does not check valid BEFORE the deactivation (nothing to revoke: the probe would prove nothing);
// - any check that started after the SCIM 2xx succeeded (`late_successes` > 0);
// - any check answered 5xx, or anything but 200 or a 401/403 whose body says revoked/deprovisioned
//   (scripts/lib/probe-verdict.mjs) — a 500 or a 404 is not a refusal;
// - a session was never checked after the answer, or no check overlapped the SCIM request.
// `--skip-deactivation` sends no SCIM request at all, so the probe must fail: a self-test.
// `--check-path` points the checks at another route (default /__dev/sessions/check), e.g. one that
// answers 200 whatever the session's state, to see the probe fail.
//
// Until Access login exists, sessions are opened and checked through the development routes
// (/__dev/sessions, enabled by DEV_ROUTES=true, behind the admin token), which run the same
// Durable Object check as a protected request.

import path from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { classifyCheck, isValidCheck, probeVerdict } from "./lib/probe-verdict.mjs";
import { projectRoot, readDotVars } from "./lib/wrangler-dev.mjs";

const { values: args } = parseArgs({
  options: {
    "base-url": { type: "string" },
    sessions: { type: "string", default: "200" },
    clients: { type: "string", default: "16" },
    token: { type: "string" },
    via: { type: "string", default: "patch" },
    "check-path": { type: "string", default: "/__dev/sessions/check" },
    "burst-concurrency": { type: "string" },
    "skip-deactivation": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (args.help) {
  console.log(
    "Usage: npm run --silent probe:revocation -- --base-url <url> [--sessions 200] [--clients 16] [--via patch|put|delete]\n" +
      "         [--burst-concurrency min(N,256)] [--check-path /__dev/sessions/check] [--skip-deactivation] [--token <admin token>] [--json]",
  );
  process.exit(0);
}

const baseUrl = (args["base-url"] ?? process.env.ZT_BASE_URL ?? "http://127.0.0.1:8787").replace(/\/+$/, "");
const sessionCount = Number.parseInt(args.sessions, 10);
const clients = Number.parseInt(args.clients, 10);
// Default: every session at once (up to 256 connections), so all N are checked while the request is in flight.
const burst = args["burst-concurrency"] === undefined ? Math.min(sessionCount, 256) : Number.parseInt(args["burst-concurrency"], 10);
if (!(sessionCount > 0 && sessionCount <= 100_000) || !(clients > 0 && clients <= 256) || !(burst > 0 && burst <= 1024)) {
  console.error("--sessions must be 1..100000, --clients 1..256 and --burst-concurrency 1..1024");
  process.exit(2);
}
if (!["patch", "put", "delete"].includes(args.via)) {
  console.error("--via must be patch, put or delete");
  process.exit(2);
}
const checkPath = args["check-path"].startsWith("/") ? args["check-path"] : `/${args["check-path"]}`;
const token = args.token ?? process.env.ZT_ADMIN_TOKEN ?? readDotVars(path.join(projectRoot, ".dev.vars")).ADMIN_TOKEN;
if (!token) {
  console.error("no admin token: pass --token, set ZT_ADMIN_TOKEN, or run `npm run dev` once");
  process.exit(2);
}

const log = (...m) => {
  if (!args.json) console.error(...m);
};

async function call(method, url, { bearer = token, body, type = "application/json" } = {}) {
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { "content-type": type }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
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
/** Set to stop the checking clients: at the end, or when anything failed (so the process can exit). */
let stop = false;
try {
  const created = must(
    await call("POST", `${baseUrl}/api/v1/access/identity_providers`, {
      body: { name: `revocation-probe-${Date.now()}`, type: "okta", config: {}, scim_config: { enabled: true, user_deprovision: true } },
    }),
    "create connection",
  );
  connectionId = created.result.id;
  const scimBase = created.result.scim_config.scim_base_url;
  const secret = created.result.scim_config.secret;
  const scimType = "application/scim+json";

  const userName = `probe-${Date.now()}@probe.example`;
  const user = must(
    await call("POST", `${scimBase}/Users`, {
      bearer: secret,
      type: scimType,
      body: { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName, active: true },
    }),
    "create user",
  );
  const userId = user.id;
  log(`connection ${connectionId}, user ${userId}; opening ${sessionCount} sessions…`);

  const sessions = [];
  await pool(Array.from({ length: sessionCount }, (_, i) => i), 32, async (i) => {
    const kind = i % 4 === 3 ? "gateway" : "access";
    const opened = must(
      await call("POST", `${baseUrl}/__dev/sessions`, {
        body: { user_id: userId, kind, ...(kind === "gateway" ? { device_id: `probe-device-${i}` } : { app_id: `probe-app-${i % 7}` }) },
      }),
      "open session",
    );
    sessions.push(opened.result.session_id);
  });

  /** One check of session `sid`; never throws (a network error is status 0, an unexplained answer). */
  const checkUrl = (sid) => `${baseUrl}${checkPath}?user_id=${encodeURIComponent(userId)}&session_id=${encodeURIComponent(sid)}`;
  const checkOnce = async (sid) => {
    const started = performance.now();
    let status = 0;
    let body;
    try {
      const res = await fetch(checkUrl(sid), { headers: { authorization: `Bearer ${token}` } });
      status = res.status;
      const text = await res.text();
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
    } catch {
      status = 0;
    }
    return { sid, started, ended: performance.now(), status, body };
  };

  // ---- 1. Every session must check valid first: revoking sessions that never worked proves nothing.
  const before = [];
  await pool(sessions, clients, async (sid) => before.push(await checkOnce(sid)));
  const notValid = before.filter((c) => !isValidCheck(c.status, c.body));
  if (notValid.length) {
    const sample = notValid.slice(0, 3).map((c) => `HTTP ${c.status} ${JSON.stringify(c.body ?? null).slice(0, 120)}`);
    throw new Error(`${notValid.length}/${sessions.length} session(s) did not check valid (HTTP 200, status "valid") BEFORE the deactivation, e.g. ${sample.join("; ")}. Nothing was deactivated; the probe cannot prove revocation.`);
  }
  log(`all ${sessions.length} sessions check valid; deactivating via ${args["skip-deactivation"] ? "(skipped!)" : args.via.toUpperCase()} with ${clients} clients checking…`);

  // ---- 2. C clients check round-robin until stopped; at the moment the SCIM request is sent, a
  // burst checks all N sessions (at most `burst` at a time) so checks overlap the request.
  const checks = [];
  const record = async (sid) => {
    const c = await checkOnce(sid);
    c.kind = classifyCheck(c.status, c.body);
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
      body: { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName, active: false },
    });
  } else deactivated = await call("DELETE", `${scimBase}/Users/${userId}`, { bearer: secret });
  const answered = performance.now();
  must(deactivated, `deactivate user (${args.via})`);
  await burstDone;

  // ---- 3. Keep checking until every session has been checked at least once after the answer.
  const checkedAfter = () => new Set(checks.filter((c) => c.started > answered).map((c) => c.sid)).size;
  const deadline = answered + 30_000;
  while (checkedAfter() < sessions.length && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  stop = true;
  await Promise.all(workers);

  const verdict = probeVerdict({ checks, sent, answered, sessions: sessions.length, minInFlight: Math.min(clients, sessions.length) });
  const result = {
    sessions: sessionCount,
    via: args["skip-deactivation"] ? "none (--skip-deactivation)" : args.via,
    deactivation_ms: Math.round((answered - sent) * 10) / 10,
    sessions_valid_before: before.length,
    ...verdict,
    verdict: verdict.failures.length ? "FAIL" : "PASS",
  };
  if (args.json) console.log(JSON.stringify(result));
  else {
    console.log(`sessions:                 ${result.sessions} (all checked valid before the deactivation)`);
    console.log(`SCIM deactivation (${result.via}): ${result.deactivation_ms} ms`);
    console.log(`checks during the request: ${result.checks_during_deactivation} (${result.sessions_checked_during_deactivation} sessions)`);
    console.log(`first refusal after:      ${result.first_refusal_ms} ms (from sending the SCIM request)`);
    console.log(`checks after the answer:  ${result.checks_after_response} (${result.sessions_checked_after_response}/${sessionCount} sessions), ${result.refusals_after_response} revoked/deprovisioned refusals`);
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
  if (connectionId) {
    const res = await call("DELETE", `${baseUrl}/api/v1/access/identity_providers/${connectionId}`).catch(() => undefined);
    if (!res || res.status !== 200) console.error(`cleanup: could not delete connection ${connectionId}`);
  }
}
