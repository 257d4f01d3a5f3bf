// Sessions benchmark: the price of instant revocation, kept visible (docs/architecture.md, "The per-user
// session authority").
//
//   1. session check RPC (`/__dev/bench/do-check`) vs a no-op RPC on the same user's
//      UserSessions object (`/__dev/bench/do-noop`), interleaved: target ≤ 1.5×;
//   2. SCIM deactivation (Okta's path-less `replace {active:false}`) on a connection with
//      `user_deprovision: true` vs one with `false`, a real login (development IdP) before each
//      sample and a proxied request after it (refused with deprovisioning on, 200 with it off), the
//      user reactivated after it: target "on − off ≤ 1 extra DO round trip" (the do-noop median);
//   3. the revocation probe at 300 sessions, each a real login (scripts/probe-revocation.mjs): it must PASS (no late
//      success, no 5xx, no unexplained answer, every session valid before); a FAIL fails the bench.
//
//   npm run bench -- sessions        (or: node bench/sessions.mjs)
//   env: BENCH_SESSIONS_N (rounds, default 500 for the RPCs; deactivation uses a third of it,
//        at least 100), BENCH_WARMUP (default 30), BENCH_PROBE_SESSIONS (default 300)

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { signalGroup, stopGroup } from "../scripts/lib/wrangler-dev.mjs";
import { jwtPayload } from "../scripts/lib/access-client.mjs";
import {
  accessApp,
  adminClient,
  createConnection,
  interleave,
  logger,
  machine,
  medianDiffCI,
  ms,
  onInterrupt,
  PATCH_OP,
  printTable,
  projectRoot,
  ratio,
  roundStats,
  scimClient,
  startServer,
  stats,
  USER_SCHEMA,
  writeResults, round3 } from "./lib.mjs";
import { printRouteCosts, routeCosts, routeOf } from "./traces.mjs";

const CHECK_TARGET = 1.5;
const PROBE = path.join(projectRoot, "scripts", "probe-revocation.mjs");
const PROBE_TIMEOUT_MS = 300_000;

