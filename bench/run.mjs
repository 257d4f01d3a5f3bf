// `npm run bench [-- scim|sessions|throughput|paging|access|gateway|admin …]`: runs the benchmarks (default: all, in that
// order), each on its own throw-away `wrangler dev`, and prints a summary. A figure that misses
// its target is reported, not fatal; the run exits non-zero when a bench could not run or FAILED a
// correctness gate (a preflight, any 5xx, a lost update, a revocation probe FAIL).
//
// Figures are ratios against a floor measured in the same run through the same Worker; absolute
// medians and p95s are printed too. Results: bench/.results/<name>.json (gitignored).
// Environment knobs: see the header of each bench file (BENCH_N, BENCH_SESSIONS_N, BENCH_WARMUP, …).

import { performance } from "node:perf_hooks";
import { runScim } from "./scim.mjs";
import { runSessions } from "./sessions.mjs";
import { runThroughput } from "./throughput.mjs";
import { runPaging } from "./paging.mjs";
import { runAccess } from "./access.mjs";
import { runGateway } from "./gateway.mjs";
import { runAdmin } from "./admin.mjs";

const BENCHES = { scim: runScim, sessions: runSessions, throughput: runThroughput, paging: runPaging, access: runAccess, gateway: runGateway, admin: runAdmin };

const requested = process.argv.slice(2).filter((a) => a !== "--");
const unknown = requested.filter((a) => !(a in BENCHES));
if (unknown.length || requested.includes("-h") || requested.includes("--help")) {
  if (unknown.length) console.error(`bench: unknown benchmark(s): ${unknown.join(", ")}`);
  console.error(`usage: npm run bench [-- ${Object.keys(BENCHES).join(" | ")} …]`);
  process.exit(unknown.length ? 2 : 0);
}
const names = requested.length ? requested : Object.keys(BENCHES);

const started = performance.now();
const summary = [];
let failed = false;
for (const name of names) {
  console.log(`\n=== bench: ${name} ===`);
  try {
    summary.push(...summarise(name, await BENCHES[name]()));
  } catch (err) {
    failed = true;
    console.error(`bench ${name} failed: ${err.stack ?? err}`);
    // A gate failure still carries its figures (e.g. throughput with 5xx answers): print them too.
    if (err.results) summary.push(...summarise(name, err.results));
    summary.push([name, "(error)", String(err.message ?? err).slice(0, 160), "", "ERROR"]);
  }
}

console.log(`\n=== summary (${Math.round((performance.now() - started) / 1000)} s) ===`);
const widths = [0, 1, 2, 3, 4].map((i) => Math.max(...[["bench", "figure", "value", "target", "result"], ...summary].map((r) => String(r[i]).length)));
for (const row of [["bench", "figure", "value", "target", "result"], ...summary]) console.log(row.map((c, i) => String(c).padEnd(widths[i])).join("  ").trimEnd());
const misses = summary.filter((r) => r[4] === "MISS").length;
if (summary.some((r) => r[4] === "FAIL")) failed = true;
console.log(misses ? `\n${misses} figure(s) missed their target (reported, not fatal).` : "\nAll figures with a target met it.");
process.exit(failed ? 1 : 0);

