// Shared helpers for the benchmarks (`npm run bench`): a throw-away `wrangler dev` per bench,
// keep-alive HTTP through Node's global fetch, interleaved timing against a floor, stats, tables.
//
// Every figure a bench prints is a RATIO against a floor measured in the same run, through the same
// Worker (absolute medians and p95s are printed too): absolute latencies of `wrangler dev` on a
// laptop or a 2-core CI box say little; ratios against the same machine's bare D1 / Durable Object
// round trip say whether a code path adds work it should not.
//
// Only Node built-ins (and scripts/lib/wrangler-dev.mjs, itself built-ins only).

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, cpus, tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { applyLocalMigrations, projectRoot, randomHex, startWranglerDev } from "../scripts/lib/wrangler-dev.mjs";
import { keepAliveAgent, loginThroughDevIdp, send, startVerifyingOrigin } from "../scripts/lib/access-client.mjs";

export { projectRoot };
export const benchDir = path.dirname(fileURLToPath(import.meta.url));
export const resultsDir = path.join(benchDir, ".results");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Logs with a bench prefix and the elapsed time since the process started. */
export function logger(prefix) {
  const t0 = performance.now();
  return (msg) => console.log(`[${prefix} +${((performance.now() - t0) / 1000).toFixed(1)}s] ${msg}`);
}

// ---------------------------------------------------------------- server lifecycle

/** Servers (and other process groups) started by this process and not stopped yet: stopped on SIGINT/SIGTERM too. */
const running = new Set();
let signalsHooked = false;

function hookSignals() {
  if (signalsHooked) return;
  signalsHooked = true;
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.on(sig, () => {
      console.error(`\nbench: ${sig}: stopping ${running.size} process group(s)…`);
      Promise.allSettled([...running].map((s) => s.stop())).finally(() => process.exit(sig === "SIGINT" ? 130 : 143));
    });
  }
}

/** Registers `stop` to run if the bench is interrupted (SIGINT/SIGTERM/SIGHUP); returns the unregister function. */
export function onInterrupt(stop) {
  hookSignals();
  const handle = { stop };
  running.add(handle);
  return () => running.delete(handle);
}

/**
 * A fresh `wrangler dev`: new temporary `--persist-to` dir, D1 migrations applied into it,
 * DEV_ROUTES on, a random ADMIN_TOKEN passed in a temporary `--env-file` (so the project's
 * `.dev.vars` is neither read nor touched). `stop()` kills the whole process group and deletes
 * the temporary dir. `vars`: further `--var KEY:VALUE` (e.g. GATEWAY_UPSTREAM for bench/gateway).
 */
