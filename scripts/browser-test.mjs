#!/usr/bin/env node
// `npm run test:browser`: the dashboard's browser test (issue 10). playwright-core drives Debian's
// Chromium (`bash scripts/install-chromium.sh` installs it; Playwright's own browser downloads are not
// used) through test/browser/dashboard-scenario.mjs against a fresh `wrangler dev`:
//
//   fresh temp dir → D1 migrations applied into it → a local fake DoH upstream → wrangler dev in its own
//   process group (free port, DEV_ROUTES on, its own ADMIN_TOKEN / ACCESS_SECRETS_KEY in a temporary
//   --env-file, GATEWAY_UPSTREAM = the fake upstream) → Chromium (headless, fresh profile) → the five
//   steps → screenshots in test-artifacts/screenshots/*.png → everything stopped, even on failure.
//
// Prints one line per step and a final PASS/FAIL line; exits non-zero on failure (a screenshot of the
// page at the failure, FAILED-*.png, and the tail of wrangler's output are printed/saved).
// Env: CHROMIUM_PATH (default /usr/bin/chromium), BROWSER_TEST_TIMEOUT_MS (default 300000),
// BROWSER_TEST_ARTIFACTS (default test-artifacts), BROWSER_TEST_KEEP_STATE=1 keeps the temp dir.

import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { applyLocalMigrations, projectRoot, randomHex, startWranglerDev, stripAnsi } from "./lib/wrangler-dev.mjs";
import { Failure, startFakeUpstream, stepRunner } from "../test/browser/lib.mjs";
import { runScenario } from "../test/browser/dashboard-scenario.mjs";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const TIMEOUT_MS = Number(process.env.BROWSER_TEST_TIMEOUT_MS ?? 300_000);
const artifacts = path.resolve(projectRoot, process.env.BROWSER_TEST_ARTIFACTS ?? "test-artifacts");
const shotsDir = path.join(artifacts, "screenshots");
// Chromium in a closed network: no background fetches, no QUIC, no component updates (their
// connections are refused, and slow the start); no sandbox (CI runs as root in a container).
const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"];

const t0 = performance.now();
const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(1)} s`;
const log = (msg) => console.log(msg);

if (!existsSync(CHROMIUM)) {
  console.log(`FAIL test:browser: ${CHROMIUM} not found. Run \`bash scripts/install-chromium.sh\` (Debian's chromium) or set CHROMIUM_PATH.`);
  process.exit(1);
}
let chromium;
try {
  ({ chromium } = await import("playwright-core"));
} catch (err) {
  console.log(`FAIL test:browser: playwright-core is not installed (npm install): ${err.message}`);
  process.exit(1);
}

const cleanups = [];
let browser;
let lastPage;
let server;
const pageErrors = [];

async function cleanup() {
  for (const fn of cleanups.reverse()) await fn().catch((err) => console.log(`cleanup: ${err.message}`));
  cleanups.length = 0;
}
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.once(sig, () => {
    console.log(`\n${sig}: stopping`);
    void cleanup().finally(() => process.exit(130));
  });
}

const run = stepRunner({ log });
let timer;
try {
  rmSync(shotsDir, { recursive: true, force: true });
  mkdirSync(shotsDir, { recursive: true });

  const dir = mkdtempSync(path.join(tmpdir(), "zt-browser-"));
  cleanups.push(async () => {
    if (process.env.BROWSER_TEST_KEEP_STATE === "1") log(`state kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  });
  const persistTo = path.join(dir, "state");
  const envFile = path.join(dir, "browser.vars");
  const adminToken = randomHex(32);
  writeFileSync(envFile, `ADMIN_TOKEN=${adminToken}\nACCESS_SECRETS_KEY=${randomHex(32)}\n`, { mode: 0o600 });

  const upstream = await startFakeUpstream();
  cleanups.push(() => upstream.close());
  await applyLocalMigrations({ persistTo });
  server = await startWranglerDev({ persistTo, envFile, vars: { DEV_ROUTES: "true", GATEWAY_UPSTREAM: upstream.url }, output: "quiet", timeoutMs: 120_000 });
  cleanups.push(() => server.stop());
  log(`wrangler dev ready at ${server.baseUrl} (pgid ${server.pid}); fake DoH upstream ${upstream.url}  [${elapsed()}]`);

  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  cleanups.push(() => browser.close());
  log(`chromium ${browser.version()} (${CHROMIUM})  [${elapsed()}]`);

  const timedOut = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Failure(`the scenario took longer than ${TIMEOUT_MS / 1000} s (BROWSER_TEST_TIMEOUT_MS)`)), TIMEOUT_MS);
  });
  const newContext = async (options = {}) => {
    // A fresh context per person: its own cookie jar, like a separate browser profile.
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, ...options });
    ctx.setDefaultTimeout(20_000);
    ctx.on("page", (page) => {
      lastPage = page;
      page.on("pageerror", (err) => pageErrors.push(`${page.url()}: ${err.message}`));
    });
    return ctx;
  };
  const shots = [];
  const shot = async (page, name) => {
    const file = path.join(shotsDir, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    shots.push(file);
  };
  await Promise.race([runScenario({ baseUrl: server.baseUrl, adminToken, upstream, run: run.run, shot, newContext, log }), timedOut]);
  if (pageErrors.length > 0) throw new Failure(`JavaScript errors on the dashboard's pages:\n  ${pageErrors.join("\n  ")}`);
  clearTimeout(timer);
  await cleanup();
  log(`\nscreenshots (${shots.length}) in ${path.relative(process.cwd(), shotsDir) || shotsDir}/:\n  ${readdirSync(shotsDir).sort().join("\n  ")}`);
  log(`PASS test:browser: ${run.steps.length} steps in ${elapsed()}`);
  process.exit(0);
} catch (err) {
  clearTimeout(timer);
  run.failed ??= run.current;
  if (lastPage && !lastPage.isClosed()) {
    const file = path.join(shotsDir, `FAILED-${(run.failed ?? "start").replace(/[^a-z0-9]+/gi, "-").slice(0, 60)}.png`);
    await lastPage.screenshot({ path: file, fullPage: true }).then(
      () => log(`screenshot of the page at the failure (${lastPage.url()}): ${file}`),
      () => {},
    );
  }
  const tail = server ? stripAnsi(server.output()).trim().split("\n").slice(-40).join("\n") : "";
  if (tail) log(`--- wrangler dev output (tail) ---\n${tail}\n---`);
  await cleanup();
  log(`FAIL test:browser${run.failed ? ` at "${run.failed}"` : ""} after ${elapsed()}: ${err instanceof Failure ? err.message : (err.stack ?? err)}`);
  process.exit(1);
}
