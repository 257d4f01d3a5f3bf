#!/usr/bin/env node
// `npm run --silent probe:revocation -- --base-url <url> [--sessions N] [--clients C] --json`
//
// Measures what deprovisioning means for users: creates a throw-away IdP connection and user over
// SCIM, opens N sessions, keeps checking them from C concurrent clients over HTTP while it
// deactivates the user over SCIM (Okta's PATCH), then cleans up. `late_successes` counts checks
// that STARTED after the SCIM 2xx arrived and still succeeded: it must be 0.
//
// Until Access login exists, sessions are opened and checked through the development routes
// (/__dev/sessions, enabled by DEV_ROUTES=true, behind the admin token), which run the same
// Durable Object check as a protected request.

import path from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { projectRoot, readDotVars } from "./lib/wrangler-dev.mjs";

const { values: args } = parseArgs({
  options: {
    "base-url": { type: "string" },
    sessions: { type: "string", default: "200" },
    clients: { type: "string", default: "16" },
    token: { type: "string" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (args.help) {
  console.log("Usage: npm run --silent probe:revocation -- --base-url <url> [--sessions 200] [--clients 16] [--token <admin token>] [--json]");
  process.exit(0);
}

const baseUrl = (args["base-url"] ?? process.env.ZT_BASE_URL ?? "http://127.0.0.1:8787").replace(/\/+$/, "");
const sessionCount = Number.parseInt(args.sessions, 10);
const clients = Number.parseInt(args.clients, 10);
if (!(sessionCount > 0 && sessionCount <= 100_000) || !(clients > 0 && clients <= 256)) {
  console.error("--sessions must be 1..100000 and --clients 1..256");
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

  const user = must(
    await call("POST", `${scimBase}/Users`, {
      bearer: secret,
      type: scimType,
      body: { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: `probe-${Date.now()}@probe.example`, active: true },
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

  // Clients check sessions round-robin until stopped; each check records when it started and ended.
  const checks = [];
  let stop = false;
  let cursor = 0;
  const checkOnce = async () => {
    const sid = sessions[cursor++ % sessions.length];
    const started = performance.now();
    const res = await fetch(`${baseUrl}/__dev/sessions/check?user_id=${encodeURIComponent(userId)}&session_id=${encodeURIComponent(sid)}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    await res.arrayBuffer();
    checks.push({ sid, started, ended: performance.now(), status: res.status });
  };
  const workers = Array.from({ length: clients }, async () => {
    while (!stop) await checkOnce();
  });

  await new Promise((r) => setTimeout(r, 300)); // steady state before the deactivation
  const sent = performance.now();
  const deactivated = await call("PATCH", `${scimBase}/Users/${userId}`, {
    bearer: secret,
    type: scimType,
    body: { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "replace", value: { active: false } }] },
  });
  const answered = performance.now();
  must(deactivated, "deactivate user");

  // Keep checking until every session has been checked at least once after the response.
  const checkedAfter = new Set();
  const deadline = answered + 30_000;
  while (checkedAfter.size < sessions.length && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    for (const c of checks) if (c.started > answered) checkedAfter.add(c.sid);
  }
  stop = true;
  await Promise.all(workers);

  const after = checks.filter((c) => c.started > answered);
  const lateSuccesses = after.filter((c) => c.status === 200).length;
  const refusals = checks.filter((c) => c.status !== 200 && c.started >= sent).map((c) => c.ended - sent);
  const result = {
    sessions: sessionCount,
    deactivation_ms: Math.round((answered - sent) * 10) / 10,
    late_successes: lateSuccesses,
    first_refusal_ms: refusals.length ? Math.round(Math.min(...refusals) * 10) / 10 : null,
    checks_total: checks.length,
    checks_after_response: after.length,
    sessions_checked_after_response: checkedAfter.size,
  };
  if (args.json) console.log(JSON.stringify(result));
  else {
    console.log(`sessions:               ${result.sessions}`);
    console.log(`SCIM deactivation:      ${result.deactivation_ms} ms`);
    console.log(`first refusal after:    ${result.first_refusal_ms} ms (from sending the SCIM request)`);
    console.log(`checks after the 2xx:   ${result.checks_after_response} (${result.sessions_checked_after_response}/${sessionCount} sessions)`);
    console.log(`late successes:         ${result.late_successes}  ${result.late_successes === 0 ? "OK" : "FAIL"}`);
  }
  process.exitCode = lateSuccesses === 0 && checkedAfter.size === sessions.length ? 0 : 1;
} catch (e) {
  console.error(`probe failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
} finally {
  if (connectionId) {
    const res = await call("DELETE", `${baseUrl}/api/v1/access/identity_providers/${connectionId}`).catch(() => undefined);
    if (!res || res.status !== 200) console.error(`cleanup: could not delete connection ${connectionId}`);
  }
}