export async function startServer({ label = "bench", log = console.log, vars = {} } = {}) {
  hookSignals();
  const dir = mkdtempSync(path.join(tmpdir(), `zt-${label}-`));
  const persistTo = path.join(dir, "state");
  const envFile = path.join(dir, "bench.vars");
  const token = randomHex(32);
  // ACCESS_SECRETS_KEY seals OIDC client secrets and Access signing keys (src/lib/secret-box.ts).
  writeFileSync(envFile, `ADMIN_TOKEN=${token}\nACCESS_SECRETS_KEY=${randomHex(32)}\n`, { mode: 0o600 });
  let server;
  const handle = {
    baseUrl: undefined,
    token,
    persistTo,
    output: () => server?.output() ?? "",
    async stop() {
      running.delete(handle);
      try {
        if (server) await server.stop();
      } finally {
        // BENCH_KEEP_STATE=1 keeps the D1 / Durable Object files for inspection (e.g. with sqlite3).
        if (process.env.BENCH_KEEP_STATE === "1") log(`state kept in ${persistTo}`);
        else rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  running.add(handle);
  try {
    const t0 = performance.now();
    const { applied } = await applyLocalMigrations({ persistTo });
    log(`migrations applied into ${persistTo}: ${[...new Set(applied)].join(", ") || "(none reported)"} (${Math.round(performance.now() - t0)} ms)`);
    const t1 = performance.now();
    server = await startWranglerDev({ persistTo, envFile, vars: { DEV_ROUTES: "true", ...vars }, output: "quiet", timeoutMs: 120_000 });
    handle.baseUrl = server.baseUrl;
    log(`wrangler dev ready at ${server.baseUrl} (pgid ${server.pid}, ${Math.round(performance.now() - t1)} ms)`);
  } catch (err) {
    await handle.stop().catch(() => {});
    throw err;
  }
  return handle;
}

// ---------------------------------------------------------------- HTTP

/** Thrown when the Worker answers something a bench did not expect (a bench error, not a MISS). */
export class HttpError extends Error {}

/**
 * One request through Node's global fetch (keep-alive by default). Resolves
 * `{ status, ms, text, json(), headers }`; `ms` runs from the call until the whole body has arrived.
 */
export async function request(url, { method = "GET", headers = {}, body, expect, timeoutMs = 30_000 } = {}) {
  const init = { method, headers: { ...headers }, signal: AbortSignal.timeout(timeoutMs) };
  if (body !== undefined) init.body = typeof body === "string" ? body : JSON.stringify(body);
  const t0 = performance.now();
  const res = await fetch(url, init);
  const text = await res.text();
  const elapsed = performance.now() - t0;
  const ok = expect === undefined ? res.ok : [expect].flat().includes(res.status);
  if (!ok) throw new HttpError(`${method} ${url} → ${res.status} (expected ${expect ?? "2xx"}): ${text.slice(0, 500)}`);
  return {
    status: res.status,
    ms: elapsed,
    text,
    headers: res.headers,
    json: () => JSON.parse(text),
  };
}

/** Admin API / dev routes of one server (`Authorization: Bearer <ADMIN_TOKEN>`). */
export function adminClient(server) {
  const call = (method, p, body, expect) =>
    request(`${server.baseUrl}${p}`, {
      method,
      expect,
      headers: { authorization: `Bearer ${server.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body,
    });
  call.baseUrl = server.baseUrl;
  return call;
}

/** SCIM calls of one connection; `p` is relative to its scim_base_url (`/Users?filter=…`). */
export function scimClient(conn) {
  return (method, p, body, expect) =>
    request(`${conn.scimBaseUrl}${p}`, {
      method,
      expect,
      headers: { authorization: `Bearer ${conn.secret}`, ...(body === undefined ? {} : { "content-type": "application/scim+json" }) },
      body,
    });
}

/**
 * Creates an IdP connection with SCIM on; returns `{ id, secret, scimBaseUrl }`. `type: "oidc"`
 * makes it a connection to the development IdP (`<base>/__dev/idp`, src/dev/idp.ts), so its users
 * can log in (`accessApp`); SCIM does not depend on the connection's type (dialects are told apart
 * per request).
 */
export async function createConnection(admin, { name, type = "okta", userDeprovision = true } = {}) {
  const clientId = `bench-${randomHex(4)}`;
  const config = type === "oidc" ? { client_id: clientId, client_secret: randomHex(16), issuer_url: `${admin.baseUrl}/__dev/idp` } : {};
  const res = await admin("POST", "/api/v1/access/identity_providers", {
    name: name ?? clientId,
    type,
    config,
    scim_config: { enabled: true, user_deprovision: userDeprovision },
  });
  const { result } = res.json();
  return { id: result.id, secret: result.scim_config.secret, scimBaseUrl: result.scim_config.scim_base_url };
}

/**
 * An Access app on a made-up host (`<label>-<rand>.example.test`) for the users of `conn` (policy:
 * allow everyone), in front of a local origin that verifies the forwarded assertion. `login(email)`
 * logs in through the development IdP and resolves `{ token, claims }`; `proxied(token)` sends one
 * proxied request with that app cookie and resolves `{ status, email, location }` (email: the user
 * the origin verified, on a 200). `close()` stops the origin.
 */
export async function accessApp(server, conn, { label = "bench" } = {}) {
  const admin = adminClient(server);
  const agent = keepAliveAgent(16);
  const origin = await startVerifyingOrigin({ baseUrl: server.baseUrl });
  const host = `${label}-${randomHex(4)}.example.test`;
  const app = (await admin("POST", "/api/v1/access/apps", { name: host, domain: host, type: "self_hosted", allowed_idps: [conn.id], session_duration: "24h", origin: origin.url }, 200)).json().result;
  await admin("POST", `/api/v1/access/apps/${app.id}/policies`, { name: "everyone", decision: "allow", include: [{ everyone: {} }] }, 200);
  origin.audiences.add(app.aud);
  return {
    host,
    app,
    login: (email) => loginThroughDevIdp({ baseUrl: server.baseUrl, appHost: host, path: "/", email, agent }),
    async proxied(token) {
      const res = await send(server.baseUrl, `http://${host}/bench`, { agent, headers: { cookie: `CF_Authorization=${token}` } });
      let email = null;
      try {
        email = res.status === 200 ? JSON.parse(res.text).email : null;
      } catch {
        email = null;
      }
      return { status: res.status, email, location: res.location, text: res.text };
    },
    async close() {
      agent.destroy();
      await origin.close();
    },
  };
}

export const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
export const USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User";

/** Seeded bench user number n (1-based): the id and userName the seed route gives it. */
export const benchUser = (n) => ({
  id: `bench-u-${String(n).padStart(7, "0")}`,
  userName: `user${String(n).padStart(7, "0")}@bench.example`,
});

// ---------------------------------------------------------------- timing and stats

/** Milliseconds with 2 decimals (for printing). */
export function ms(x) {
  return x === undefined || Number.isNaN(x) ? "-" : x.toFixed(2);
}

/** Median, p95 (nearest rank), mean, min, max of a list of milliseconds. */
export function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return { n: 0, median: NaN, p95: NaN, mean: NaN, min: NaN, max: NaN };
  const rank = (p) => s[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))];
  const median = n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  return { n, median, p95: rank(0.95), mean: s.reduce((a, b) => a + b, 0) / n, min: s[0], max: s[n - 1] };
}

/**
 * 95% bootstrap interval of median(a) − median(b) (independent resamples of each side), to tell a
 * real difference from noise on a shared, busy machine.
 */
export function medianDiffCI(a, b, { iterations = 2000, seed = 0xd1ff } = {}) {
  const pick = rng(seed);
  const median = (xs) => stats(xs).median;
  const resample = (xs) => Array.from(xs, () => xs[pick(0, xs.length - 1)]);
  const diffs = Array.from({ length: iterations }, () => median(resample(a)) - median(resample(b))).sort((x, y) => x - y);
  return [diffs[Math.floor(0.025 * iterations)], diffs[Math.ceil(0.975 * iterations) - 1]];
}

/** Rounds a stats object for JSON output. */
export function roundStats(st) {
  const out = {};
  for (const [k, v] of Object.entries(st)) out[k] = typeof v === "number" && k !== "n" ? Math.round(v * 1000) / 1000 : v;
  return out;
}

/**
 * Runs `rounds` rounds (after `warmup` untimed ones); each round calls every step once, in the
 * given order on even rounds and reversed on odd ones (so no step always runs right after
 * another), sequentially. A step is `{ name, run(i) }` where `run` resolves a `request()` result
 * (its `ms` is recorded), a number of ms, or `{ sampleName: ms, … }` for a step that times several
 * requests (e.g. an add and the remove that must follow it). Bounded by `maxMs` as well: stops early (and says so)
 * rather than running forever on a slow machine. Returns `{ samples: {name: ms[]}, rounds, truncated }`.
 */
export async function interleave(steps, { rounds, warmup = 20, maxMs = 120_000 } = {}) {
  const samples = Object.fromEntries(steps.map((s) => [s.name, []]));
  const deadline = performance.now() + maxMs;
  let done = 0;
  for (let i = 0; i < warmup + rounds; i++) {
    const order = i % 2 === 0 ? steps : [...steps].reverse();
    for (const step of order) {
      const r = await step.run(i);
      if (i < warmup) continue;
      // A step records one sample (a number or a request() result) or several named ones ({ name: ms }).
      const named = typeof r === "number" ? { [step.name]: r } : typeof r.ms === "number" ? { [step.name]: r.ms } : r;
      for (const [name, v] of Object.entries(named)) (samples[name] ??= []).push(v);
    }
    if (i >= warmup) done++;
    if (performance.now() > deadline) break;
  }
  return { samples, rounds: done, truncated: done < rounds };
}

/** Runs `fn` and returns `[result, elapsedMs]`. */
export async function timed(fn) {
  const t0 = performance.now();
  const result = await fn();
  return [result, performance.now() - t0];
}

/** Deterministic pseudo-random integers (mulberry32), so runs pick the same ids. */
export function rng(seed = 0x5eed) {
  let a = seed >>> 0;
  return (lo, hi) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const r = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    return lo + Math.floor(r * (hi - lo + 1));
  };
}

