#!/usr/bin/env node
// End-to-end check of the README contract, run by CI after the tests:
//
//   npm run dev -- --port <free> --ip 127.0.0.1 --persist-to <fresh tmp dir>   (own process group)
//   → wait for "ready at <url>" → npm run --silent idp -- create --name smoke --type okta --json
//   → stdout is exactly {"id","scim_base_url","secret"} → SCIM ServiceProviderConfig and
//   POST /Users (201) with that secret → npm run --silent idp -- access-demo --json → a real Access
//   login through the development IdP to the echo origin, whose cf-access-jwt-assertion verifies
//   against /cdn-cgi/access/certs; logout; SCIM deprovisioning refuses the next proxied request
//   (scripts/lib/access-smoke.mjs) → Ctrl-C (SIGINT to the group) → no process of this run
//   (workerd included) is left.
//
// Runs on the system Node (20) too: Node built-ins, plus `jose` from node_modules to verify the
// assertion as an origin would. Prints one final PASS/FAIL line.
// Env: SMOKE_TIMEOUT_MS (default 240000).

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort, groupAlive, projectRoot, signalGroup, stripAnsi } from "./lib/wrangler-dev.mjs";
import { checkAccessLogin } from "./lib/access-smoke.mjs";

const TIMEOUT_MS = Number(process.env.SMOKE_TIMEOUT_MS ?? 240_000);
const READY_TIMEOUT_MS = 150_000;
const SCIM = "urn:ietf:params:scim:schemas:core:2.0";
const marker = `zt-smoke-${randomBytes(8).toString("hex")}`;
const started = Date.now();

const env = {
  ...process.env,
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_SEND_METRICS: "false",
  // Inherited by npm → dev.mjs → wrangler → workerd: lets us find every process of this run.
  ZT_SMOKE_RUN: marker,
};
delete env.ZT_BASE_URL;
delete env.ZT_ADMIN_TOKEN;

