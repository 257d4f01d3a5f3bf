// Start and stop `wrangler dev` (and run other wrangler commands) from Node scripts.
//
// Shared by scripts/dev.mjs, scripts/smoke-dev.mjs, the benchmarks and the revocation probe.
// `wrangler dev` spawns workerd children; killing only the process we spawned leaves them
// running. So wrangler runs in its OWN process group (detached: true → setsid) and stop()
// signals the whole group. Works on Linux and macOS (POSIX process groups), not Windows.
//
// Only Node built-ins: these scripts must run before anything but `npm install` has happened,
// on the system Node (20) as well as on the project's Node 22 (node_modules/.bin/node).

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** Absolute path of the project root (the folder holding package.json and wrangler.toml). */
export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Environment for wrangler: project binaries (incl. Node 22) first on PATH, no network calls home. */
export function wranglerEnv(cwd = projectRoot, extra = {}) {
  const bin = path.join(cwd, "node_modules", ".bin");
  return {
    ...process.env,
    PATH: `${bin}${path.delimiter}${process.env.PATH ?? ""}`,
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    WRANGLER_SEND_METRICS: "false",
    ...extra,
  };
}

/** The project's own wrangler executable (never a global one). */
export function wranglerBin(cwd = projectRoot) {
  const bin = path.join(cwd, "node_modules", ".bin", "wrangler");
  if (!existsSync(bin)) {
    throw new Error(`${bin} not found: run \`npm install\` first.`);
  }
  return bin;
}

/** Removes ANSI colour/cursor escapes from wrangler's output. */
export function stripAnsi(text) {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001b\[[0-9;?]*[ -/]*[@-~]/g, "");
}

/** A free TCP port on `ip` (the OS picks it; there is a small race until wrangler binds it). */
export function freePort(ip = "127.0.0.1") {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen({ port: 0, host: ip }, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Resolves true when something already listens on ip:port (so wrangler would fail to bind). */
export function portInUse(port, ip = "127.0.0.1") {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once("error", (err) => resolve(err.code === "EADDRINUSE" || err.code === "EACCES"));
    server.listen({ port, host: ip, exclusive: true }, () => server.close(() => resolve(false)));
  });
}

/** The URL a local client should use for a listen address (0.0.0.0 / :: are not dialable names). */
export function localUrl(ip, port) {
  let host = ip;
  if (host === "0.0.0.0" || host === "*") host = "127.0.0.1";
  if (host === "::") host = "::1";
  if (host.includes(":")) host = `[${host}]`;
  return `http://${host}:${port}`;
}

/** True while any process of process group `pgid` is alive (POSIX kill(-pgid, 0)). */
export function groupAlive(pgid) {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return err.code === "EPERM";
  }
}