// ---------------------------------------------------------------- output

/** Prints an aligned text table; `rows` are arrays of cells (numbers are right-aligned). */
export function printTable(headers, rows) {
  const cells = [headers, ...rows].map((r) => r.map((c) => (c === undefined || c === null ? "" : String(c))));
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i]?.length ?? 0)));
  const numeric = headers.map((_, i) => rows.every((r) => typeof r[i] === "number" || /^[-\d.×]+$/.test(String(r[i] ?? "")) || r[i] === "-" || r[i] === ""));
  const line = (r) => r.map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  ").trimEnd();
  console.log(line(cells[0]));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of cells.slice(1)) console.log(line(r));
}

/** `1.23×` */
/** A figure rounded to 3 decimals for the JSON results. */
export const round3 = (x) => Math.round(x * 1000) / 1000;

export const ratio = (x) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : "-");

/** Writes `bench/.results/<name>.json`. */
export function writeResults(name, data) {
  mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `${name}.json`);
  writeFileSync(file, JSON.stringify(data, null, 2) + "\n");
  return file;
}

/** What the machine looked like (load matters: benches share 2 cores with anything else running). */
export function machine() {
  return { node: process.version, cpus: cpus().length, loadavg: loadavg().map((x) => Math.round(x * 100) / 100), at: new Date().toISOString() };
}

export { sleep };