const log = (msg) => console.log(`smoke: ${msg} (+${((Date.now() - started) / 1000).toFixed(1)}s)`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class Failure extends Error {}
function check(condition, message) {
  if (!condition) throw new Failure(message);
}

/** PIDs (other than ours) whose environment carries this run's marker (Linux /proc). */
function processesOfThisRun() {
  if (!existsSync("/proc/self/environ")) return [];
  const found = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, "latin1");
      if (!environ.includes(`ZT_SMOKE_RUN=${marker}`)) continue;
      const cmd = readFileSync(`/proc/${entry}/cmdline`, "latin1").replace(/\0/g, " ").trim();
      found.push({ pid: Number(entry), cmd });
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/** Runs a command to completion, capturing its output. */
function run(cmd, args, { timeoutMs = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: projectRoot, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", reject);
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

async function main(state) {
  const port = await freePort("127.0.0.1");
  state.persistTo = mkdtempSync(path.join(tmpdir(), "zt-smoke-"));
  log(`starting \`npm run dev -- --port ${port} --ip 127.0.0.1 --persist-to ${state.persistTo}\``);

  // 1. `npm run dev`, exactly as the README says, in its own process group (like a terminal job).
  const dev = spawn("npm", ["run", "dev", "--", "--port", String(port), "--ip", "127.0.0.1", "--persist-to", state.persistTo], {
    cwd: projectRoot,
    env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  state.devPgid = dev.pid;
  let exited;
  dev.once("exit", (code, signal) => (exited = { code, signal }));
  dev.stdout.on("data", (d) => (state.devOutput += d));
  dev.stderr.on("data", (d) => (state.devOutput += d));
  let readyTimer;
  const baseUrl = await new Promise((resolve, reject) => {
    dev.stdout.on("data", () => {
      const m = /ready at (http:\/\/\S+)/.exec(stripAnsi(state.devOutput));
      if (m) resolve(m[1]);
    });
    dev.once("exit", (code, signal) => reject(new Failure(`npm run dev exited before it was ready (${signal ?? `code ${code}`})`)));
    readyTimer = setTimeout(
      () => reject(new Failure(`npm run dev printed no "ready at" line within ${READY_TIMEOUT_MS / 1000} s`)),
      READY_TIMEOUT_MS,
    );
  }).finally(() => clearTimeout(readyTimer));
  check(baseUrl === `http://127.0.0.1:${port}`, `dev printed base URL ${baseUrl}, expected http://127.0.0.1:${port}`);
  log(`ready at ${baseUrl}`);
  const health = await fetch(`${baseUrl}/healthz`);
  check(health.status === 200, `GET /healthz → ${health.status}`);

  // 2. The CLI, exactly as the README says: stdout must be one JSON object and nothing else.
  const cli = await run("npm", ["run", "--silent", "idp", "--", "create", "--name", "smoke", "--type", "okta", "--json", "--base-url", baseUrl]);
  check(cli.code === 0, `idp create exited ${cli.code ?? cli.signal}:\n${cli.stderr}${cli.stdout}`);
  let created;
  try {
    created = JSON.parse(cli.stdout);
  } catch (err) {
    throw new Failure(`idp create --json stdout is not exactly one JSON value (${err.message}):\n${cli.stdout}`);
  }
  check(created && typeof created === "object" && !Array.isArray(created), `idp create --json printed ${cli.stdout.trim()}, not an object`);
  const keys = Object.keys(created).sort().join(",");
  check(keys === "id,scim_base_url,secret", `idp create --json keys are {${keys}}, expected {id,scim_base_url,secret}`);
  for (const k of ["id", "scim_base_url", "secret"]) {
    check(typeof created[k] === "string" && created[k].length > 0, `idp create --json: ${k} is not a non-empty string`);
  }
  const scimBase = created.scim_base_url.replace(/\/+$/, "");
  check(
    scimBase === `${baseUrl}/populations/${encodeURIComponent(created.id)}/scim/v2`,
    `scim_base_url ${scimBase} is not ${baseUrl}/populations/${created.id}/scim/v2`,
  );
  log(`idp create → id ${created.id}, scim_base_url ${scimBase}`);

  // 3. SCIM with the connection's secret.
  const auth = { authorization: `Bearer ${created.secret}` };
  const spc = await fetch(`${scimBase}/ServiceProviderConfig`, { headers: { ...auth, accept: "application/scim+json" } });
  const spcText = await spc.text();
  check(spc.status === 200, `GET ServiceProviderConfig → ${spc.status}: ${spcText.slice(0, 500)}`);
  const spcBody = JSON.parse(spcText);
  check(
    Array.isArray(spcBody.schemas) && spcBody.schemas.includes(`${SCIM}:ServiceProviderConfig`),
    `ServiceProviderConfig lacks its schema URN: ${spcText.slice(0, 500)}`,
  );
  log("GET ServiceProviderConfig → 200");

  const user = {
    schemas: [`${SCIM}:User`],
    userName: "smoke.user@example.com",
    externalId: "smoke-1",
    name: { givenName: "Smoke", familyName: "User" },
    emails: [{ value: "smoke.user@example.com", type: "work", primary: true }],
    active: true,
  };
  const post = (headers) =>
    fetch(`${scimBase}/Users`, {
      method: "POST",
      headers: { "content-type": "application/scim+json", accept: "application/scim+json", ...headers },
      body: JSON.stringify(user),
    });
  const unauth = await post({ authorization: "Bearer not-the-secret" });
  await unauth.arrayBuffer();
  check(unauth.status === 401, `POST Users with a wrong secret → ${unauth.status}, expected 401`);
  const res = await post(auth);
  const text = await res.text();
  check(res.status === 201, `POST Users → ${res.status}, expected 201: ${text.slice(0, 500)}`);
  const body = JSON.parse(text);
  check(typeof body.id === "string" && body.id.length > 0, `POST Users response has no id: ${text.slice(0, 500)}`);
  check(body.userName === user.userName, `POST Users echoed userName ${body.userName}`);
  const location = res.headers.get("location");
  check(location, "POST Users response has no Location header");
  const fetched = await fetch(location, { headers: auth });
  const fetchedBody = await fetched.json().catch(() => ({}));
  check(fetched.status === 200 && fetchedBody.id === body.id, `GET ${location} → ${fetched.status}, id ${fetchedBody.id}`);
  log(`POST Users → 201 (id ${body.id}); GET Location → 200`);

  // 4. Access, exactly as the README says: access-demo, then a real login as a browser does it.
  const demoCli = await run("npm", ["run", "--silent", "idp", "--", "access-demo", "--json", "--base-url", baseUrl]);
  check(demoCli.code === 0, `idp access-demo exited ${demoCli.code ?? demoCli.signal}:\n${demoCli.stderr}${demoCli.stdout}`);
  let demo;
  try {
    demo = JSON.parse(demoCli.stdout);
  } catch (err) {
    throw new Failure(`idp access-demo --json stdout is not exactly one JSON value (${err.message}):\n${demoCli.stdout}`);
  }
  log(`idp access-demo → app ${demo.app_id} on ${demo.app_host}, user ${demo.email}`);
  await checkAccessLogin({ baseUrl, demo, check, log });

  // 5. Ctrl-C: SIGINT to the whole foreground group, as a terminal does. Everything must go.
  check(!exited, "npm run dev exited on its own");
  const before = processesOfThisRun();
  if (existsSync("/proc/self/environ")) {
    check(before.some((p) => /workerd/.test(p.cmd)), "no workerd process of this run found while it was running");
  }
  state.sawProcesses = before.length;
  signalGroup(state.devPgid, "SIGINT");
  const deadline = Date.now() + 20_000;
  while (groupAlive(state.devPgid) && Date.now() < deadline) await sleep(100);
  check(!groupAlive(state.devPgid), "npm run dev did not exit within 20 s of SIGINT");
  const left = processesOfThisRun();
  check(left.length === 0, `processes left after Ctrl-C:\n${left.map((p) => `  ${p.pid} ${p.cmd}`).join("\n")}`);
  log(`stopped with SIGINT; ${before.length} processes of this run before, none left`);
  state.devPgid = undefined;
}

async function cleanup(state) {
  if (state.devPgid && groupAlive(state.devPgid)) {
    signalGroup(state.devPgid, "SIGTERM");
    for (let i = 0; i < 100 && groupAlive(state.devPgid); i++) await sleep(100);
    signalGroup(state.devPgid, "SIGKILL");
  }
  for (const p of processesOfThisRun()) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  if (state.persistTo) rmSync(state.persistTo, { recursive: true, force: true });
}

const state = { devOutput: "", devPgid: undefined, persistTo: undefined };
let timer;
const timeout = new Promise((_, reject) => {
  timer = setTimeout(() => reject(new Failure(`timed out after ${TIMEOUT_MS / 1000} s`)), TIMEOUT_MS);
});
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    cleanup(state).finally(() => {
      console.log(`FAIL smoke-dev: interrupted by ${sig}`);
      process.exit(1);
    });
  });
}

try {
  await Promise.race([main(state), timeout]);
  clearTimeout(timer);
  await cleanup(state);
  console.log(`PASS smoke-dev: npm run dev → idp create --json → SCIM → access-demo → login, proxy, logout, deprovisioning → Ctrl-C, clean (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  process.exit(0);
} catch (err) {
  clearTimeout(timer);
  await cleanup(state);
  const tail = stripAnsi(state.devOutput).trim().split("\n").slice(-60).join("\n");
  if (tail) console.log(`--- npm run dev output (tail) ---\n${tail}\n---`);
  console.log(`FAIL smoke-dev: ${err instanceof Failure ? err.message : err.stack ?? err}`);
  process.exit(1);
}