/** Sends `signal` to every process of group `pgid`; ignores a group that is already gone. */
export function signalGroup(pgid, signal) {
  try {
    process.kill(-pgid, signal);
  } catch (err) {
    if (err.code !== "ESRCH") throw err;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Stops process group `pgid`: `signal` first, SIGKILL after `graceMs`; resolves once the
 * group is empty (or rejects if even SIGKILL did not empty it within a few seconds).
 */
export async function stopGroup(pgid, { signal = "SIGTERM", graceMs = 8000 } = {}) {
  signalGroup(pgid, signal);
  const deadline = Date.now() + graceMs;
  while (groupAlive(pgid) && Date.now() < deadline) await sleep(50);
  if (!groupAlive(pgid)) return;
  signalGroup(pgid, "SIGKILL");
  const hardDeadline = Date.now() + 5000;
  while (groupAlive(pgid) && Date.now() < hardDeadline) await sleep(50);
  if (groupAlive(pgid)) throw new Error(`process group ${pgid} survived SIGKILL`);
}

/** Keeps the last `max` characters of a stream's output, for error messages. */
function tailBuffer(max = 16_000) {
  let text = "";
  return {
    push(chunk) {
      text = (text + chunk).slice(-max);
    },
    get text() {
      return text;
    },
  };
}

/**
 * Runs one short wrangler command (e.g. `d1 migrations apply DB --local`) to completion,
 * non-interactively (stdin closed, so prompts take their defaults). Resolves
 * `{ code, stdout, stderr }`; never rejects on a non-zero exit.
 */
export function runWrangler(args, { cwd = projectRoot, env = {}, echo = false } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(wranglerBin(cwd), args, {
      cwd,
      env: wranglerEnv(cwd, env),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
      if (echo) process.stdout.write(d);
    });
    child.stderr.on("data", (d) => {
      stderr += d;
      if (echo) process.stderr.write(d);
    });
    child.once("error", reject);
    child.once("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
}

/**
 * Applies the local D1 migrations (`wrangler d1 migrations apply DB --local`), non-interactively.
 * Throws with wrangler's output when it fails.
 */
export async function applyLocalMigrations({ cwd = projectRoot, persistTo, extraArgs = [], database = "DB" } = {}) {
  const args = ["d1", "migrations", "apply", database, "--local", ...extraArgs];
  if (persistTo) args.push("--persist-to", persistTo);
  const result = await runWrangler(args, { cwd });
  const out = stripAnsi(result.stdout + result.stderr);
  if (result.code !== 0) {
    throw new Error(`\`wrangler ${args.join(" ")}\` failed (exit ${result.code}):\n${out.trim()}`);
  }
  // wrangler redraws its status table after each migration: keep each ✅ name once.
  const applied = [...new Set([...out.matchAll(/^│\s*(\S+\.sql)\s*│\s*✅/gmu)].map((m) => m[1]))];
  return { applied, output: out };
}

/**
 * Starts `wrangler dev` in its own process group and waits until it answers `GET /healthz`.
 *
 * @param {object} [o]
 * @param {number} [o.port]        default: a free port
 * @param {string} [o.ip]          listen address, default 127.0.0.1
 * @param {string} [o.persistTo]   `--persist-to` dir for local D1 / Durable Object state
 * @param {Record<string,string>} [o.vars]  extra `--var KEY:VALUE` (plain vars, e.g. DEV_ROUTES)
 * @param {string} [o.envFile]     `--env-file` for secrets instead of `.dev.vars`
 * @param {string} [o.cwd]         project dir, default this repo
 * @param {string[]} [o.args]      further `wrangler dev` arguments
 * @param {Record<string,string>} [o.env]  extra environment variables for the process group
 * @param {"inherit"|"quiet"} [o.output]   echo wrangler's output (default) or only buffer it
 * @param {number} [o.timeoutMs]   readiness timeout, default 90 s
 * @param {string} [o.healthPath]  default /healthz
 * @param {AbortSignal} [o.signal] aborting it while starting stops the process group and rejects
 * @returns {Promise<{ baseUrl: string, pid: number, exited: Promise<{code:number|null, signal:string|null}>, output: () => string, stop: (signal?: string) => Promise<void> }>}
 */
export async function startWranglerDev(o = {}) {
  const cwd = o.cwd ?? projectRoot;
  const ip = o.ip ?? "127.0.0.1";
  const port = o.port ?? (await freePort(ip === "0.0.0.0" || ip === "::" ? undefined : ip));
  const timeoutMs = o.timeoutMs ?? 90_000;
  const healthPath = o.healthPath ?? "/healthz";
  const output = o.output ?? "inherit";

  if (await portInUse(port, ip)) {
    throw new Error(`port ${port} on ${ip} is already in use (another \`wrangler dev\`?); pass --port <free port>`);
  }

  const args = ["dev", "--port", String(port), "--ip", ip];
  if (o.persistTo) args.push("--persist-to", o.persistTo);
  if (o.envFile) args.push("--env-file", o.envFile);
  args.push(...(o.args ?? []));
  // Access needs the team host (PUBLIC_BASE_URL): app hosts send browsers there to log in. Locally
  // that is this server, unless the caller names one.
  const vars = { ...(o.vars ?? {}) };
  const publicBaseUrlGiven = (o.args ?? []).some((a) => /^(--var=)?PUBLIC_BASE_URL:/.test(a));
  if (!("PUBLIC_BASE_URL" in vars) && !publicBaseUrlGiven) {
    const host = ip === "0.0.0.0" || ip === "::" ? "127.0.0.1" : ip.includes(":") ? `[${ip}]` : ip;
    vars.PUBLIC_BASE_URL = `http://${host}:${port}`;
  }
  // Last: yargs array options are greedy, so `--var A:1 <positional>` would swallow the positional.
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);

  // With --env-file (and [secrets] in wrangler.toml) wrangler also reads process.env, and an
  // inherited variable beats the file and --var. Drop those names so the caller's values win.
  const env = wranglerEnv(cwd, o.env);
  if (o.envFile) {
    for (const key of [...Object.keys(readDotVars(path.resolve(cwd, o.envFile))), ...Object.keys(vars)]) {
      if (!(key in (o.env ?? {}))) delete env[key];
    }
  }
  const child = spawn(wranglerBin(cwd), args, {
    cwd,
    env,
    // stdin ignored: a background process group must not read the terminal (SIGTTIN),
    // and wrangler turns off its interactive hotkeys without a TTY.
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const pgid = child.pid;
  const log = tailBuffer();
  let stopping = false;
  const exited = new Promise((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    child.once("error", (err) => {
      log.push(`\n${err.stack ?? err}\n`);
      resolve({ code: null, signal: null, error: err });
    });
  });
  child.stdout.on("data", (d) => {
    log.push(d.toString());
    if (output === "inherit") process.stdout.write(d);
  });
  child.stderr.on("data", (d) => {
    log.push(d.toString());
    if (output === "inherit") process.stderr.write(d);
  });

  // Safety net: if this script exits without calling stop() (uncaught error, process.exit,
  // EPIPE on stdout…), still take the process group down. 'exit' handlers must be synchronous.
  const onExit = () => signalGroup(pgid, "SIGTERM");
  if (pgid) process.on("exit", onExit);

  let stopped;
  const stop = (signal = "SIGTERM") => {
    stopping = true;
    stopped ??= pgid
      ? stopGroup(pgid, { signal }).then(() => void process.off("exit", onExit))
      : Promise.resolve();
    return stopped;
  };
  if (o.signal?.aborted) stopping = true;
  o.signal?.addEventListener("abort", () => void stop().catch(() => {}), { once: true });

  // A build error leaves wrangler running (watching for a fix) but never ready: fail fast.
  const buildFailed = new Promise((resolve) => {
    const onData = () => {
      if (/✘ \[ERROR\]/.test(stripAnsi(log.text))) {
        child.stdout.off("data", onData);
        child.stderr.off("data", onData);
        setTimeout(resolve, 500, true); // let the rest of the message arrive
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
  });

  const baseUrl = localUrl(ip, port);
  try {
    await waitForHealth(`${baseUrl}${healthPath}`, { timeoutMs, exited, buildFailed, isStopping: () => stopping });
  } catch (err) {
    await stop().catch(() => {});
    if (output === "inherit") throw err; // its output is already on the terminal
    const tail = stripAnsi(log.text).trim().split("\n").slice(-40).join("\n");
    throw new Error(`${err.message}\n--- wrangler dev output (tail) ---\n${tail}`);
  }
  return { baseUrl, pid: pgid, exited, output: () => stripAnsi(log.text), stop };
}

/** Polls `url` until it answers 2xx; rejects on timeout, or when `exited` / `buildFailed` settle first. */
export async function waitForHealth(url, { timeoutMs = 90_000, exited, buildFailed, isStopping = () => false } = {}) {
  const deadline = Date.now() + timeoutMs;
  let exitInfo;
  let failedBuild = false;
  exited?.then((info) => {
    exitInfo = info;
  });
  buildFailed?.then((failed) => {
    failedBuild = failed;
  });
  let lastError = "no answer yet";
  while (Date.now() < deadline) {
    if (exitInfo) {
      throw new Error(`wrangler dev exited before it was ready (code ${exitInfo.code}, signal ${exitInfo.signal})`);
    }
    if (isStopping()) throw new Error("stopped before ready");
    if (failedBuild) throw new Error("wrangler dev reported an error before it was ready (see [ERROR] above)");
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.ok) return;
      lastError = `HTTP ${res.status}`;
    } catch (err) {
      lastError = err.cause?.code ?? err.message;
    }
    await sleep(250);
  }
  throw new Error(`wrangler dev did not answer ${url} within ${Math.round(timeoutMs / 1000)} s (last: ${lastError})`);
}

/** Parses a dotenv-style file (`.dev.vars`) into an object; {} when it does not exist. */
export function readDotVars(file) {
  if (!existsSync(file)) return {};
  const vars = {};
  for (const raw of readFileSync(file, "utf8").split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/.exec(raw);
    if (!m) continue;
    let value = m[2].trim();
    const quoted = /^(['"`])([\s\S]*)\1$/.exec(value);
    if (quoted) value = quoted[2];
    else value = value.replace(/\s+#.*$/, "");
    vars[m[1]] = value;
  }
  return vars;
}

/** 32 random bytes as 64 lowercase hex characters. */
export function randomHex(bytes = 32) {
  return randomBytes(bytes).toString("hex");
}