/** Runs the sessions bench; resolves its results object (also written to bench/.results/sessions.json). */
export async function runSessions({
  rounds = Number(process.env.BENCH_SESSIONS_N ?? 500),
  warmup = Number(process.env.BENCH_WARMUP ?? 30),
  probeSessions = Number(process.env.BENCH_PROBE_SESSIONS ?? 300),
} = {}) {
  const log = logger("sessions");
  const started = performance.now();
  const server = await startServer({ label: "bench-sessions", log });
  const apps = [];
  try {
    const admin = adminClient(server);
    // Development-IdP connections, so sessions come from real logins (issue 8: no dev session routes).
    const on = await createConnection(admin, { name: "bench-deprovision-on", type: "oidc", userDeprovision: true });
    const off = await createConnection(admin, { name: "bench-deprovision-off", type: "oidc", userDeprovision: false });
    const appOn = await accessApp(server, on, { label: "bench-on" });
    const appOff = await accessApp(server, off, { label: "bench-off" });
    apps.push(appOn, appOff);
    const scimOn = scimClient(on);
    const scimOff = scimClient(off);
    const newUser = async (scim, name) => {
      const id = (await scim("POST", "/Users", { schemas: [USER_SCHEMA], userName: `${name}@bench.example`, name: { givenName: "Bench", familyName: name }, emails: [{ value: `${name}@bench.example`, primary: true }], active: true }, 201)).json().id;
      userNames.set(id, `${name}@bench.example`);
      return id;
    };
    const userNames = new Map(); // user id → userName, to log in as
    const appFor = (scim) => (scim === scimOn ? appOn : appOff);
    /** A real login (untimed): resolves the app token; its `sid` claim is the app session in the user's object. */
    const login = async (scim, userId) => {
      const { token, claims } = await appFor(scim).login(userNames.get(userId));
      if (claims.sub !== userId) throw new Error(`login as ${userNames.get(userId)} gave a token for ${claims.sub}`);
      return token;
    };

    const results = { machine: machine(), config: { rounds, warmup, probeSessions } };
    const rows = [];

    // ---- 1. check vs no-op on the same user's object.
    const userId = await newUser(scimOn, "bench-check");
    const token = await login(scimOn, userId);
    const sid = jwtPayload(token).sid;
    const valid = await appOn.proxied(token);
    if (valid.status !== 200 || valid.email !== userNames.get(userId)) throw new Error(`a fresh session does not proxy 200: ${valid.status} ${valid.text.slice(0, 200)}`);
    const u = encodeURIComponent(userId);
    const rpc = await interleave(
      [
        { name: "floor", run: () => admin("GET", `/__dev/bench/floor?id=${u}`, undefined, 200) },
        { name: "noop", run: () => admin("GET", `/__dev/bench/do-noop?user_id=${u}`, undefined, 200) },
        {
          name: "check",
          run: async () => {
            const r = await admin("GET", `/__dev/bench/do-check?user_id=${u}&session_id=${encodeURIComponent(sid)}`, undefined, 200);
            if (r.json().status !== "valid") throw new Error(`do-check answered ${r.text}`);
            return r;
          },
        },
      ],
      { rounds, warmup },
    );
    const floor = stats(rpc.samples.floor);
    const noop = stats(rpc.samples.noop);
    const chk = stats(rpc.samples.check);
    const checkRatio = chk.median / noop.median;
    const checkVerdict = checkRatio <= CHECK_TARGET ? "PASS" : "MISS";
    results.rpc = { floor: roundStats(floor), noop: roundStats(noop), check: roundStats(chk), ratio: round3(checkRatio), target: CHECK_TARGET, verdict: checkVerdict, rounds: rpc.rounds };
    rows.push(["D1 floor (GET /__dev/bench/floor)", ms(floor.median), ms(floor.p95), "-", "", ""]);
    rows.push(["DO no-op RPC (do-noop) = 1 DO round trip", ms(noop.median), ms(noop.p95), "1.00×", "", ""]);
    rows.push(["DO session check RPC (do-check)", ms(chk.median), ms(chk.p95), ratio(checkRatio), `≤ ${CHECK_TARGET}× do-noop`, checkVerdict]);
    log(`do-check ${ms(chk.median)} ms vs do-noop ${ms(noop.median)} ms → ${ratio(checkRatio)} ${checkVerdict}`);

    // ---- 2. deactivation latency, user_deprovision on vs off.
    const deRounds = Math.max(100, Math.round(rounds / 3));
    const userOn = await newUser(scimOn, "bench-deprov-on");
    const userOff = await newUser(scimOff, "bench-deprov-off");
    const activeBody = (active) => ({ schemas: [PATCH_OP], Operations: [{ op: "replace", value: { active } }] });
    const problems = [];
    const deactivation = (scim, id, prefix, expectRevoked) => async (i) => {
      const s = await login(scim, id); // untimed: the session the deactivation must (or must not) end
      const down = await scim("PATCH", `/Users/${id}`, activeBody(false), 200);
      if (down.json().active !== false) throw new Error(`${prefix}: PATCH active=false answered ${down.text.slice(0, 200)}`);
      // Revoked: the proxy sends the browser back to login (302); not revoked: the origin answers (200).
      const after = await appFor(scim).proxied(s);
      const refused = after.status === 302 && /\/cdn-cgi\/access\/login\//.test(after.location ?? "");
      if ((expectRevoked ? !refused : after.status !== 200) && problems.length < 5) problems.push(`${prefix} round ${i}: proxied request after deactivation → ${after.status} ${after.location ?? after.text.slice(0, 120)}`);
      const up = await scim("PATCH", `/Users/${id}`, activeBody(true), 200);
      return { [`${prefix}_deactivate`]: down.ms, [`${prefix}_reactivate`]: up.ms };
    };
    // A PATCH that changes only displayName: the same read → compute → guarded write, no Durable Object call.
    const plain = (scim, id, prefix) => (i) => scim("PATCH", `/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "displayName", value: `Bench ${prefix} ${i}` }] }, 200);
    const de = await interleave(
      [
        { name: "noop", run: () => admin("GET", `/__dev/bench/do-noop?user_id=${u}`, undefined, 200) },
        { name: "on", run: deactivation(scimOn, userOn, "on", true) },
        { name: "plain_on", run: plain(scimOn, userOn, "on") },
        { name: "off", run: deactivation(scimOff, userOff, "off", false) },
        { name: "plain_off", run: plain(scimOff, userOff, "off") },
      ],
      { rounds: deRounds, warmup: Math.min(warmup, 20), maxMs: 240_000 },
    );
    if (problems.length) throw new Error(`deactivation did not behave as configured:\n  ${problems.join("\n  ")}`);
    const s = Object.fromEntries(["noop", "on_deactivate", "off_deactivate", "on_reactivate", "off_reactivate", "plain_on", "plain_off"].map((k) => [k, stats(de.samples[k])]));
    const diff = s.on_deactivate.median - s.off_deactivate.median;
    const [lo, hi] = medianDiffCI(de.samples.on_deactivate, de.samples.off_deactivate);
    const rt = s.noop.median;
    const deVerdict = diff <= rt ? "PASS" : lo <= rt ? "PASS (within noise)" : "MISS";
    results.deactivation = {
      rounds: de.rounds,
      truncated: de.truncated,
      stats: Object.fromEntries(Object.entries(s).map(([k, v]) => [k, roundStats(v)])),
      on_minus_off_ms: round3(diff),
      on_minus_off_ci95_ms: [round3(lo), round3(hi)],
      do_round_trip_ms: round3(rt),
      extra_round_trips: round3(diff / rt),
      on_minus_plain_ms: round3(s.on_deactivate.median - s.plain_on.median),
      off_minus_plain_ms: round3(s.off_deactivate.median - s.plain_off.median),
      target: "on − off ≤ 1 DO round trip (do-noop median)",
      verdict: deVerdict,
    };
    rows.push(["DO no-op RPC (interleaved with deactivations)", ms(rt), ms(s.noop.p95), "1.00×", "", ""]);
    rows.push(["PATCH displayName (no DO call), deprovision on", ms(s.plain_on.median), ms(s.plain_on.p95), ratio(s.plain_on.median / rt), "", ""]);
    rows.push(["PATCH displayName (no DO call), deprovision off", ms(s.plain_off.median), ms(s.plain_off.p95), ratio(s.plain_off.median / rt), "", ""]);
    rows.push(["PATCH active=false, user_deprovision: true", ms(s.on_deactivate.median), ms(s.on_deactivate.p95), ratio(s.on_deactivate.median / rt), "", ""]);
    rows.push(["PATCH active=false, user_deprovision: false", ms(s.off_deactivate.median), ms(s.off_deactivate.p95), ratio(s.off_deactivate.median / rt), "", ""]);
    rows.push(["PATCH active=true (reactivate), deprovision on", ms(s.on_reactivate.median), ms(s.on_reactivate.p95), ratio(s.on_reactivate.median / rt), "", ""]);
    rows.push(["PATCH active=true (reactivate), deprovision off", ms(s.off_reactivate.median), ms(s.off_reactivate.p95), ratio(s.off_reactivate.median / rt), "", ""]);
    rows.push([
      "deactivation on − off (median difference)",
      ms(diff),
      `[${ms(lo)}, ${ms(hi)}]`,
      `${(diff / rt).toFixed(2)} RT`,
      "≤ 1 DO round trip",
      deVerdict,
    ]);
    log(`deactivation: on ${ms(s.on_deactivate.median)} ms, off ${ms(s.off_deactivate.median)} ms, diff ${ms(diff)} ms (95% CI ${ms(lo)}…${ms(hi)}) vs DO round trip ${ms(rt)} ms → ${deVerdict}`);

    // ---- 3. revocation probe.
    results.probe = await runProbe(server, probeSessions, log);
    if (results.probe.skipped) rows.push([`revocation probe (${probeSessions} sessions)`, "-", "-", "-", "late_successes = 0", `skipped: ${results.probe.skipped}`]);
    else {
      const p = results.probe;
      rows.push([`revocation probe: SCIM deactivation with ${p.sessions} sessions`, ms(p.deactivation_ms), "-", ratio(p.deactivation_ms / rt), "", ""]);
      rows.push([`revocation probe: first refusal after sending`, ms(p.first_refusal_ms ?? NaN), "-", "", "", ""]);
      rows.push([`revocation probe: checks in flight during the SCIM request`, String(p.checks_during_deactivation), "-", "", "", ""]);
      rows.push([`revocation probe: 5xx / unexplained answers`, `${p.server_errors} / ${p.unexplained}`, "-", "", "0 / 0", p.server_errors || p.unexplained ? "FAIL" : "PASS"]);
      rows.push([`revocation probe: late successes (${p.checks_after_response} checks after the 2xx)`, String(p.late_successes), "-", "", "0", p.verdict]);
    }

    results.traces = await routeCosts(server.persistTo, routeOf);
    results.totalMs = Math.round(performance.now() - started);
    console.log(`\nSessions benchmark — sequential keep-alive; RPC cases ${rpc.rounds} rounds, deactivation ${de.rounds} rounds (+warm-up), interleaved`);
    console.log(`one DO round trip = do-noop median ${ms(noop.median)} ms (RPC section), ${ms(rt)} ms (deactivation section)\n`);
    printTable(["case", "median ms", "p95 ms (or 95% CI)", "ratio to do-noop", "target", "result"], rows);
    printRouteCosts(results.traces);
    console.log(`\ntotal ${Math.round(results.totalMs / 1000)} s`);
    const file = writeResults("sessions", results);
    console.log(`results: ${file}`);
    return results;
  } finally {
    for (const a of apps) await a.close();
    await server.stop();
    log("wrangler dev stopped");
  }
}


/** Runs scripts/probe-revocation.mjs against this bench's server (own process group, bounded in time). */
async function runProbe(server, sessions, log) {
  if (!existsSync(PROBE)) {
    log(`revocation probe skipped: ${path.relative(projectRoot, PROBE)} does not exist yet`);
    return { skipped: "scripts/probe-revocation.mjs not found" };
  }
  log(`revocation probe: ${sessions} sessions…`);
  const t0 = performance.now();
  const child = spawn(process.execPath, [PROBE, "--base-url", server.baseUrl, "--sessions", String(sessions), "--json"], {
    cwd: projectRoot,
    env: { ...process.env, ZT_ADMIN_TOKEN: server.token },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise((resolve) => {
    child.once("close", (code, signal) => resolve({ code, signal }));
    child.once("error", (err) => resolve({ code: null, signal: null, error: err }));
  });
  // Its own process group: stopped on timeout, on Ctrl-C, and if this process exits first.
  const kill = () => child.pid && signalGroup(child.pid, "SIGTERM");
  const untrack = onInterrupt(async () => kill());
  process.on("exit", kill);
  const timer = setTimeout(kill, PROBE_TIMEOUT_MS);
  const { code, signal, error } = await exited;
  clearTimeout(timer);
  if (child.pid) await stopGroup(child.pid, { graceMs: 2000 }).catch(() => {});
  untrack();
  process.off("exit", kill);
  if (error) throw new Error(`revocation probe could not start: ${error.message}`);
  const line = stdout.trim().split("\n").reverse().find((l) => l.trim().startsWith("{"));
  if (!line) throw new Error(`revocation probe printed no JSON (exit ${code ?? signal}):\n${(stderr || stdout).trim().slice(-2000)}`);
  const out = JSON.parse(line);
  out.exit_code = code;
  out.wall_ms = Math.round(performance.now() - t0);
  // The probe gates itself (scripts/lib/probe-verdict.mjs): late successes, 5xx, unexplained answers,
  // sessions not valid before the deactivation. Any of them fails this bench, not just a MISS.
  out.verdict = code === 0 && out.verdict === "PASS" ? "PASS" : "FAIL";
  log(`revocation probe: deactivation ${out.deactivation_ms} ms, first refusal ${out.first_refusal_ms} ms, late successes ${out.late_successes}, 5xx ${out.server_errors}, unexplained ${out.unexplained} → ${out.verdict}${out.failures?.length ? ` (${out.failures.join("; ")})` : ""}`);
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  runSessions().then(
    () => process.exit(0),
    (err) => {
      console.error(`bench sessions: ${err.stack ?? err}`);
      process.exit(1);
    },
  );
}