/** One line per figure that has a target. */
function summarise(name, r) {
  const x = (v) => `${v.toFixed(2)}×`;
  if (name === "access") {
    const sq = r.sequential;
    const cc = r.concurrent;
    return [
      ["access", "proxied (valid session) vs bypass app, sequential", `${x(sq.proxied_vs_bypass)} (${sq.stats.proxied.median.toFixed(2)} vs ${sq.stats.bypass.median.toFixed(2)} ms)`, `≤ ${sq.target}× floor`, sq.verdict],
      ["access", `proxied vs bypass app, ${cc.concurrency} concurrent`, `${x(cc.proxied_vs_bypass_latency)} (${cc.cases.proxied.latency.median.toFixed(2)} vs ${cc.cases.bypass.latency.median.toFixed(2)} ms; ${cc.cases.proxied.rps.toFixed(0)} vs ${cc.cases.bypass.rps.toFixed(0)} req/s)`, `≤ ${cc.target}× floor`, cc.verdict],
      ["access", "JWT verification alone vs bypass app", `${x(sq.jwt_vs_bypass)} (${sq.stats.jwt.median.toFixed(2)} ms)`, "-", "info"],
    ];
  }
  if (name === "gateway") {
    const sq = r.sequential;
    const cc = r.concurrent;
    const rl = r.rules;
    const st = (k) => sq.stats[k].median.toFixed(2);
    const ct = (k) => cc.cases[k].latency.median.toFixed(2);
    const v = (x, t) => (x <= t ? "PASS" : "MISS");
    const fives = r.tally["5xx"] + r.tally.network;
    return [
      ["gateway", "DoH device+policy vs bare forward, cache miss, sequential", `${x(sq.miss_ratio)} (${st("policy_miss")} vs ${st("floor_miss")} ms)`, `≤ ${sq.target}× floor`, v(sq.miss_ratio, sq.target)],
      ["gateway", "DoH device+policy vs bare forward, cache hit, sequential", `${x(sq.hit_ratio)} (${st("policy_hit")} vs ${st("floor_hit")} ms)`, `≤ ${sq.target}× floor`, v(sq.hit_ratio, sq.target)],
      ["gateway", `DoH policy vs floor, miss, ${cc.concurrency} concurrent`, `${x(cc.miss_ratio)} (${ct("policy_miss")} vs ${ct("floor_miss")} ms)`, `≤ ${cc.target}× floor`, v(cc.miss_ratio, cc.target)],
      ["gateway", `DoH policy vs floor, hit, ${cc.concurrency} concurrent`, `${x(cc.hit_ratio)} (${ct("policy_hit")} vs ${ct("floor_hit")} ms)`, `≤ ${cc.target}× floor`, v(cc.hit_ratio, cc.target)],
      ["gateway", `DoH query latency, ${r.config.totalRules} vs 10 rules (worst of resolved/blocked)`, x(rl.e2e_growth), `≤ ${rl.target}×`, rl.e2e_verdict],
      ["gateway", `matchRule alone, ${r.config.totalRules} vs 10 rules (worst case)`, `${x(rl.match_growth)} (${rl.match_allowed.big_us.toFixed(2)} vs ${rl.match_allowed.small_us.toFixed(2)} µs, no match)`, `≤ ${rl.target}×`, rl.match_verdict],
      ["gateway", "5xx / network answers; gates", `${fives}; ${r.gates.length ? r.gates.join("; ") : "all passed"}`, "0", fives || r.gates.length ? "FAIL" : "PASS"],
    ];
  }
  if (name === "admin") {
    const rows = Object.values(r.cases).map((c) => ["admin", c.label, `${x(c.ratio)} (${c.stats.median.toFixed(2)} vs ${c.floor.median.toFixed(2)} ms)`, c.target === null ? "-" : `≤ ${c.target}× SCIM list floor`, c.verdict]);
    rows.push(["admin", "5xx answers; self-checks", `${r.tally["5xx"]}; ${r.gates.length ? r.gates.join("; ") : "all passed"}`, "0", r.tally["5xx"] || r.gates.length ? "FAIL" : "PASS"]);
    return rows;
  }
  if (name === "paging") return Object.values(r.cases).filter((c) => c.target !== null).map((c) => ["paging", c.label, `${x(c.ratio)} (${c.stats.median.toFixed(2)} vs ${c.floor.median.toFixed(2)} ms)`, `≤ ${c.target}× floor`, c.verdict]);
  if (name === "throughput") {
    const rows = Object.values(r.cases).map((c) => ["throughput", `${c.label} vs ${c.floor}`, `${x(c.ratio)} (${c.case_rps.toFixed(1)} vs ${c.floor_rps.toFixed(1)} req/s)`, `≥ ${c.target}× floor`, c.verdict]);
    const ct = r.contention;
    if (ct) rows.push(["throughput", `${ct.n} concurrent member PATCHes on one group`, `${x(ct.ratio)} (${ct.patch_rps.toFixed(1)} vs ${ct.floor_rps.toFixed(1)} req/s); lost ${ct.lost}`, `≥ ${ct.target}× floor`, ct.lost ? "FAIL" : ct.verdict]);
    const bs = r.big_vs_small;
    if (bs) rows.push(["throughput", "member PATCH 2,000- vs 10-member group (c=8)", `${x(bs.ratio)} (${bs.big.latency.median.toFixed(1)} vs ${bs.small.latency.median.toFixed(1)} ms)`, `≤ ${bs.target}×`, bs.verdict]);
    const fives = Object.values(r.tallies ?? {}).reduce((n, t) => n + t["5xx"] + t.network, 0);
    rows.push(["throughput", "5xx / network answers", String(fives), "0", fives ? "FAIL" : "PASS"]);
    return rows;
  }
  if (name === "scim") {
    return Object.values(r.cases)
      .filter((c) => c.target !== null)
      .map((c) =>
        c.ratio_vs_small !== undefined
          ? ["scim", c.label, `${x(c.ratio_vs_small)} (${c.stats.median.toFixed(2)} ms)`, `≤ ${c.target}× 10-member PATCH`, c.verdict]
          : ["scim", c.label, `${x(c.ratio)} (${c.stats.median.toFixed(2)} vs ${c.floor.median.toFixed(2)} ms)`, `≤ ${c.target}× floor`, c.verdict],
      );
  }
  const d = r.deactivation;
  const rows = [
    ["sessions", "do-check / do-noop", `${x(r.rpc.ratio)} (${r.rpc.check.median.toFixed(2)} vs ${r.rpc.noop.median.toFixed(2)} ms)`, `≤ ${r.rpc.target}×`, r.rpc.verdict],
    [
      "sessions",
      "deactivation: deprovision on − off",
      `${d.on_minus_off_ms.toFixed(2)} ms = ${d.extra_round_trips.toFixed(2)} DO RT (95% CI ${d.on_minus_off_ci95_ms.map((v) => v.toFixed(2)).join("…")} ms)`,
      "≤ 1 DO round trip",
      d.verdict.startsWith("PASS") ? "PASS" : d.verdict,
    ],
  ];
  rows.push(
    r.probe.skipped
      ? ["sessions", `revocation probe (${r.config.probeSessions} sessions)`, r.probe.skipped, "late_successes = 0", "SKIPPED"]
      : ["sessions", `revocation probe (${r.probe.sessions} sessions): late successes / 5xx / unexplained`, `${r.probe.late_successes} / ${r.probe.server_errors} / ${r.probe.unexplained}`, "0 / 0 / 0", r.probe.verdict],
  );
  return rows;
}
